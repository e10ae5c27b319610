"""`python -m indicators migrate|consume|rebuild|reconcile`.

`reconcile` exits with status 1 when the rollups differ from a recount of the log (and prints
every difference), 0 when they agree.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date

from common.clock import today_in_shanghai
from common.db import make_engine, make_sessionmaker, unit_of_work
from common.eventlog.runner import run_consumer_process
from common.eventlog.sql_log import SqlEventLog
from common.migrations import upgrade
from indicators.api import FIRST_YEAR
from indicators.db import MIGRATIONS
from indicators.handlers import CONSUMER_NAME, consumer_factory
from indicators.main import load_indicator_policy
from indicators.reconcile import ReconcileReport, default_dates, reconcile
from indicators.service import reset_rollups
from indicators.settings import IndicatorsSettings


async def _migrate() -> None:
    await upgrade(IndicatorsSettings().database_url, MIGRATIONS)


async def _consume() -> None:
    settings = IndicatorsSettings()
    await run_consumer_process(
        settings=settings,
        build=consumer_factory(load_indicator_policy(settings), reading_url=settings.reading_url()),
    )


async def rebuild(settings: IndicatorsSettings, *, batch_size: int | None = None) -> int:
    """Empty the rollups and replay the whole log; returns the events read.

    Batches as the running consumer's (`consumer_batch_size`) unless `batch_size` is given.

    Stop the running consumers first (or they apply events to the half-built rollups too).
    """
    engine = make_engine(settings.database_url)
    log_engine = make_engine(settings.eventlog_url)
    try:
        sessionmaker = make_sessionmaker(engine)
        async with unit_of_work(sessionmaker) as session:
            await reset_rollups(session, consumer=CONSUMER_NAME)
        consumer = consumer_factory(
            load_indicator_policy(settings), reading_url=settings.reading_url()
        )(sessionmaker, SqlEventLog(log_engine), batch_size or settings.consumer_batch_size)
        try:
            return await consumer.catch_up()
        finally:
            await consumer.close()
    finally:
        await engine.dispose()
        await log_engine.dispose()


async def run_reconcile(
    settings: IndicatorsSettings, *, dates: list[date] | None = None, monthly: bool = False
) -> ReconcileReport:
    """Recount the log and compare with the rollups (default: each year's as-of date)."""
    engine = make_engine(settings.database_url)
    log_engine = make_engine(settings.eventlog_url)
    try:
        return await reconcile(
            sessionmaker=make_sessionmaker(engine),
            log=SqlEventLog(log_engine),
            policy=load_indicator_policy(settings),
            dates=dates
            or default_dates(today_in_shanghai(), first_year=FIRST_YEAR, monthly=monthly),
        )
    finally:
        await engine.dispose()
        await log_engine.dispose()


def print_report(report: ReconcileReport) -> None:
    """Every difference, then a summary line."""
    for line in report.differences:
        print(f"DIFFERENCE {line}")
    print(
        f"reconciled {report.events} events (through position {report.position}, log head "
        f"{report.log_head}; {report.unreadable} unreadable, {report.dead_letters} dead-lettered) "
        f"on {len(report.dates)} dates "
        f"({', '.join(d.isoformat() for d in report.dates[:3])}"
        f"{', …' if len(report.dates) > 3 else ''}): "
        f"{report.comparisons} values compared, {len(report.differences)} differences"
    )


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="indicators")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="upgrade this service's database")
    sub.add_parser("consume", help="apply the shared log to the rollups until stopped")
    sub.add_parser("rebuild", help="empty the rollups and replay the whole log")
    check = sub.add_parser(
        "reconcile", help="recount every indicator from the log and report every difference"
    )
    check.add_argument(
        "--as-of",
        action="append",
        type=date.fromisoformat,
        default=[],
        help="a date to compare on (repeatable; default: each year's end, today for this year)",
    )
    check.add_argument("--monthly", action="store_true", help="compare on every month end")
    args = parser.parse_args(argv)
    if args.command == "migrate":
        asyncio.run(_migrate())
    elif args.command == "consume":
        asyncio.run(_consume())
    elif args.command == "rebuild":
        events = asyncio.run(rebuild(IndicatorsSettings()))
        print(f"rebuilt rollups from {events} events")
    else:
        report = asyncio.run(
            run_reconcile(IndicatorsSettings(), dates=args.as_of or None, monthly=args.monthly)
        )
        print_report(report)
        return 1 if report.differences else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
