"""The shared log on SQL (SQLite file or PostgreSQL): gap-free positions in commit order.

Writers serialise on the single `log_head` row, held until commit, so position N+1 cannot
commit before position N: a reader that asks for `position > checkpoint` never skips an
event that committed late. Event ids are unique; appending a known id is a no-op.

A row holds one event, or a producer's batch of up to `MAX_BATCH_EVENTS` events as the outbox
packed it (`common.eventlog.outbox.pack`), stored whole (ADR 0010). Every event still has a
position of its own: a row's `position` is that of its last event, and its `count` events take
the positions `position - count + 1` … `position`, in order. A batch is deduplicated by its own
id. `read` hands out events, never rows: a batch row is split there, and a read may start or
stop inside one.
"""

from __future__ import annotations

import asyncio
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
from common.eventlog.outbox import BATCH_TYPE, MAX_BATCH_EVENTS, batch_events, batch_item_data
from common.eventlog.wakeup import Wakeup

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
    # Events in the row: 1, or a batch's (of type `BATCH_TYPE`); `position` is its last event's.
    Column("count", Integer, nullable=False, server_default="1"),
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


LOG_COLUMNS = ("position", "count", *RECORD_COLUMNS, "appended_at")
# The known-id check must use the unique index. asyncpg's prepared statements get a generic plan
# chosen while the log was small (a sequential scan), which made every append cost O(log size):
# 0.8 s per 500 events at 60,000 (measured).
_PG_NO_SEQSCAN = "SET LOCAL enable_seqscan = off"
_PG_LOCK_HEAD = "SELECT position FROM log_head WHERE id = 1 FOR UPDATE"
_PG_KNOWN = "SELECT event_id FROM event_log WHERE event_id = ANY($1::varchar[])"
_PG_MOVE_HEAD = "UPDATE log_head SET position = $1 WHERE id = 1"
# Notified by every append on PostgreSQL, when it commits: consumers start at once (wakeup.py).
APPENDED_CHANNEL = "event_log_appended"
_PG_NOTIFY = f"SELECT pg_notify('{APPENDED_CHANNEL}', '')"


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


def _event_count(record: EventRecord) -> int:
    """How many events a record holds (a batch's are checked against its data: each takes a
    position, so a wrong count would shift every event after it)."""
    count = batch_events(record.type, record.subject)
    if record.type == BATCH_TYPE and not (
        0 < count <= MAX_BATCH_EVENTS and len(orjson.loads(record.data_json)) == count
    ):
        raise ValueError(f"batch record {record.id} does not hold the {count} events it names")
    return count


def _log_rows(records: Sequence[EventRecord], head: int, now: datetime) -> list[tuple[Any, ...]]:
    """Rows in `LOG_COLUMNS` order: each at the position of its last event after `head`."""
    rows = []
    position = head
    for record in records:
        count = _event_count(record)
        position += count
        rows.append((position, count, *record[:4], _aware(record.time), *record[5:], now))
    return rows


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
    rows = _log_rows(fresh, head, datetime.now(UTC))
    await driver.copy_records_to_table("event_log", records=rows, columns=list(LOG_COLUMNS))
    await driver.execute(_PG_MOVE_HEAD, rows[-1][0])
    await driver.execute(_PG_NOTIFY)
    return rows[-1][0] - head


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
    rows = [
        dict(zip(LOG_COLUMNS, row, strict=True))
        for row in _log_rows(fresh, head, datetime.now(UTC))
    ]
    # The data is JSON text already: bound as text, not serialised again by the JSON type.
    statement = insert(event_log).values(data=bindparam("data", type_=Text))
    await conn.execute(statement, rows)
    last = rows[-1]["position"]
    await conn.execute(update(log_head).where(log_head.c.id == 1).values(position=last))
    return int(last - head)


READ_COLUMNS = (*LOG_COLUMNS[:10], "data")
# A read of `limit` events after `after` needs the rows whose last position is above `after`
# (index order), at most `limit` of them (each holds an event at least), and none that starts
# after `after + limit`: a row ending at `after + limit + MAX_BATCH_EVENTS` or later does.
_PG_READ = (
    "SELECT position, count, event_id, type, source, subject, time, personkey, town,"
    " traceparent, data::text FROM event_log"
    " WHERE position > $1 AND position < $1 + $2 + $3 ORDER BY position LIMIT $2"
)


def _event_of(row: Any, *, decoded: bool) -> LoggedEvent:
    """The event of a single-event row of `READ_COLUMNS`; `decoded`: its data is JSON already."""
    position, _, event_id, type_, source, subject, time, personkey, town, trace, data = row
    event = Event.restored(
        event_id,
        type_,
        source,
        subject,
        _aware(time),
        personkey,
        town,
        trace,
        data if decoded else orjson.loads(data),
    )
    return LoggedEvent.restored(position, event)


def _batch_events(row: Any, items: list[Any], *, after: int, until: int) -> list[LoggedEvent]:
    """The events of a batch row at positions in (`after`, `until`], from its decoded items:
    id, type, subject, time (RFC 3339), personkey, town, traceparent, request_id, data
    (`common.eventlog.outbox.pack`)."""
    position, count, source = row[0], row[1], row[4]
    first = position - count + 1
    skip = max(0, after + 1 - first)
    return [
        LoggedEvent.restored(
            first + index,
            Event.restored(
                item[0],
                item[1],
                source,
                item[2],
                _aware(datetime.fromisoformat(item[3])),
                item[4],
                item[5],
                item[6],
                batch_item_data(item),
            ),
        )
        for index, item in enumerate(items[skip : until - first + 1], start=skip)
    ]


class SqlEventLog:
    """The log backend on a SQL database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # The decoded items of the batch row a read last stopped inside, by (position, id):
        # the next read, which starts there, does not parse it again (~11 ms for 5,000 events;
        # a consumer reading 10,000 at a time would otherwise parse every third row twice).
        self._open_batch: tuple[int, str, list[Any]] | None = None
        self._appended = Wakeup(engine, APPENDED_CHANNEL)

    @property
    def notices_appends(self) -> bool:
        """True while an append ends `wait_for_append` (PostgreSQL, listening)."""
        return self._appended.listening

    async def watch_appends(self) -> None:
        """Notice appends from now on (on PostgreSQL, by listening), forgetting earlier ones
        (call before reading)."""
        await self._appended.watch()

    async def wait_for_append(self, seconds: float, *, stop: asyncio.Event | None = None) -> bool:
        """Wait up to `seconds` for an append since `watch_appends` (noticed on
        PostgreSQL only), or for `stop`; True when one was noticed."""
        return await self._appended.wait(seconds, stop=stop)

    async def close(self) -> None:
        """Close the connection that listens for appends (if one was opened)."""
        await self._appended.close()

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
        """Events with position greater than `after`, in order, at most `limit`."""
        until = after + limit
        async with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                driver = (await conn.get_raw_connection()).driver_connection
                assert driver is not None
                rows: Any = await driver.fetch(_PG_READ, after, limit, MAX_BATCH_EVENTS)
                decoded = False
            else:
                rows = await conn.execute(
                    select(*[event_log.c[c] for c in READ_COLUMNS])
                    .where(
                        event_log.c.position > after,
                        event_log.c.position < until + MAX_BATCH_EVENTS,
                    )
                    .order_by(event_log.c.position)
                    .limit(limit)
                )
                decoded = True
            events: list[LoggedEvent] = []
            for row in rows:
                if row[3] != BATCH_TYPE:
                    events.append(_event_of(row, decoded=decoded))
                    continue
                opened = self._open_batch
                if opened is not None and opened[:2] == (row[0], row[2]):
                    items = opened[2]
                else:
                    items = row[10] if decoded else orjson.loads(row[10])
                events += _batch_events(row, items, after=after, until=until)
                if row[0] > until:  # stopped inside it
                    self._open_batch = (row[0], row[2], items)
            return events[:limit]  # single rows past a batch's end are in the window too

    async def time_after(self, after: int) -> datetime | None:
        """The time of the first event after `after` (None when there is none).

        Read from its row without the row's data: inside a batch row, the time of the batch's
        first event, which a producer wrote in the same transaction as the rest (a lag gauge
        asks this every few seconds, and a batch row holds ~3 MB).
        """
        async with self.engine.connect() as conn:
            moment = (
                await conn.execute(
                    select(event_log.c.time)
                    .where(event_log.c.position > after)
                    .order_by(event_log.c.position)
                    .limit(1)
                )
            ).scalar_one_or_none()
        return None if moment is None else _aware(moment)

    async def head(self) -> int:
        """The position of the newest event (0 for an empty log)."""
        async with self.engine.connect() as conn:
            value = (
                await conn.execute(select(log_head.c.position).where(log_head.c.id == 1))
            ).scalar_one_or_none()
            return int(value or 0)
