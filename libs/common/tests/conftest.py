"""Fixtures for the event log tests: a log database and a producer database with an outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import make_engine
from common.eventlog.sql_log import LOG_MIGRATIONS, SqlEventLog
from common.testing.databases import DatabaseFactory


@pytest.fixture
async def log_engine(databases: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(await databases.create(LOG_MIGRATIONS))
    yield engine
    await engine.dispose()


@pytest.fixture
def event_log(log_engine: AsyncEngine) -> SqlEventLog:
    return SqlEventLog(log_engine)


@pytest.fixture
async def producer_db(
    databases: DatabaseFactory,
) -> AsyncIterator[tuple[AsyncEngine, Table, Table]]:
    """A producer database with a `things` table and an outbox, built from metadata."""
    from common.eventlog.outbox import outbox_table

    metadata = MetaData()
    things = Table(
        "things", metadata, Column("id", Integer, primary_key=True), Column("name", String(20))
    )
    outbox = outbox_table(metadata)
    url = await databases.empty()
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine, things, outbox
    await engine.dispose()
