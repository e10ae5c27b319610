"""The outbox relay: copies a service's unpublished outbox rows to the shared log.

At-least-once from the outbox, exactly once in the log (the log ignores known event ids).
Several relays may run at once: on PostgreSQL each claims rows with `FOR UPDATE SKIP LOCKED`;
on SQLite the claim transaction holds the database write lock.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge
from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from common.eventlog.backend import EventLog
from common.eventlog.envelope import Event

logger = logging.getLogger("common.eventlog.relay")
RELAYED = Counter("outbox_relayed_events_total", "Outbox rows copied to the log", ["source"])
BACKLOG = Gauge("outbox_backlog", "Unpublished outbox rows", ["source"])


class OutboxRelay:
    """Moves outbox rows of one service database to the log."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        table: Table,
        log: EventLog,
        source: str,
        batch_size: int = 500,
    ) -> None:
        self.engine = engine
        self.table = table
        self.log = log
        self.source = source
        self.batch_size = batch_size

    async def run_once(self) -> int:
        """Relay one batch; returns the number of outbox rows handled."""
        table = self.table
        query = (
            select(table)
            .where(table.c.published_at.is_(None))
            .order_by(table.c.id)
            .limit(self.batch_size)
        )
        if self.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        async with self.engine.begin() as conn:
            rows = (await conn.execute(query)).all()
            if not rows:
                return 0
            events = [
                Event(
                    id=row.event_id,
                    type=row.type,
                    source=row.source,
                    subject=row.subject,
                    time=row.time if row.time.tzinfo else row.time.replace(tzinfo=UTC),
                    personkey=row.personkey,
                    town=row.town,
                    traceparent=row.traceparent,
                    data=row.data,
                )
                for row in rows
            ]
            await self.log.append(events, request_ids=[row.request_id for row in rows])
            await conn.execute(
                update(table)
                .where(table.c.id.in_([row.id for row in rows]))
                .values(published_at=datetime.now(UTC))
            )
        RELAYED.labels(self.source).inc(len(rows))
        return len(rows)

    async def drain(self) -> int:
        """Relay until the outbox is empty; returns the rows handled."""
        total = 0
        while handled := await self.run_once():
            total += handled
        return total

    async def backlog(self) -> int:
        """Unpublished rows waiting."""
        async with self.engine.connect() as conn:
            count = (
                await conn.execute(
                    select(func.count())
                    .select_from(self.table)
                    .where(self.table.c.published_at.is_(None))
                )
            ).scalar_one()
        BACKLOG.labels(self.source).set(count)
        return int(count)

    async def run_forever(self, *, interval: float, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; errors are logged and retried with back-off."""
        delay = interval
        while not stop.is_set():
            try:
                handled = await self.drain()
                delay = interval
                if handled:
                    logger.info("relayed", extra={"count": handled})
            except Exception:
                logger.exception("relay failed; retrying")
                delay = min(delay * 2, 5.0)
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                pass
