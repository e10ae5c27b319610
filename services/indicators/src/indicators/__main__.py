"""`python -m indicators migrate|consume|rebuild`."""

from __future__ import annotations

from common import cli
from common.db import make_engine, make_sessionmaker, unit_of_work
from common.eventlog.runner import run_consumer_process
from common.eventlog.sql_log import SqlEventLog
from common.migrations import upgrade
from indicators.db import MIGRATIONS
from indicators.handlers import CONSUMER_NAME, consumer_factory
from indicators.main import load_indicator_policy
from indicators.service import reset_rollups
from indicators.settings import IndicatorsSettings


async def _migrate() -> None:
    await upgrade(IndicatorsSettings().database_url, MIGRATIONS)


async def _consume() -> None:
    settings = IndicatorsSettings()
    await run_consumer_process(
        settings=settings, build=consumer_factory(load_indicator_policy(settings))
    )


async def rebuild(settings: IndicatorsSettings) -> int:
    """Empty the rollups and replay the whole log; returns the events read."""
    engine = make_engine(settings.database_url)
    log_engine = make_engine(settings.eventlog_url)
    try:
        sessionmaker = make_sessionmaker(engine)
        async with unit_of_work(sessionmaker) as session:
            await reset_rollups(session, consumer=CONSUMER_NAME)
        consumer = consumer_factory(load_indicator_policy(settings))(
            sessionmaker, SqlEventLog(log_engine)
        )
        return await consumer.catch_up()
    finally:
        await engine.dispose()
        await log_engine.dispose()


async def _rebuild() -> None:
    events = await rebuild(IndicatorsSettings())
    print(f"rebuilt rollups from {events} events")


if __name__ == "__main__":
    cli.main(
        prog="indicators",
        commands={
            "migrate": ("upgrade this service's database", _migrate),
            "consume": ("apply the shared log to the rollups until stopped", _consume),
            "rebuild": ("empty the rollups and replay the whole log", _rebuild),
        },
    )
