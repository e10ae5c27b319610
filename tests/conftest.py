"""Cross-service fixtures: the whole platform, started by `tools/run_platform.py` on free ports.

No demo data: each test module loads its own, so its numbers do not move when the demo data
changes. The `stack` fixture is module-scoped: every module gets its own running platform.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from common.db import make_engine
from common.testing.databases import postgres_admin_url

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("training", "evaluation", "finance", "awards", "indicators", "eventlog")
PRODUCERS = ("training", "evaluation", "finance", "awards")


def free_port_block(size: int) -> int:
    """A base port with `size` free ports above it.

    Below the kernel's ephemeral range (32768 and up on Linux): a port there that is free now
    can become the local end of an outgoing connection — the starting services open dozens to
    the database — before the service binds it ("address already in use", seen here).
    """
    for _ in range(200):
        base = random.randrange(20_000, 32_000 - size)
        try:
            for offset in range(size):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise RuntimeError("no free port block")


@dataclass
class Stack:
    """A running platform: the gateway URL and the databases (for appending to the log)."""

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

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.gateway}{path}", params=params, timeout=10)
        assert response.status_code == 200, (path, params, response.text)
        return response.json()

    def indicators(self, **params: Any) -> dict[str, Any]:
        report: dict[str, Any] = self.get("/api/indicators/v1/indicators", **params)
        return report

    def values(self, **params: Any) -> dict[str, Any]:
        return {i["code"]: i["value"] for i in self.indicators(**params)["indicators"]}

    def wait_applied(self, timeout: float = 15.0) -> None:
        """Until every producer's outbox is relayed and the indicators have applied the log.

        The outboxes come first: `lag_events` only compares the indicators with the log, so an
        event still waiting in a producer's outbox would otherwise go unnoticed.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if asyncio.run(self._outboxes_drained()):
                if self.indicators(year=2025)["lag_events"] == 0:
                    return
            time.sleep(0.1)
        raise AssertionError("the events did not reach the indicators in time")

    async def _outboxes_drained(self) -> bool:
        for producer in PRODUCERS:
            engine = make_engine(self.database_urls[producer])
            try:
                async with engine.connect() as conn:
                    waiting = await conn.scalar(
                        text("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    )
            finally:
                await engine.dispose()
            if waiting:
                return False
        return True


async def _drop(admin_url: str, prefix: str) -> None:
    dsn = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        for name in NAMES:
            await conn.execute(f'DROP DATABASE IF EXISTS "{prefix}_{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The platform on a temporary `--var`, stopped at the end."""
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
    output: list[str] = []
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
        process.wait()
        if admin:  # the databases it had created (they were left behind, seen here)
            asyncio.run(_drop(admin, prefix))
        logs = "".join(p.read_text()[-3000:] for p in (var / "logs").glob("*.log"))
        pytest.fail("platform did not start:\n" + "".join(output) + logs)
    if admin:
        base_url = make_url(admin).set(drivername="postgresql+asyncpg")
        urls = {
            n: base_url.set(database=f"{prefix}_{n}").render_as_string(hide_password=False)
            for n in NAMES
        }
    else:
        urls = {n: f"sqlite+aiosqlite:///{var / f'{n}.db'}" for n in NAMES}
    try:
        yield Stack(
            gateway=f"http://127.0.0.1:{base}", process=process, var=var, database_urls=urls
        )
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if admin:
            asyncio.run(_drop(admin, prefix))
