"""The transactional outbox: an event row written in the same transaction as the state change.

A producer that writes many events at once (a bulk import) may pack them into batch rows
(`pack`): one outbox row of type `BATCH_TYPE` holding up to `MAX_BATCH_EVENTS` events, in order,
its subject their number. The relay moves a batch row to the log whole, where it stays one row
whose events each keep a position of their own; the log's readers split it (ADR 0010), so its
consumers still see one event per change. Outbox and log save a row, its index entries and a
relay round of work per event. `MAX_BATCH_EVENTS` bounds every batch the log may ever hold: it
may grow, never shrink (readers of the log rely on it).

A transaction that writes outbox rows also `wake_relay`s: on PostgreSQL its relay, listening,
goes on when it commits instead of at its next poll, and polls only as a safety net (ADR 0012).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    cast,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from common.eventlog.envelope import RECORD_COLUMNS, Event, EventRecord, encode_data
from common.eventlog.wakeup import notify
from common.ids import new_id
from common.observability import request_id_var

BATCH_TYPE = "cn.dinghai.skills.eventlog.batch.v1"
MAX_BATCH_EVENTS = 5_000
WAKE_CHANNEL = "outbox_relay_wake"


async def wake_relay(target: AsyncConnection | AsyncSession) -> None:
    """Wake the relays of this database when the caller's transaction commits (PostgreSQL):
    there are rows to move, or a hold is lifted. Elsewhere nothing: they find it at their next
    poll."""
    await notify(target, WAKE_CHANNEL)


def outbox_table(metadata: MetaData) -> Table:
    """The `outbox` table in a service's own database."""
    return Table(
        "outbox",
        metadata,
        Column(
            "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("type", String(200), nullable=False),
        Column("source", String(100), nullable=False),
        Column("subject", String(200), nullable=False),
        Column("time", DateTime(timezone=True), nullable=False),
        Column("personkey", String(64)),
        Column("town", String(32)),
        Column("traceparent", String(64)),
        Column("request_id", String(128)),
        Column("data", JSON, nullable=False),
        Column("published_at", DateTime(timezone=True)),
        Index("ix_outbox_unpublished", "published_at", "id"),
    )


def outbox_row(event: Event) -> dict[str, Any]:
    """The outbox row of an event."""
    return {
        "event_id": event.id,
        "type": event.type,
        "source": event.source,
        "subject": event.subject,
        "time": event.time,
        "personkey": event.personkey,
        "town": event.town,
        "traceparent": event.traceparent,
        "request_id": request_id_var.get() or None,
        "data": event.data,
    }


class Outbox:
    """Adds events to a service's outbox inside the caller's transaction (never commits)."""

    def __init__(self, table: Table, *, source: str) -> None:
        self.table = table
        self.source = source

    def event(
        self,
        *,
        type: str,
        subject: str,
        data: dict[str, Any],
        personkey: str | None = None,
        town: str | None = None,
    ) -> Event:
        """Build an event of this service."""
        return Event(
            type=type,
            source=self.source,
            subject=subject,
            data=data,
            personkey=personkey,
            town=town,
        )

    async def add(self, session: AsyncSession, *events: Event) -> None:
        """Write the events' outbox rows in the session's transaction (and wake the relay)."""
        if events:
            await session.execute(insert(self.table), [outbox_row(e) for e in events])
            await wake_relay(session)


def pack(records: Sequence[Sequence[Any]]) -> list[EventRecord]:
    """The records packed into batch records of at most `MAX_BATCH_EVENTS` events, in order.

    `records` are `EventRecord`s or plain tuples in its field order. A batch's data is a JSON
    array with one array per event: id, type, subject, time (RFC 3339), personkey, town,
    traceparent, request_id, then its data. The data is the JSON text the record holds, spliced
    in as it is (never decoded and encoded again: an `orjson.Fragment`), so that one parse of
    the batch gives every event's data (readers of the log split batches: ADR 0010). One
    `orjson.dumps` a batch, not one an event (~0.5 instead of ~1.4 µs an event). Every record
    must come from one source.
    """
    batches = []
    for start in range(0, len(records), MAX_BATCH_EVENTS):
        part = records[start : start + MAX_BATCH_EVENTS]
        items = [[*r[:2], *r[3:9], orjson.Fragment(r[9])] for r in part]
        first = EventRecord(*part[0])
        batches.append(
            first._replace(
                id=new_id(),
                type=BATCH_TYPE,
                subject=str(len(part)),  # read by the relay before it reads the data
                personkey=None,
                town=None,
                traceparent=None,
                data_json=orjson.dumps(items).decode(),
            )
        )
    return batches


def records_query(table: Table) -> Select[Any]:
    """The outbox's rows as `EventRecord` fields in id order, the data as its JSON text (a row
    may be a batch: `unpack` it)."""
    columns = [table.c[name] for name in RECORD_COLUMNS[:-1]]
    return select(*columns, cast(table.c.data, Text)).order_by(table.c.id)


def batch_events(type_: str, subject: str) -> int:
    """How many events an outbox row holds, from its type and subject (a batch's is its count)."""
    return int(subject) if type_ == BATCH_TYPE else 1


def batch_item_data(item: Sequence[Any]) -> Any:
    """A batch item's data, decoded (batches packed before event-log revision 0003 hold each
    event's data as a JSON string)."""
    data = item[8]
    return orjson.loads(data) if isinstance(data, str) else data


def unpack(record: EventRecord) -> list[EventRecord]:
    """The events of an outbox record: those of a batch, in order, or the record itself."""
    if record.type != BATCH_TYPE:
        return [record]
    source = record.source
    return [
        EventRecord(
            i[0],
            i[1],
            source,
            i[2],
            datetime.fromisoformat(i[3]),
            *i[4:8],
            i[8] if isinstance(i[8], str) else encode_data(i[8]),
        )
        for i in orjson.loads(record.data_json)
    ]
