"""Tables owned by the indicators service: reader models of events, checkpoints, baselines."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db import new_metadata
from common.eventlog.consumer import consumer_tables


class Base(DeclarativeBase):
    """Declarative base of this service's own metadata."""

    metadata = new_metadata()


checkpoints, dead_letters = consumer_tables(Base.metadata)


class CertificateFact(Base):
    """What the indicators need of one certificate, built from evaluation's events."""

    __tablename__ = "certificate_facts"

    certificate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_key: Mapped[str] = mapped_column(String(64), index=True)
    level: Mapped[str] = mapped_column(String(32))
    level_rank: Mapped[int] = mapped_column(Integer)
    town: Mapped[str] = mapped_column(String(32), index=True)
    issued_on: Mapped[date] = mapped_column(Date, index=True)
    revoked_on: Mapped[date | None] = mapped_column(Date)


class EmployedBaseline(Base):
    """Employed persons (从业人员) of a year, entered by officials; the denominator of shares."""

    __tablename__ = "employed_baselines"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    persons: Mapped[int] = mapped_column(Integer)
