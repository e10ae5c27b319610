"""Consumers of the log: apply events and advance the checkpoint in one transaction.

A handler failure for one event rolls back only that event's savepoint; the event goes to the
consumer's dead-letter table with the error class, and the checkpoint moves on (no poison loop).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from prometheus_client import Counter, Gauge
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import unit_of_work
from common.eventlog.backend import EventLog
from common.eventlog.envelope import LoggedEvent
from common.eventlog.wakeup import poll_interval, stopped_within

logger = logging.getLogger("common.eventlog.consumer")
Handler = Callable[[AsyncSession, LoggedEvent], Awaitable[None]]
APPLIED = Counter("eventlog_consumer_applied_total", "Events applied", ["consumer"])
DEAD = Counter("eventlog_consumer_dead_letters_total", "Events dead-lettered", ["consumer"])
LAG = Gauge("eventlog_consumer_lag_events", "Log head minus checkpoint", ["consumer"])


def consumer_tables(metadata: MetaData) -> tuple[Table, Table]:
    """The checkpoint and dead-letter tables in a consumer's own database."""
    checkpoints = Table(
        "consumer_checkpoints",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("position", BigInteger, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )
    dead_letters = Table(
        "consumer_dead_letters",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("position", BigInteger, primary_key=True),
        Column("event_id", String(36), nullable=False),
        Column("type", String(200), nullable=False),
        Column("error", Text, nullable=False),
        Column("recorded_at", DateTime(timezone=True), nullable=False),
    )
    return checkpoints, dead_letters


class DeadLetter(NamedTuple):
    """An event that could not be applied, and its error's class (never its text)."""

    position: int
    event_id: str
    type: str
    error: str

    @classmethod
    def of(cls, logged: LoggedEvent, exc: BaseException) -> DeadLetter:
        """The dead letter of an event and the error it raised."""
        return cls(logged.position, logged.event.id, logged.event.type, type(exc).__name__)


class Consumer:
    """Reads the log after its checkpoint and hands each event to the handler for its type."""

    def __init__(
        self,
        *,
        name: str,
        log: EventLog,
        sessionmaker: async_sessionmaker[AsyncSession],
        checkpoints: Table,
        dead_letters: Table,
        handlers: Mapping[str, Handler],
        batch_size: int = 500,
    ) -> None:
        self.name = name
        self.log = log
        self.sessionmaker = sessionmaker
        self.checkpoints = checkpoints
        self.dead_letters = dead_letters
        self.handlers = handlers
        self.batch_size = batch_size

    async def checkpoint(self, session: AsyncSession) -> int:
        """The last applied position (0 before the first event)."""
        value = (
            await session.execute(
                select(self.checkpoints.c.position).where(self.checkpoints.c.consumer == self.name)
            )
        ).scalar_one_or_none()
        return int(value or 0)

    async def locked_checkpoint(self, session: AsyncSession) -> int:
        """The last applied position, its row locked first (PostgreSQL) for the rest of the
        transaction, so that two replicas never apply one batch."""
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(
                select(self.checkpoints.c.position)
                .where(self.checkpoints.c.consumer == self.name)
                .with_for_update()
            )
        return await self.checkpoint(session)

    async def _save_checkpoint(self, session: AsyncSession, *, old: int, new: int) -> None:
        now = datetime.now(UTC)
        if old == 0 and await self._missing(session):
            await session.execute(
                insert(self.checkpoints).values(consumer=self.name, position=new, updated_at=now)
            )
        else:
            await session.execute(
                update(self.checkpoints)
                .where(self.checkpoints.c.consumer == self.name)
                .values(position=new, updated_at=now)
            )

    async def _missing(self, session: AsyncSession) -> bool:
        row = await session.execute(
            select(self.checkpoints.c.consumer).where(self.checkpoints.c.consumer == self.name)
        )
        return row.first() is None

    async def close(self) -> None:
        """Release what the consumer holds besides its sessions (nothing here)."""

    async def run_once(self) -> int:
        """Apply one batch in one transaction; returns the number of events read."""
        async with unit_of_work(self.sessionmaker) as session:
            position = await self.locked_checkpoint(session)
            batch = await self.log.read(after=position, limit=self.batch_size)
            dead = await self.apply_batch(session, batch) if batch else 0
            if batch:
                await self._save_checkpoint(session, old=position, new=batch[-1].position)
        if batch:
            APPLIED.labels(self.name).inc(len(batch))
            if dead:
                DEAD.labels(self.name).inc(dead)
        return len(batch)

    async def apply_batch(self, session: AsyncSession, events: Sequence[LoggedEvent]) -> int:
        """Apply a batch in the run's transaction; returns how many events were dead-lettered.

        The default gives each event its own savepoint; a consumer that can apply a batch in
        bulk overrides this (and calls `dead_letter` for what it could not apply).
        """
        failed: list[tuple[LoggedEvent, Exception]] = []
        for logged in events:
            handler = self.handlers.get(logged.event.type)
            if handler is None:
                continue
            try:
                async with session.begin_nested():
                    await handler(session, logged)
            except Exception as exc:
                logger.exception("event handler failed", extra={"event_type": logged.event.type})
                failed.append((logged, exc))
        await self.dead_letter(session, failed)
        return len(failed)

    async def dead_letter(
        self, session: AsyncSession, failed: Sequence[tuple[LoggedEvent, Exception]]
    ) -> None:
        """Record events that could not be applied, with their error class (never the text)."""
        await self.record_dead_letters(
            session,
            [DeadLetter.of(logged, exc) for logged, exc in failed],
        )

    async def record_dead_letters(
        self, session: AsyncSession, letters: Sequence[DeadLetter]
    ) -> None:
        """Record dead letters (events that could not be applied)."""
        if not letters:
            return
        now = datetime.now(UTC)
        await session.execute(
            insert(self.dead_letters),
            [
                {
                    "consumer": self.name,
                    "position": letter.position,
                    "event_id": letter.event_id,
                    "type": letter.type,
                    "error": letter.error,
                    "recorded_at": now,
                }
                for letter in letters
            ],
        )

    async def catch_up(self) -> int:
        """Apply batches until the log has no more events; returns events read."""
        total = 0
        while read := await self.run_once():
            total += read
        return total

    async def lag(self) -> int:
        """How many events the consumer is behind the log head."""
        async with self.sessionmaker() as session:
            position = await self.checkpoint(session)
        lag = max(0, await self.log.head() - position)
        LAG.labels(self.name).set(lag)
        return lag

    def next_poll(self, interval: float) -> float:
        """Seconds until the next look at the log (`poll_interval`: longer while appends wake
        the consumer)."""
        return poll_interval(interval, listening=self.log.notices_appends)

    async def run_forever(self, *, interval: float, stop: asyncio.Event) -> None:
        """Poll until `stop` is set, and start at once when the log notices an append; errors
        are logged and retried with back-off."""
        delay = interval
        while not stop.is_set():
            try:
                await self.log.watch_appends()
                await self.catch_up()
                await self.lag()
                delay = self.next_poll(interval)
            except Exception:
                logger.exception("consumer failed; retrying")
                delay = min(delay * 2, 5.0)
                await stopped_within(stop, delay)
                continue
            await self.log.wait_for_append(delay, stop=stop)
