"""The transactional outbox: an event row written in the same transaction as the state change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    insert,
)
from sqlalchemy.ext.asyncio import AsyncSession

from common.eventlog.envelope import Event
from common.observability import request_id_var


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
        """Write the events' outbox rows in the session's transaction."""
        if events:
            await session.execute(insert(self.table), [outbox_row(e) for e in events])
