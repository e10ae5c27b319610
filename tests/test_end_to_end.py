"""The platform as users run it: real processes started by the runner, calls through the gateway."""

from __future__ import annotations

import importlib.util
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.testing.plugin import running_app
from indicators.__main__ import rebuild
from indicators.main import create_app as create_indicators_app
from indicators.settings import IndicatorsSettings

ROOT = Path(__file__).resolve().parents[1]
Stack = Any  # tests/conftest.py: the running platform (gateway URL, databases, helpers)
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


def values(report: dict[str, object]) -> dict[str, object]:
    return {i["code"]: i["value"] for i in report["indicators"]}  # type: ignore[index, union-attr]


@pytest.fixture(scope="module")
def platform(stack: Stack) -> Stack:
    """The running platform with evaluation body S0001 registered by a district official."""
    registered = httpx.post(
        f"{stack.gateway}/api/evaluation/v1/bodies",
        json={"code": "S0001", "type": "S", "name": "评价机构S0001"},
        headers=stack.token("official", "admin-1", role="district_admin"),
        timeout=10,
    )
    assert registered.status_code == 201, registered.text
    return stack


def test_every_service_is_ready_through_the_gateway(platform: Stack) -> None:
    assert httpx.get(f"{platform.gateway}/readyz", timeout=5).status_code == 200
    for service in SERVICES:
        response = httpx.get(f"{platform.gateway}/api/{service}/readyz", timeout=5)
        assert response.status_code == 200, (service, response.text)
    merged = httpx.get(f"{platform.gateway}/openapi.json", timeout=10).json()
    assert "/api/evaluation/v1/certificates" in merged["paths"]
    assert "/api/indicators/v1/indicators" in merged["paths"]


def test_certificate_reaches_the_indicators_within_two_seconds(platform: Stack) -> None:
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


def test_bad_input_through_the_gateway_changes_nothing(platform: Stack) -> None:
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


def test_no_personal_data_in_logs(platform: Stack) -> None:
    for log in (platform.var / "logs").glob("*.log"):
        text = log.read_text()
        assert "11010519491231002X" not in text and "张三" not in text, log.name


async def test_replaying_the_log_gives_the_same_indicators(platform: Stack, databases) -> None:
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


def test_ctrl_c_stops_everything(platform: Stack) -> None:
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
