"""Tables owned by the finance service."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from common.db import new_metadata
from common.eventlog.outbox import outbox_table


class Base(DeclarativeBase):
    """Declarative base of this service's own metadata."""

    metadata = new_metadata()


outbox = outbox_table(Base.metadata)
