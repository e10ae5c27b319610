"""The platform as users run it: real processes started by the runner, calls through the gateway."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from common.testing.databases import postgres_admin_url
from common.testing.plugin import running_app
from indicators.__main__ import rebuild
from indicators.main import create_app as create_indicators_app
from indicators.settings import IndicatorsSettings

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("training", "evaluation", "finance", "awards", "indicators")
CERTIFICATE = {
    "number": "S000133000001253000001",
    "level": "senior",
    "occupation_code": "6-04-02-05",
    "occupation_name": "焊工",
    "holder_id_number": "11010519491231002X",
    "holder_name": "张三",
    "issued_on": "2025-07-01",
    "employer_uscc": "91110000600037341L",
    "mode": "social_evaluation",
    "town": "changguo",
}


def free_port_block(size: int) -> int:
    """A base port with `size` free ports above it."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + size >= 65000:
            continue
        try:
            for offset in range(size):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise RuntimeError("no free port block")


@dataclass
class Platform:
    gateway: str
    process: subprocess.Popen[str]
    var: Path
    database_urls: dict[str, str]

    def token(self, kind: str, subject: str, **extra: str) -> dict[str, str]:
        response = httpx.post(
            f"{self.gateway}/auth/dev/token",
            json={"kind": kind, "subject": subject, **extra},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def indicators(self, **params: object) -> dict[str, object]:
        response = httpx.get(
            f"{self.gateway}/api/indicators/v1/indicators", params=params, timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()


def values(report: dict[str, object]) -> dict[str, object]:
    return {i["code"]: i["value"] for i in report["indicators"]}  # type: ignore[index, union-attr]


async def _drop_databases(admin_url: str, prefix: str) -> None:
    dsn = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        for name in (*SERVICES, "eventlog"):
            await conn.execute(f'DROP DATABASE IF EXISTS "{prefix}_{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    var = tmp_path_factory.mktemp("platform-var")
    base = free_port_block(7)
    admin = postgres_admin_url()
    prefix = f"e2e_{uuid.uuid4().hex[:8]}"
    command = [
        sys.executable,
        "tools/run_platform.py",
        "--var",
        str(var),
        "--port",
        str(base),
        "--service-port-base",
        str(base + 1),
        "--no-demo",
    ]
    if admin:
        command += ["--postgres", admin, "--database-prefix", prefix]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DINGHAI_", "GATEWAY_"))}
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 120
    output = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if "Press Ctrl-C" in line:
            break
    if not output or "Press Ctrl-C" not in output[-1]:
        process.kill()
        logs = "".join(p.read_text()[-3000:] for p in (var / "logs").glob("*.log"))
        pytest.fail("platform did not start:\n" + "".join(output) + logs)
    if admin:
        base_url = make_url(admin).set(drivername="postgresql+asyncpg")
        urls = {
            n: base_url.set(database=f"{prefix}_{n}").render_as_string(hide_password=False)
            for n in (*SERVICES, "eventlog")
        }
    else:
        urls = {n: f"sqlite+aiosqlite:///{var / f'{n}.db'}" for n in (*SERVICES, "eventlog")}
    running = Platform(
        gateway=f"http://127.0.0.1:{base}", process=process, var=var, database_urls=urls
    )
    # Certificates are issued by registered evaluation bodies: a district official registers S0001.
    registered = httpx.post(
        f"{running.gateway}/api/evaluation/v1/bodies",
        json={"code": "S0001", "type": "S", "name": "评价机构S0001"},
        headers=running.token("official", "admin-1", role="district_admin"),
        timeout=10,
    )
    if registered.status_code != 201:
        process.kill()
        pytest.fail(f"could not register the evaluation body: {registered.text}")
    yield running
    if process.poll() is None:
        process.kill()
        process.wait()
    if admin:
        import asyncio

        asyncio.run(_drop_databases(admin, prefix))


def test_every_service_is_ready_through_the_gateway(platform: Platform) -> None:
    assert httpx.get(f"{platform.gateway}/readyz", timeout=5).status_code == 200
    for service in SERVICES:
        response = httpx.get(f"{platform.gateway}/api/{service}/readyz", timeout=5)
        assert response.status_code == 200, (service, response.text)
    merged = httpx.get(f"{platform.gateway}/openapi.json", timeout=10).json()
    assert "/api/evaluation/v1/certificates" in merged["paths"]
    assert "/api/indicators/v1/indicators" in merged["paths"]


def test_certificate_reaches_the_indicators_within_two_seconds(platform: Platform) -> None:
    assert values(platform.indicators(year=2025))["skilled_talents"] == 0
    headers = platform.token("evaluation_body", "S0001")
    posted = httpx.post(
        f"{platform.gateway}/api/evaluation/v1/certificates",
        json=CERTIFICATE,
        headers=headers,
        timeout=10,
    )
    assert posted.status_code == 201, posted.text
    started = time.monotonic()
    while time.monotonic() - started < 2.0:
        current = values(platform.indicators(year=2025))
        if current["skilled_talents"] == 1:
            break
        time.sleep(0.05)
    assert current["skilled_talents"] == 1
    assert current["high_skilled_talents"] == 1
    report = platform.indicators(year=2025)
    assert report["lag_events"] == 0


def test_bad_input_through_the_gateway_changes_nothing(platform: Platform) -> None:
    before = platform.indicators(year=2025)
    headers = platform.token("evaluation_body", "S0001")
    bad = dict(CERTIFICATE, number="S000133000001253000002", holder_id_number="110105194912310021")
    response = httpx.post(
        f"{platform.gateway}/api/evaluation/v1/certificates", json=bad, headers=headers, timeout=10
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "holder_id_number"
    assert "110105194912310021" not in response.text
    citizen = platform.token("citizen", "11010519491231002X")
    forbidden = httpx.post(
        f"{platform.gateway}/api/evaluation/v1/certificates",
        json=CERTIFICATE,
        headers=citizen,
        timeout=10,
    )
    assert forbidden.status_code == 403
    time.sleep(0.6)  # longer than the relay and consumer poll interval
    after = platform.indicators(year=2025)
    assert values(after) == values(before) and after["lag_events"] == 0


def test_no_personal_data_in_logs(platform: Platform) -> None:
    for log in (platform.var / "logs").glob("*.log"):
        text = log.read_text()
        assert "11010519491231002X" not in text and "张三" not in text, log.name


async def test_replaying_the_log_gives_the_same_indicators(platform: Platform, databases) -> None:
    live = values(platform.indicators(year=2025))
    fresh = IndicatorsSettings(
        database_url=await databases.create("indicators:migrations"),
        eventlog_url=platform.database_urls["eventlog"],
        environment="test",
        embedded_workers=False,
        policy_dir=str(ROOT / "policy"),
    )
    assert await rebuild(fresh) >= 1
    async with running_app(create_indicators_app(fresh)) as client:
        replayed = (await client.get("/v1/indicators", params={"year": 2025})).json()
    assert values(replayed) == live


def test_ctrl_c_stops_everything(platform: Platform) -> None:
    platform.process.send_signal(signal.SIGINT)
    assert platform.process.wait(timeout=20) == 0
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{platform.gateway}/healthz", timeout=1)


def test_demo_people_have_valid_id_numbers() -> None:
    """`make run` loads these through the gateway; an invalid one would stop the start-up."""
    from common.identifiers import is_valid_id_number

    spec = importlib.util.spec_from_file_location("demo_data", ROOT / "tools" / "demo_data.py")
    assert spec and spec.loader
    demo = importlib.util.module_from_spec(spec)
    sys.modules["demo_data"] = demo  # dataclasses look their module up while being defined
    spec.loader.exec_module(demo)
    assert demo.DEMO_CERTIFICATES
    assert all(is_valid_id_number(row[2]) for row in demo.DEMO_CERTIFICATES)
