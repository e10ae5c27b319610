"""Exactness: the incremental rollups equal an independent recount of the log, at any size.

`INDICATORS_RECONCILE_EVENTS` sets the size of the large-log test (default 100,000 events).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import date
from itertools import islice
from pathlib import Path

import pytest

from common.db import make_engine
from common.eventlog.sql_log import SqlEventLog
from indicators.__main__ import rebuild, run_reconcile
from indicators.models import indicator_counters
from indicators.synthetic import batches, district_log

ROOT = Path(__file__).resolve().parents[3]
LARGE = int(os.environ.get("INDICATORS_RECONCILE_EVENTS", "100000"))
MONTH_ENDS_2025 = [date(2025, m, 28) for m in range(1, 13)] + [date(2025, 12, 31)]


@pytest.mark.parametrize(("seed", "batch_size"), [(1, 1), (2, 7), (3, 64), (4, 500)])
async def test_incremental_rollups_equal_a_recount_on_every_month_end(
    env, seed: int, batch_size: int
) -> None:
    """Small batches split one person's events across transactions; any split is exact."""
    events = list(district_log(400 if batch_size > 1 else 120, seed=seed))
    env.consumer.batch_size = batch_size
    for chunk in batches(iter(events), 97):
        await env.publish(*chunk)
    report = await run_reconcile(env.settings, monthly=True)
    assert report.differences == []
    assert report.events == len(events) and report.comparisons > 500
    replayed = await run_reconcile(env.settings, dates=MONTH_ENDS_2025)
    assert replayed.differences == []


async def test_rebuild_gives_the_same_numbers_as_the_live_rollups(env) -> None:
    await env.publish(*district_log(600, seed=9))
    live = {
        (year, town): await env.values(year=year, **({"town": town} if town else {}))
        for year in (2025, 2026)
        for town in (None, "jintang", "maao")
    }
    assert await rebuild(env.settings, batch_size=333) > 600
    for (year, town), values in live.items():
        assert await env.values(year=year, **({"town": town} if town else {})) == values


async def _reconcile_command(settings, *extra: str) -> tuple[int, str]:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DINGHAI_", "INDICATORS_"))},
        "INDICATORS_DATABASE_URL": settings.database_url,
        "DINGHAI_EVENTLOG_URL": settings.eventlog_url,
        "DINGHAI_POLICY_DIR": str(ROOT / "policy"),
        "DINGHAI_LOG_JSON": "false",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "indicators",
        "reconcile",
        *extra,
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_reconcile_command_reports_every_difference_and_fails(env) -> None:
    await env.publish(*district_log(200, seed=5))
    status, output = await _reconcile_command(env.settings, "--as-of", "2025-12-31")
    assert status == 0, output
    assert "0 differences" in output
    async with env.app.state.sessionmaker() as session:
        for town, code, delta in (
            ("maao", "high_skilled_talents", 1),
            ("jintang", "skilled_talents", 5),
        ):
            await session.execute(
                indicator_counters.insert().values(
                    town=town, grain="y", bucket=date(1990, 1, 1), code=code, total=delta
                )
            )
        await session.commit()
    status, output = await _reconcile_command(env.settings, "--as-of", "2025-12-31")
    assert status == 1, output
    assert "DIFFERENCE as_of=2025-12-31 town=maao high_skilled_talents" in output
    assert "DIFFERENCE as_of=2025-12-31 town=jintang skilled_talents" in output
    assert output.count("DIFFERENCE") == 2 and "2 differences" in output


async def test_rebuild_then_reconcile_on_a_large_log(settings_factory, capsys) -> None:
    settings = await settings_factory()
    engine = make_engine(settings.eventlog_url)
    try:
        log = SqlEventLog(engine)
        started = time.perf_counter()
        appended = 0
        for chunk in batches(islice(district_log(LARGE, seed=2025), LARGE), 5000):
            appended += await log.append(chunk)
        filled = time.perf_counter()
    finally:
        await engine.dispose()
    assert appended == LARGE >= int(os.environ.get("INDICATORS_RECONCILE_MIN", "100000"))
    assert await rebuild(settings) == LARGE
    rebuilt = time.perf_counter()
    report = await run_reconcile(
        settings, dates=[date(2025, 6, 30), date(2025, 12, 31), date(2026, 10, 31)]
    )
    done = time.perf_counter()
    assert report.differences == []
    assert report.events == LARGE and report.dead_letters == 0
    with capsys.disabled():
        print(
            f"\n[{LARGE} events] append {filled - started:.1f}s, rebuild {rebuilt - filled:.1f}s, "
            f"reconcile {done - rebuilt:.1f}s ({report.comparisons} values, 0 differences)"
        )
