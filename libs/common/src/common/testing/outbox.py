"""Reading a service's outbox in tests: its events, with batch rows split (`unpack`)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from common.eventlog.envelope import RECORD_COLUMNS, EventRecord
from common.eventlog.outbox import records_query, unpack


async def outbox_events(engine: AsyncEngine, table: Table) -> list[Any]:
    """The outbox's events in order, as rows with attribute access and their data decoded."""
    async with engine.connect() as conn:
        rows = await conn.execute(records_query(table))
        records = [event for row in rows for event in unpack(EventRecord(*row))]
    return [
        SimpleNamespace(
            **dict(zip(RECORD_COLUMNS[:-1], record, strict=False)),
            data=orjson.loads(record.data_json),
        )
        for record in records
    ]
