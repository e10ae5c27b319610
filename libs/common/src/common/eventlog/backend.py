"""The interface every log backend offers (SQL now; NATS JetStream can implement the same)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from common.eventlog.envelope import Event, EventRecord, LoggedEvent


class EventLog(Protocol):
    """Append-only, ordered, deduplicated by event id."""

    async def append(
        self, events: Sequence[Event], *, request_ids: Sequence[str | None] | None = None
    ) -> int:
        """Append the events whose ids are new; returns how many were appended."""
        ...

    async def append_records(self, records: Sequence[EventRecord]) -> int:
        """Append records (data already JSON text) whose ids are new; returns how many."""
        ...

    async def read(self, *, after: int, limit: int = 500) -> list[LoggedEvent]:
        """Events after a position, in log order."""
        ...

    async def time_after(self, after: int) -> datetime | None:
        """The time of the first event after a position (None when there is none)."""
        ...

    async def head(self) -> int:
        """The newest position."""
        ...

    @property
    def notices_appends(self) -> bool:
        """True while an append ends `wait_for_append` (on PostgreSQL, while it listens)."""
        ...

    async def watch_appends(self) -> None:
        """Notice appends from now on, forgetting earlier ones (call before reading)."""
        ...

    async def wait_for_append(self, seconds: float, *, stop: asyncio.Event | None = None) -> bool:
        """Wait up to `seconds` for an append since `watch_appends`, or for `stop`;
        True when one was noticed (a backend that notices none waits them out)."""
        ...

    async def close(self) -> None:
        """Release what waiting for appends holds."""
        ...
