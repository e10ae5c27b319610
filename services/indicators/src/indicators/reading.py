"""Reading the log into changes: in the consumer's process, or in a process of its own.

A batch of the log becomes a `ReadBatch`: every event read with its tolerant model into a change
(`indicators.handlers.read_change`), or into a dead letter when it cannot be read. Fetching the
batch, decoding it and reading its events is about half of the rollup consumer's CPU in a
catch-up (0.53 + 0.35 s of ~2.5 s for the 112,700-row import's log, measured), and the consumer
is one process. With a `ReadingProcess` (ADR 0007, amended), that half runs in a second
process, on the other core, one batch ahead of the batch being applied. What crosses the process
boundary is the changes and, beside them, plain lists of positions, event ids and types (for a
dead letter, should a change fail to apply), never the events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

from common.collector import collector_paused
from common.db import make_engine
from common.eventlog.consumer import DeadLetter
from common.eventlog.envelope import LoggedEvent
from common.eventlog.sql_log import SqlEventLog
from common.processes import single_process_pool
from indicators.changes import Change, Issue
from indicators.rules import IndicatorPolicy
from indicators.timeline import Certificate

Reader = Callable[[LoggedEvent, IndicatorPolicy], Change | None]


@dataclass
class ReadBatch:
    """A batch of the log read into changes; position i of `changes`, `positions`,
    `event_ids` and `types` is the i-th event that became a change."""

    count: int  # events read
    first: int  # the log position of the first (0 when none was read)
    last: int  # the log position of the last
    changes: list[Change] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    unread: list[DeadLetter] = field(default_factory=list)  # events that could not be read

    def dead_letter(self, index: int, exc: BaseException) -> DeadLetter:
        """The dead letter of the i-th change, which failed to apply with `exc`."""
        return DeadLetter(
            self.positions[index], self.event_ids[index], self.types[index], type(exc).__name__
        )

    def __getstate__(self) -> dict[str, Any]:
        """Pickled with its certificate issues as columns (`_packed`)."""
        state = self.__dict__.copy()
        state["changes"] = _packed(self.changes)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["changes"] = _unpacked(state["changes"])
        self.__dict__.update(state)

    def extend(self, more: ReadBatch) -> None:
        """Add the batch read after this one (a slice of the same batch)."""
        if not self.count:
            self.first = more.first
        self.count += more.count
        self.last = more.last if more.count else self.last
        self.changes += more.changes
        self.positions += more.positions
        self.event_ids += more.event_ids
        self.types += more.types
        self.unread += more.unread


# The fields of a `Certificate`, in the order of the columns `_packed` makes of issues.
_FIELDS = tuple(f.name for f in fields(Certificate))
_DATES = {"issued_on", "revoked_on", "flagged_on"}


def _packed(changes: list[Change]) -> tuple[list[list[Any]], list[tuple[int, Change]]]:
    """Changes for pickling: the certificates of `Issue`s (nearly all of a catch-up's changes)
    as one list per field, dates as ordinals, and the other changes as they are, with their
    place. A batch of 10,000 issues pickles in 9 instead of 21 ms and unpickles in 7 instead of
    16 ms (measured with the collector paused; with it running, one by one took 47 and 22 ms,
    about what reading those events had cost)."""
    columns: list[list[Any]] = [[] for _ in _FIELDS]
    others: list[tuple[int, Change]] = []
    for index, change in enumerate(changes):
        if type(change) is not Issue:
            others.append((index, change))
            continue
        values = change.certificate.__dict__
        for column, name in zip(columns, _FIELDS, strict=True):
            value = values[name]
            column.append(value.toordinal() if name in _DATES and value is not None else value)
    return columns, others


def _unpacked(packed: tuple[list[list[Any]], list[tuple[int, Change]]]) -> list[Change]:
    """The changes `_packed` took apart, in their order."""
    columns, others = packed
    days: dict[int, date] = {}  # an import's certificates share their issue dates
    for index, name in enumerate(_FIELDS):
        if name in _DATES:
            columns[index] = [
                None if v is None else days.get(v) or days.setdefault(v, date.fromordinal(v))
                for v in columns[index]
            ]
    issues = (Issue(Certificate(*values)) for values in zip(*columns, strict=True))
    changes: list[Change] = []
    for index, change in others:
        while len(changes) < index:
            changes.append(next(issues))
        changes.append(change)
    changes.extend(issues)
    return changes


def read_batch(events: Sequence[LoggedEvent], read: Reader, policy: IndicatorPolicy) -> ReadBatch:
    """The events read into changes (None-changes dropped) and dead letters."""
    batch = ReadBatch(
        len(events),
        events[0].position if events else 0,
        events[-1].position if events else 0,
    )
    for logged in events:
        try:
            change = read(logged, policy)
        except Exception as exc:
            batch.unread.append(DeadLetter.of(logged, exc))
            continue
        if change is not None:
            batch.changes.append(change)
            batch.positions.append(logged.position)
            batch.event_ids.append(logged.event.id)
            batch.types.append(logged.event.type)
    return batch


_process: dict[str, Any] = {}  # in the reading process: its event loop, log, reader and policy


def _start(eventlog_url: str, read: Reader, policy: IndicatorPolicy) -> None:
    engine = make_engine(eventlog_url, pool_size=1)
    _process.update(
        loop=asyncio.new_event_loop(), log=SqlEventLog(engine), read=read, policy=policy
    )


def _read(after: int, limit: int) -> ReadBatch:
    """The log's next batch, read into changes (in the reading process)."""
    with collector_paused():  # a batch's events are alive until it is read, as in the consumer
        events = _process["loop"].run_until_complete(_process["log"].read(after=after, limit=limit))
        return read_batch(events, _process["read"], _process["policy"])


class ReadingProcess:
    """Reads batches of the log into changes in a process of its own (started on first use,
    and again after it died)."""

    def __init__(self, *, eventlog_url: str, read: Reader, policy: IndicatorPolicy) -> None:
        self.eventlog_url = eventlog_url
        self.read_change = read
        self.policy = policy
        self._pool: ProcessPoolExecutor | None = None

    async def read(self, *, after: int, limit: int) -> ReadBatch:
        """The `limit` events after `after`, read into changes."""
        if self._pool is None:
            self._pool = single_process_pool(
                _start, (self.eventlog_url, self.read_change, self.policy)
            )
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, _read, after, limit)
        except BrokenProcessPool:
            self.close()
            raise

    def close(self) -> None:
        """Stop the process (a read under way is cancelled)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
