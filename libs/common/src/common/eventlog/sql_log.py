"""The shared log on SQL (SQLite file or PostgreSQL): gap-free positions in commit order.

Writers serialise on the single `log_head` row, held until commit, so position N+1 cannot
commit before position N: a reader that asks for `position > checkpoint` never skips an
event that committed late. Event ids are unique; appending a known id is a no-op.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common.db import new_metadata
from common.eventlog.envelope import RECORD_COLUMNS, Event, EventRecord, LoggedEvent

log_metadata: MetaData = new_metadata()

event_log = Table(
    "event_log",
    log_metadata,
    Column(
        "position",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("type", String(200), nullable=False),  # not indexed: read by position only
    Column("source", String(100), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("personkey", String(64)),
    Column("town", String(32)),
    Column("traceparent", String(64)),
    Column("request_id", String(128)),
    Column("data", JSON, nullable=False),
    Column("appended_at", DateTime(timezone=True), nullable=False),
)

log_head = Table(
    "log_head",
    log_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("position", BigInteger, nullable=False),
)

LOG_MIGRATIONS = "common.eventlog:migrations"


LOG_COLUMNS = ("position", *RECORD_COLUMNS, "appended_at")
# The known-id check must use the unique index. asyncpg's prepared statements get a generic plan
# chosen while the log was small (a sequential scan), which made every append cost O(log size):
# 0.8 s per 500 events at 60,000 (measured).
_PG_NO_SEQSCAN = "SET LOCAL enable_seqscan = off"
_PG_LOCK_HEAD = "SELECT position FROM log_head WHERE id = 1 FOR UPDATE"
_PG_KNOWN = "SELECT event_id FROM event_log WHERE event_id = ANY($1::varchar[])"
_PG_MOVE_HEAD = "UPDATE log_head SET position = $1 WHERE id = 1"


def _new_records(records: Sequence[EventRecord], known: set[str]) -> list[EventRecord]:
    """The records whose ids are neither in the log nor earlier in the list, in order."""
    fresh: list[EventRecord] = []
    for record in records:
        if record.id not in known:
            known.add(record.id)
            fresh.append(record)
    return fresh


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _append_postgres(conn: AsyncConnection, records: Sequence[EventRecord]) -> int:
    """Append on PostgreSQL: one array lookup of known ids and one COPY of the new rows."""
    # Through SQLAlchemy first: that opens the transaction the raw statements then run in.
    await conn.execute(text(_PG_NO_SEQSCAN))
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    head = await driver.fetchval(_PG_LOCK_HEAD)
    known = {row[0] for row in await driver.fetch(_PG_KNOWN, [r.id for r in records])}
    fresh = _new_records(records, known)
    if not fresh:
        return 0
    now = datetime.now(UTC)
    rows = [(head + n, *r[:4], _aware(r.time), *r[5:], now) for n, r in enumerate(fresh, start=1)]
    await driver.copy_records_to_table("event_log", records=rows, columns=list(LOG_COLUMNS))
    await driver.execute(_PG_MOVE_HEAD, head + len(rows))
    return len(rows)


async def _append_generic(conn: AsyncConnection, records: Sequence[EventRecord]) -> int:
    """Append with SQLAlchemy Core (SQLite): the same steps as on PostgreSQL."""
    head = (
        await conn.execute(select(log_head.c.position).where(log_head.c.id == 1).with_for_update())
    ).scalar_one()
    ids = [r.id for r in records]
    known: set[str] = set()
    for start in range(0, len(ids), 5_000):
        found = await conn.execute(
            select(event_log.c.event_id).where(event_log.c.event_id.in_(ids[start : start + 5_000]))
        )
        known.update(found.scalars())
    fresh = _new_records(records, known)
    if not fresh:
        return 0
    now = datetime.now(UTC)
    rows = [
        dict(zip(LOG_COLUMNS, (head + n, *r[:4], _aware(r.time), *r[5:], now), strict=True))
        for n, r in enumerate(fresh, start=1)
    ]
    # The data is JSON text already: bound as text, not serialised again by the JSON type.
    statement = insert(event_log).values(data=bindparam("data", type_=Text))
    await conn.execute(statement, rows)
    await conn.execute(update(log_head).where(log_head.c.id == 1).values(position=head + len(rows)))
    return len(rows)


READ_COLUMNS = (*LOG_COLUMNS[:9], "data")
_PG_READ = (
    "SELECT position, event_id, type, source, subject, time, personkey, town, traceparent,"
    " data::text FROM event_log WHERE position > $1 ORDER BY position LIMIT $2"
)


def _row_to_event(row: Any) -> LoggedEvent:
    """A row of `READ_COLUMNS` as a logged event."""
    position, event_id, type_, source, subject, time, personkey, town, traceparent, data = row
    return LoggedEvent(
        position=position,
        event=Event(
            id=event_id,
            type=type_,
            source=source,
            subject=subject,
            time=_aware(time),
            personkey=personkey,
            town=town,
            traceparent=traceparent,
            data=data,
        ),
    )


class SqlEventLog:
    """The log backend on a SQL database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def append(
        self, events: Sequence[Event], *, request_ids: Sequence[str | None] | None = None
    ) -> int:
        """Append the events not yet in the log, in order; returns how many were new."""
        return await self.append_records(
            [
                EventRecord.of(event, request_id=request_ids[index] if request_ids else None)
                for index, event in enumerate(events)
            ]
        )

    async def append_records(self, records: Sequence[EventRecord]) -> int:
        """Append the records not yet in the log, in order; returns how many were new."""
        if not records:
            return 0
        async with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                return await _append_postgres(conn, records)
            return await _append_generic(conn, records)

    async def read(self, *, after: int, limit: int = 500) -> list[LoggedEvent]:
        """Events with position greater than `after`, in order."""
        async with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                driver = (await conn.get_raw_connection()).driver_connection
                assert driver is not None
                rows: Sequence[Any] = [
                    (*row[:9], orjson.loads(row[9]))
                    for row in await driver.fetch(_PG_READ, after, limit)
                ]
            else:
                rows = (
                    await conn.execute(
                        select(*[event_log.c[c] for c in READ_COLUMNS])
                        .where(event_log.c.position > after)
                        .order_by(event_log.c.position)
                        .limit(limit)
                    )
                ).all()
            return [_row_to_event(row) for row in rows]

    async def head(self) -> int:
        """The position of the newest event (0 for an empty log)."""
        async with self.engine.connect() as conn:
            value = (
                await conn.execute(select(log_head.c.position).where(log_head.c.id == 1))
            ).scalar_one_or_none()
            return int(value or 0)
