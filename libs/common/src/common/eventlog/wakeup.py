"""Wake-ups between processes: PostgreSQL LISTEN/NOTIFY, with polling as the fallback.

A relay or consumer polls its table every fraction of a second; between polls, new work waits.
On PostgreSQL the writer also sends a notification on a channel (delivered when its transaction
commits), and the poller waits on that channel as well as on its timer, so that it starts at
once and can poll less often. A notification is only a hint: nothing is lost when one is
missed (the timer still fires), and on SQLite, or while the listening connection is down,
waiting is the timer alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

logger = logging.getLogger("common.eventlog.wakeup")
# How often a relay or consumer that wake-ups reach looks for work anyway, in case one was lost
# with its connection. Polling every 0.2 s, an idle relay took 25 ms of CPU a second and the
# indicators consumer 44 ms, taken from an import running beside them (measured, ADR 0012).
LISTENING_POLL_SECONDS = 2.0


async def notify(target: AsyncConnection | AsyncSession, channel: str) -> None:
    """Send a notification on `channel` when the caller's transaction commits (PostgreSQL;
    elsewhere nothing). Several in one transaction arrive as one."""
    bind = target.get_bind() if isinstance(target, AsyncSession) else target
    if bind.dialect.name == "postgresql":
        await target.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})


def poll_interval(interval: float, *, listening: bool) -> float:
    """Seconds between looks for work: `interval`, or while wake-ups reach the caller at least
    `LISTENING_POLL_SECONDS`."""
    return max(interval, LISTENING_POLL_SECONDS) if listening else interval


async def stopped_within(stop: asyncio.Event, seconds: float) -> None:
    """Wait up to `seconds` for `stop` (a back-off after an error: no wake-up ends it)."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


class Wakeup:
    """Waits until a notification arrives on one channel, or a timeout passes.

    The listening connection is opened by `listen` (and again after it was lost) and kept out
    of the engine's pool until `close`. Call `watch` before looking for work and `wait` after:
    a notification that arrives in between makes `wait` return at once.
    """

    def __init__(self, engine: AsyncEngine, channel: str) -> None:
        self.engine = engine
        self.channel = channel
        self._notified = asyncio.Event()
        self._connection: AsyncConnection | None = None
        self._driver: Any = None

    @property
    def listening(self) -> bool:
        """True while the listening connection is open."""
        return self._driver is not None and not self._driver.is_closed()

    async def listen(self) -> bool:
        """Open the listening connection unless it is open; False where there is none (not
        PostgreSQL, or the connection failed: then the caller polls on its timer alone)."""
        if self.listening or self.engine.dialect.name != "postgresql":
            return self.listening
        await self._release()
        connection = await self.engine.connect()
        try:
            driver: Any = (await connection.get_raw_connection()).driver_connection
            await driver.add_listener(self.channel, self._on_notification)
        except Exception:
            await connection.close()
            logger.warning("could not listen for wake-ups", extra={"channel": self.channel})
            return False
        self._connection, self._driver = connection, driver
        return True

    def _on_notification(self, *_args: Any) -> None:
        self._notified.set()

    def clear(self) -> None:
        """Forget notifications so far (call before looking for work)."""
        self._notified.clear()

    async def watch(self) -> None:
        """`listen` (where it can; otherwise the timer alone), then `clear`."""
        with contextlib.suppress(Exception):
            await self.listen()
        self.clear()

    async def wait(self, seconds: float, *, stop: asyncio.Event | None = None) -> bool:
        """Wait up to `seconds` for a notification since `clear` (or for `stop`);
        True when one came (never while not listening: then the timer alone)."""
        waiters = [asyncio.ensure_future(self._notified.wait())]
        if stop is not None:
            waiters.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return self._notified.is_set()

    async def close(self) -> None:
        """Stop listening and give the connection back."""
        await self._release()

    async def _release(self) -> None:
        connection, driver = self._connection, self._driver
        self._connection = self._driver = None
        if connection is None:
            return
        with contextlib.suppress(Exception):  # a lost connection has nothing to undo
            if not driver.is_closed():
                await driver.remove_listener(self.channel, self._on_notification)
            await connection.close()
