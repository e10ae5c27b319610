"""CloudEvents 1.0 envelope of every event on the shared log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from common.ids import new_id

SPECVERSION = "1.0"
TYPE_PREFIX = "cn.dinghai.skills."


@dataclass(frozen=True)
class Event:
    """One event. `personkey` and `town` are CloudEvents extensions; never raw personal data."""

    type: str
    source: str
    subject: str
    data: dict[str, Any]
    id: str = field(default_factory=new_id)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    personkey: str | None = None
    town: str | None = None
    traceparent: str | None = None
    specversion: str = SPECVERSION
    datacontenttype: str = "application/json"

    @classmethod
    def restored(
        cls,
        event_id: str,
        type_: str,
        source: str,
        subject: str,
        time: datetime,
        personkey: str | None,
        town: str | None,
        traceparent: str | None,
        data: dict[str, Any],
    ) -> Event:
        """An event as stored (all fields given, `time` timezone-aware), built without the
        generated `__init__`.

        A frozen dataclass's `__init__` sets each field through `object.__setattr__`: 2.9 µs an
        event read back, against 0.9 µs here (measured), and a catch-up reads a hundred thousand.
        The result is equal to the `__init__`-built event (a test checks it).
        """
        event = object.__new__(cls)
        event.__dict__.update(
            type=type_,
            source=source,
            subject=subject,
            data=data,
            id=event_id,
            time=time,
            personkey=personkey,
            town=town,
            traceparent=traceparent,
            specversion=SPECVERSION,
            datacontenttype="application/json",
        )
        return event

    def to_cloudevent(self) -> dict[str, Any]:
        """The structured-mode CloudEvents JSON document."""
        document: dict[str, Any] = {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "subject": self.subject,
            "time": self.time.isoformat(),
            "datacontenttype": self.datacontenttype,
            "data": self.data,
        }
        for ext in ("personkey", "town", "traceparent"):
            value = getattr(self, ext)
            if value is not None:
                document[ext] = value
        return document


# The columns of an `EventRecord` in outboxes and the log, in field order (`data` holds its
# `data_json`).
RECORD_COLUMNS = (
    "event_id",
    "type",
    "source",
    "subject",
    "time",
    "personkey",
    "town",
    "traceparent",
    "request_id",
    "data",
)


def encode_data(data: dict[str, Any]) -> str:
    """An event's data as JSON text (orjson: ~15x faster than the standard library here)."""
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode()


class EventRecord(NamedTuple):
    """An event as outboxes and the log store it: its data already serialised as JSON text.

    The relay moves these from an outbox to the log without decoding and re-encoding the data.
    """

    id: str
    type: str
    source: str
    subject: str
    time: datetime
    personkey: str | None
    town: str | None
    traceparent: str | None
    request_id: str | None
    data_json: str

    @classmethod
    def of(cls, event: Event, *, request_id: str | None = None) -> EventRecord:
        """The record of an event."""
        return cls(
            event.id,
            event.type,
            event.source,
            event.subject,
            event.time,
            event.personkey,
            event.town,
            event.traceparent,
            request_id,
            encode_data(event.data),
        )


@dataclass(frozen=True)
class LoggedEvent:
    """An event as read back from the log, with its position."""

    position: int
    event: Event

    @classmethod
    def restored(cls, position: int, event: Event) -> LoggedEvent:
        """As `Event.restored`: built without the frozen dataclass's per-field `__init__`."""
        logged = object.__new__(cls)
        logged.__dict__.update(position=position, event=event)
        return logged


def event_type(service: str, entity: str, action: str, version: int = 1) -> str:
    """`cn.dinghai.skills.<service>.<entity>.<action>.v<N>` (past tense action)."""
    return f"{TYPE_PREFIX}{service}.{entity}.{action}.v{version}"
