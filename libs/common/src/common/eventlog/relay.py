"""The outbox relay: moves a service's outbox rows to the shared log.

At-least-once from the outbox, exactly once in the log (the log ignores known event ids): rows are
deleted in the transaction that claimed them, after the log has committed them. A batch row
(`common.eventlog.outbox.pack`) goes to the log whole, as one row holding its events (ADR 0010).
Several relays may run at once: on PostgreSQL each claims rows with `FOR UPDATE SKIP LOCKED`;
on SQLite the claim transaction holds the database write lock.

On PostgreSQL the relay listens (`common.eventlog.wakeup`): a transaction that writes outbox
rows `wake_relay`s (`Outbox.add` does), and the relay goes on when it commits; it polls only
every `LISTENING_POLL_SECONDS` of `wakeup`, as a safety net. Woken, it first waits until
`WAKE_GAP_SECONDS` after its previous round began, so that a burst of writes goes in one batch.
Elsewhere it polls every `interval`.

A service may ask its relay to wait while bulk work runs (`hold`, checked before each claim; at
most `hold_max_seconds` at a stretch), so that the bulk work has the machine to itself: its
events reach the log, and the consumers, after it (ADR 0008). The bulk work `wake_relay`s when
it ends, so that the relay goes on at once instead of at its next poll.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from prometheus_client import Counter, Gauge
from sqlalchemy import BigInteger, Table, any_, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common.collector import collector_paused
from common.eventlog.backend import EventLog
from common.eventlog.envelope import EventRecord
from common.eventlog.outbox import WAKE_CHANNEL, batch_events, records_query
from common.eventlog.wakeup import Wakeup, poll_interval, stopped_within

logger = logging.getLogger("common.eventlog.relay")
RELAYED = Counter("outbox_relayed_events_total", "Outbox events copied to the log", ["source"])
BACKLOG = Gauge("outbox_backlog", "Unpublished outbox rows", ["source"])
HELD = Gauge("outbox_relay_held", "1 while the relay waits for bulk work", ["source"])
# Whether bulk work in the service's database asks the relay to wait (read on a connection).
Hold = Callable[[AsyncConnection], Awaitable[bool]]
# How often a held relay asks again: the bulk work's events follow it within this, not within
# the relay's polling interval (one small query each time, and only while bulk work runs). A
# relay that listens for `wake_relay` (PostgreSQL) is woken when the work ends, and asks only
# every `HELD_LISTENING_POLL_SECONDS` in case it missed that.
HELD_POLL_SECONDS = 0.05
HELD_LISTENING_POLL_SECONDS = 0.5
# A woken relay starts its next round no sooner than this after its previous one began: under a
# steady stream of requests, each a transaction that wakes it, it moves them in batches (at most
# ten rounds a second) instead of one round per request.
WAKE_GAP_SECONDS = 0.1


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
        hold: Hold | None = None,
        hold_max_seconds: float = 60.0,
    ) -> None:
        self.engine = engine
        self.table = table
        self.log = log
        self.source = source
        self.batch_size = batch_size
        self.hold = hold
        self.hold_max_seconds = hold_max_seconds
        self._held_since: float | None = None
        self.wakeup = Wakeup(engine, WAKE_CHANNEL)

    async def held(self) -> bool:
        """True while `hold` asks the relay to wait, for at most `hold_max_seconds` from the
        first time it asked in a row (then the relay goes on until the hold is lifted)."""
        if self.hold is None or self.hold_max_seconds <= 0:
            return False
        async with self.engine.connect() as conn:
            wanted = await self.hold(conn)
        if not wanted:
            if self._held_since is not None:
                self._held_since = None
                HELD.labels(self.source).set(0)
            return False
        now = time.monotonic()
        if self._held_since is None:
            self._held_since = now
            logger.info("relay held by bulk work")
        waiting = now - self._held_since < self.hold_max_seconds
        HELD.labels(self.source).set(int(waiting))
        return waiting

    async def run_once(self) -> int:
        """Relay one batch of about `batch_size` events; returns the number of events handled.

        Rows are claimed in id order without their data; a batch row counts as its events, and
        claimed rows past `batch_size` events (the first row always goes) are left for the next
        batch. Only then is the data read: the JSON text the outbox holds goes over as it is
        (never decoded and re-encoded), a batch row's too. Nothing is claimed while the relay
        is `held`.
        """
        if await self.held():
            return 0
        # Checking a batch row's count decodes its thousands of events: collections over such
        # objects were about a quarter of the relay's profile while it drained an import (py-spy).
        with collector_paused():
            return await self._relay_batch()

    async def _relay_batch(self) -> int:
        table = self.table
        postgres = self.engine.dialect.name == "postgresql"
        claim = (
            select(table.c.id, table.c.type, table.c.subject)
            .where(table.c.published_at.is_(None))
            # Ordered like `ix_outbox_unpublished` (published_at is NULL here, so this is id
            # order): otherwise PostgreSQL walks the primary key past every relayed row not yet
            # vacuumed, quadratic in a burst (2.8 s of a 112,700-row drain, measured).
            .order_by(table.c.published_at, table.c.id)
            .limit(self.batch_size)
        )
        if postgres:
            claim = claim.with_for_update(skip_locked=True)
        async with self.engine.begin() as conn:
            ids: list[int] = []
            events = 0
            for row_id, row_type, subject in (await conn.execute(claim)).all():
                if events >= self.batch_size:
                    break
                ids.append(row_id)
                events += batch_events(row_type, subject)
            if not ids:
                return 0
            claimed = (
                table.c.id == any_(bindparam("ids", ids, type_=ARRAY(BigInteger)))
                if postgres  # one array parameter instead of thousands of bound values
                else table.c.id.in_(ids)
            )
            rows = await conn.execute(records_query(table).where(claimed))
            await self.log.append_records([EventRecord(*row) for row in rows])
            # Relayed rows are deleted, not marked: the log is their record from now on, the
            # outbox stays small, and a delete writes no new row version and index entries.
            await conn.execute(delete(table).where(claimed))
        RELAYED.labels(self.source).inc(events)
        return events

    async def drain(self) -> int:
        """Relay until the outbox is empty; returns the events handled."""
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

    def next_poll(self, interval: float) -> float:
        """Seconds until the next poll: `poll_interval` (longer while listening for
        `wake_relay`), or while held `HELD_POLL_SECONDS` (listening,
        `HELD_LISTENING_POLL_SECONDS`)."""
        listening = self.wakeup.listening
        if self._held_since is None:
            return poll_interval(interval, listening=listening)
        if listening:
            return HELD_LISTENING_POLL_SECONDS
        return min(interval, HELD_POLL_SECONDS)

    async def run_forever(self, *, interval: float, stop: asyncio.Event) -> None:
        """Poll until `stop` is set (and on `wake_relay`, within `WAKE_GAP_SECONDS`); errors
        are logged and retried with back-off."""
        delay = interval
        while not stop.is_set():
            await self.wakeup.watch()
            began = time.monotonic()
            try:
                handled = await self.drain()
                delay = self.next_poll(interval)
                if handled:
                    logger.info("relayed", extra={"count": handled})
            except Exception:
                logger.exception("relay failed; retrying")
                delay = min(delay * 2, 5.0)
                await stopped_within(stop, delay)
                continue
            if await self.wakeup.wait(delay, stop=stop):
                gap = WAKE_GAP_SECONDS - (time.monotonic() - began)
                if gap > 0:
                    await stopped_within(stop, gap)

    async def close(self) -> None:
        """Stop listening for `wake_relay`."""
        await self.wakeup.close()
