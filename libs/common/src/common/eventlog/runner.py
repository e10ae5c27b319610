"""Running relays and consumers: as background tasks (embedded mode) or as their own processes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi import FastAPI
from prometheus_client import start_http_server
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.app import Worker
from common.cli import run_until_signalled
from common.db import make_engine, make_sessionmaker
from common.eventlog.backend import EventLog
from common.eventlog.consumer import Consumer
from common.eventlog.relay import Hold, OutboxRelay
from common.eventlog.sql_log import SqlEventLog
from common.observability import configure_logging
from common.settings import BaseServiceSettings

# (sessions of the consumer's database, the log, batch size) -> consumer
ConsumerFactory = Callable[[async_sessionmaker[AsyncSession], EventLog, int], Consumer]


def relay_worker(*, table: Table, source: str, hold: Hold | None = None) -> Worker:
    """The outbox relay as a background task of the web process."""

    async def run(app: FastAPI, stop: asyncio.Event) -> None:
        settings: BaseServiceSettings = app.state.settings
        relay = OutboxRelay(
            engine=app.state.engine,
            table=table,
            log=app.state.eventlog,
            source=source,
            batch_size=settings.relay_batch_size,
            hold=hold,
            hold_max_seconds=settings.relay_hold_max_seconds,
        )
        try:
            await relay.run_forever(interval=settings.relay_interval_seconds, stop=stop)
        finally:
            await relay.close()

    return run


def consumer_worker(build: ConsumerFactory) -> Worker:
    """A log consumer as a background task of the web process."""

    async def run(app: FastAPI, stop: asyncio.Event) -> None:
        settings: BaseServiceSettings = app.state.settings
        consumer = build(app.state.sessionmaker, app.state.eventlog, settings.consumer_batch_size)
        try:
            await consumer.run_forever(interval=settings.relay_interval_seconds, stop=stop)
        finally:
            await consumer.close()

    return run


def _start_process(settings: BaseServiceSettings) -> None:
    """What a relay or consumer process sets up first: JSON logs as the services write them,
    and its metrics endpoint."""
    configure_logging(
        service=settings.service_name, level=settings.log_level, json_output=settings.log_json
    )
    if settings.metrics_port:
        start_http_server(settings.metrics_port)


async def run_relay_process(
    *, settings: BaseServiceSettings, table: Table, source: str, hold: Hold | None = None
) -> None:
    """`python -m <service> relay`: relay until SIGTERM (metrics on `metrics_port`)."""
    _start_process(settings)
    engine = make_engine(settings.database_url)
    log_engine = make_engine(settings.eventlog_url)
    relay = OutboxRelay(
        engine=engine,
        table=table,
        log=SqlEventLog(log_engine),
        source=source,
        batch_size=settings.relay_batch_size,
        hold=hold,
        hold_max_seconds=settings.relay_hold_max_seconds,
    )
    try:
        await run_until_signalled(
            lambda stop: relay.run_forever(interval=settings.relay_interval_seconds, stop=stop)
        )
    finally:
        await relay.close()
        await engine.dispose()
        await log_engine.dispose()


async def run_consumer_process(*, settings: BaseServiceSettings, build: ConsumerFactory) -> None:
    """`python -m <service> consume`: consume until SIGTERM (metrics on `metrics_port`)."""
    _start_process(settings)
    engine = make_engine(settings.database_url)
    log_engine = make_engine(settings.eventlog_url)
    log = SqlEventLog(log_engine)
    consumer = build(make_sessionmaker(engine), log, settings.consumer_batch_size)
    try:
        await run_until_signalled(
            lambda stop: consumer.run_forever(interval=settings.relay_interval_seconds, stop=stop)
        )
    finally:
        await consumer.close()
        await log.close()
        await engine.dispose()
        await log_engine.dispose()
