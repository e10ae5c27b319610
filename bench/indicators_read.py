"""Indicator reads do not grow with the number of certificates: 1,127 vs 112,700.

Fills two rollup stores from two synthetic logs (`indicators.synthetic.district_log`: 1,127 and
112,700 certificate issues plus revocations, flags, rewards, completions, memberships), applied by
the real rollup consumer, then times `GET /v1/indicators?year=2025` (district, and `town=jintang`)
(and `year=2026`, as of today) in-process through httpx's ASGITransport against both stores,
interleaved (small, large, large, small, ...) over several rounds. Reports medians and the ratio
large/small (goal: <= 1.5).

    uv run python bench/indicators_read.py                      # SQLite and PostgreSQL
    uv run python bench/indicators_read.py --backend sqlite --rounds 3 --iterations 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from common.db import make_engine, make_sessionmaker
from common.eventlog.sql_log import LOG_MIGRATIONS, SqlEventLog
from common.migrations import upgrade
from common.testing.plugin import running_app
from indicators.db import MIGRATIONS
from indicators.handlers import consumer_factory
from indicators.main import create_app, load_indicator_policy
from indicators.models import CertificateFact, indicator_counters
from indicators.settings import IndicatorsSettings
from indicators.synthetic import batches, district_log

ROOT = Path(__file__).resolve().parents[1]
SIZES = (1127, 112700)
QUERIES = {
    "district": {"year": 2025},  # as of 2025-12-31: year and month buckets
    "town": {"year": 2025, "town": "jintang"},
    "district_current_year": {"year": 2026},  # as of today: also blocks and days of this month
}


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


class Databases:
    """Creates (and drops) the databases of one backend."""

    def __init__(self, backend: str, admin_url: str) -> None:
        self.backend = backend
        self.admin_url = admin_url
        self.run = uuid.uuid4().hex[:8]
        self.folder = Path(tempfile.mkdtemp(prefix="bench-indicators-"))
        self.created: list[str] = []

    def _dsn(self, database: str) -> str:
        url = make_url(self.admin_url).set(drivername="postgresql", database=database)
        return url.render_as_string(hide_password=False)

    async def create(self, name: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite+aiosqlite:///{self.folder / f'{name}.db'}"
        database = f"bench_{name}_{self.run}"
        conn = await asyncpg.connect(self._dsn("postgres"))
        try:
            await conn.execute(f'CREATE DATABASE "{database}"')
        finally:
            await conn.close()
        self.created.append(database)
        url = make_url(self.admin_url).set(drivername="postgresql+asyncpg", database=database)
        return url.render_as_string(hide_password=False)

    async def drop(self) -> None:
        if self.created:
            conn = await asyncpg.connect(self._dsn("postgres"))
            try:
                for database in self.created:
                    await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            finally:
                await conn.close()
        shutil.rmtree(self.folder, ignore_errors=True)


async def fill(
    databases: Databases, certificates: int
) -> tuple[IndicatorsSettings, dict[str, Any]]:
    """A log with the synthetic district and rollups built from it by the consumer."""
    settings = IndicatorsSettings(
        database_url=await databases.create(f"indicators_{certificates}"),
        eventlog_url=await databases.create(f"eventlog_{certificates}"),
        environment="test",
        embedded_workers=False,
        policy_dir=str(ROOT / "policy"),
        log_level="WARNING",
    )
    await upgrade(settings.database_url, MIGRATIONS)
    await upgrade(settings.eventlog_url, LOG_MIGRATIONS)
    engine = make_engine(settings.database_url)
    log_engine = make_engine(settings.eventlog_url)
    try:
        log = SqlEventLog(log_engine)
        started = time.perf_counter()
        events = 0
        for chunk in batches(district_log(certificates, seed=certificates), 5000):
            events += await log.append(chunk)
        appended = time.perf_counter()
        consumer = consumer_factory(load_indicator_policy(settings))(
            make_sessionmaker(engine), log, 2000
        )
        applied = await consumer.catch_up()
        consumed = time.perf_counter()
        async with make_sessionmaker(engine)() as session:
            facts = (
                await session.execute(select(func.count()).select_from(CertificateFact))
            ).scalar_one()
            rows = (
                await session.execute(select(func.count()).select_from(indicator_counters))
            ).scalar_one()
    finally:
        await engine.dispose()
        await log_engine.dispose()
    assert applied == events
    return settings, {
        "certificates": certificates,
        "events": events,
        "certificate_facts": facts,
        "delta_rows": rows,
        "append_seconds": round(appended - started, 1),
        "consume_seconds": round(consumed - appended, 1),
    }


async def time_reads(
    clients: dict[int, httpx.AsyncClient], *, rounds: int, iterations: int
) -> dict[str, Any]:
    """Interleaved timings: per round, the sizes alternate which goes first."""
    samples: dict[tuple[int, str], list[float]] = {(s, q): [] for s in clients for q in QUERIES}
    cpu: dict[tuple[int, str], list[float]] = {(s, q): [] for s in clients for q in QUERIES}
    for client in clients.values():  # warm-up
        for params in QUERIES.values():
            for _ in range(20):
                assert (await client.get("/v1/indicators", params=params)).status_code == 200
    for round_ in range(rounds):
        order = list(clients) if round_ % 2 == 0 else list(reversed(clients))
        for size in order:
            for name, params in QUERIES.items():
                for _ in range(iterations):
                    wall, proc = time.perf_counter(), time.process_time()
                    response = await clients[size].get("/v1/indicators", params=params)
                    samples[(size, name)].append(time.perf_counter() - wall)
                    cpu[(size, name)].append(time.process_time() - proc)
                    assert response.status_code == 200
    small, large = sorted(clients)
    result: dict[str, Any] = {}
    for name in QUERIES:
        medians = {s: statistics.median(samples[(s, name)]) for s in clients}
        result[name] = {
            "median_ms": {str(s): round(medians[s] * 1000, 3) for s in clients},
            "p90_ms": {
                str(s): round(statistics.quantiles(samples[(s, name)], n=10)[-1] * 1000, 3)
                for s in clients
            },
            "cpu_median_ms": {
                str(s): round(statistics.median(cpu[(s, name)]) * 1000, 3) for s in clients
            },
            "ratio": round(medians[large] / medians[small], 3),
            "requests": len(samples[(small, name)]),
        }
    return result


async def run_backend(backend: str, admin_url: str, rounds: int, iterations: int) -> dict[str, Any]:
    """Fill both sizes on one backend and time the reads."""
    databases = Databases(backend, admin_url)
    try:
        filled = {}
        for size in SIZES:
            print(f"[{backend}] filling {size} certificates …", flush=True)
            filled[size] = await fill(databases, size)
            print(f"[{backend}]   {filled[size][1]}", flush=True)
        async with AsyncExitStack() as stack:
            clients = {
                size: await stack.enter_async_context(running_app(create_app(settings)))
                for size, (settings, _) in filled.items()
            }
            for client, (_, info) in zip(clients.values(), filled.values(), strict=True):
                report = (await client.get("/v1/indicators", params={"year": 2025})).json()
                skilled = next(i for i in report["indicators"] if i["code"] == "skilled_talents")
                info["skilled_talents_2025"] = skilled["value"]
                info["lag_events"] = report["lag_events"]
            load_before = load_average()
            timings = await time_reads(clients, rounds=rounds, iterations=iterations)
            load_after = load_average()
        return {
            "stores": [info for _, info in filled.values()],
            "reads": timings,
            "load_average_before": load_before,
            "load_average_after": load_after,
        }
    finally:
        await databases.drop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "DINGHAI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--iterations", type=int, default=100, help="requests per size, query and round"
    )
    parser.add_argument(
        "--output", default=str(ROOT / "bench" / "results" / "indicators_read.json")
    )
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    result: dict[str, Any] = {
        "benchmark": "indicators_read",
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": _cpu_model(),
        },
        "config": {
            "sizes": list(SIZES),
            "queries": QUERIES,
            "rounds": args.rounds,
            "iterations": args.iterations,
            "transport": "httpx.ASGITransport, in-process (app + database driver in one process)",
        },
        "load_average_start": load_average(),
        "backends": {},
    }
    for backend in backends:
        result["backends"][backend] = asyncio.run(
            run_backend(backend, args.postgres, args.rounds, args.iterations)
        )
    result["load_average_end"] = load_average()
    ratios = [read["ratio"] for b in result["backends"].values() for read in b["reads"].values()]
    result["max_ratio"] = max(ratios)
    result["goal"] = "large/small median <= 1.5"
    result["goal_met"] = max(ratios) <= 1.5
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.output == "-":
        print(text)
    else:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
        print(text)
    return 0 if result["goal_met"] else 1


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
