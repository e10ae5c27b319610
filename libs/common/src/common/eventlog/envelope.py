"""CloudEvents 1.0 envelope of every event on the shared log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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


@dataclass(frozen=True)
class LoggedEvent:
    """An event as read back from the log, with its position."""

    position: int
    event: Event


def event_type(service: str, entity: str, action: str, version: int = 1) -> str:
    """`cn.dinghai.skills.<service>.<entity>.<action>.v<N>` (past tense action)."""
    return f"{TYPE_PREFIX}{service}.{entity}.{action}.v{version}"
