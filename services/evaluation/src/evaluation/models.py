"""Tables owned by the evaluation service."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, LargeBinary, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db import new_metadata
from common.eventlog.outbox import outbox_table


class Base(DeclarativeBase):
    """Declarative base of this service's own metadata."""

    metadata = new_metadata()


outbox = outbox_table(Base.metadata)


class Certificate(Base):
    """A vocational skill certificate (职业技能等级证书 or older qualification certificate)."""

    __tablename__ = "certificates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    number_format: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(32))
    occupation_code: Mapped[str] = mapped_column(String(16))
    occupation_name: Mapped[str] = mapped_column(String(100))
    occupation_edition: Mapped[str] = mapped_column(String(8))
    holder_person_key: Mapped[str] = mapped_column(String(64), index=True)
    holder_id_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    holder_name_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    holder_id_masked: Mapped[str] = mapped_column(String(18))
    holder_name_masked: Mapped[str] = mapped_column(String(64))
    issued_on: Mapped[date] = mapped_column(Date)
    employer_uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    mode: Mapped[str] = mapped_column(String(32))
    town: Mapped[str] = mapped_column(String(32))
    body_code: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="valid")
    policy_version: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
