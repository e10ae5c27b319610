"""Tables owned by the training service.

Counters that must never be exceeded (`classes.seats_taken`, `programme_quotas.used`) are changed
only by single-statement conditional updates, and CHECK constraints back them up in the database.
Raw ID numbers and names are stored only encrypted (SM4-GCM, column name bound as context) next
to masked copies for rosters; across tables a person is their `person_key`.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db import new_metadata
from common.eventlog.outbox import outbox_table
from common.idempotency import idempotency_table


class Base(DeclarativeBase):
    """Declarative base of this service's own metadata."""

    metadata = new_metadata()


outbox = outbox_table(Base.metadata)
idempotency_keys = idempotency_table(Base.metadata)

ACTIVE_ENROLMENT = text("status IN ('enrolled', 'waiting')")


class ProgrammeQuota(Base):
    """A programme (domain) in a year: its person-times quota and how much of it is taken."""

    __tablename__ = "programme_quotas"
    __table_args__ = (
        CheckConstraint("used >= 0", name="used_not_negative"),
        CheckConstraint("quota IS NULL OR used <= quota", name="used_within_quota"),
    )

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain: Mapped[str] = mapped_column(String(32), primary_key=True)
    quota: Mapped[int | None] = mapped_column(Integer)  # None: no cap (the plan gives none)
    used: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    talents_target: Mapped[int | None] = mapped_column(Integer)
    policy_version: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class QuotaAdjustment(Base):
    """Audit trail of quota changes by district officials."""

    __tablename__ = "quota_adjustments"
    __table_args__ = (Index("ix_quota_adjustments_year_domain", "year", "domain"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    domain: Mapped[str] = mapped_column(String(32))
    old_quota: Mapped[int | None] = mapped_column(Integer)
    new_quota: Mapped[int] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    adjusted_by: Mapped[str] = mapped_column(String(128))
    adjusted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Institution(Base):
    """A registered training institution (培训机构); its token's subject is its id."""

    __tablename__ = "institutions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Site(Base):
    """A training site of an institution, with its town and coordinates (WGS-84)."""

    __tablename__ = "sites"
    __table_args__ = (Index("ix_sites_latitude_longitude", "latitude", "longitude"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))
    town: Mapped[str] = mapped_column(String(32), index=True)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TrainingClass(Base):
    """A class: one run of a programme by an institution."""

    __tablename__ = "classes"
    __table_args__ = (
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint(
            "seats_taken >= 0 AND seats_taken <= capacity", name="seats_within_capacity"
        ),
        CheckConstraint("ends_on >= starts_on", name="dates_ordered"),
        Index("ix_classes_year_domain", "year", "domain"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"), index=True)
    domain: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    occupation_code: Mapped[str | None] = mapped_column(String(16))
    occupation_name: Mapped[str | None] = mapped_column(String(100))
    level: Mapped[str | None] = mapped_column(String(32))
    capacity: Mapped[int] = mapped_column(Integer)
    seats_taken: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    waitlist_seq: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    year: Mapped[int] = mapped_column(Integer)  # quota year: the year the class starts
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"))
    town: Mapped[str] = mapped_column(String(32), index=True)
    mode: Mapped[str] = mapped_column(String(16))
    policy_version: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Enrolment(Base):
    """A person's place in a class: `enrolled` (holds a seat), `waiting` (in order), `cancelled`."""

    __tablename__ = "enrolments"
    __table_args__ = (
        Index(
            "uq_enrolments_active_person",
            "class_id",
            "person_key",
            unique=True,
            postgresql_where=ACTIVE_ENROLMENT,
            sqlite_where=ACTIVE_ENROLMENT,
        ),
        Index("ix_enrolments_class_status_seq", "class_id", "status", "waitlist_seq"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    class_id: Mapped[str] = mapped_column(ForeignKey("classes.id"))
    person_key: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    waitlist_seq: Mapped[int | None] = mapped_column(Integer)
    enrolled_by: Mapped[str] = mapped_column(String(16))  # citizen | institution
    id_cipher: Mapped[bytes | None] = mapped_column(LargeBinary)
    name_cipher: Mapped[bytes | None] = mapped_column(LargeBinary)
    id_masked: Mapped[str | None] = mapped_column(String(18))
    name_masked: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    enrolled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by: Mapped[str | None] = mapped_column(String(16))


class CompletionBatch(Base):
    """One posted batch of completions (the per-record answers live in the idempotency store)."""

    __tablename__ = "completion_batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    records: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    posted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Completion(Base):
    """A trainee's completion (结业) of a class, as posted by the institution."""

    __tablename__ = "completions"
    __table_args__ = (
        UniqueConstraint("class_id", "person_key"),
        Index("ix_completions_person_key_year", "person_key", "year"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("completion_batches.id"), index=True)
    class_id: Mapped[str] = mapped_column(ForeignKey("classes.id"))
    enrolment_id: Mapped[str] = mapped_column(ForeignKey("enrolments.id"))
    institution_id: Mapped[str] = mapped_column(String(36))
    person_key: Mapped[str] = mapped_column(String(64))
    id_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    name_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    id_masked: Mapped[str] = mapped_column(String(18))
    name_masked: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(8))
    hours: Mapped[float] = mapped_column(Float)
    completed_on: Mapped[date] = mapped_column(Date)
    year: Mapped[int] = mapped_column(Integer)
    domain: Mapped[str] = mapped_column(String(32))
    town: Mapped[str] = mapped_column(String(32))
    policy_version: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class KeyGroupMembership(Base):
    """A person's membership of a key group (重点群体) and whether they are willing to train."""

    __tablename__ = "key_group_memberships"
    __table_args__ = (
        UniqueConstraint("person_key", "group_code"),
        Index("ix_key_group_memberships_group_town", "group_code", "town"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_key: Mapped[str] = mapped_column(String(64))
    group_code: Mapped[str] = mapped_column(String(32))
    town: Mapped[str] = mapped_column(String(32))
    willing: Mapped[bool] = mapped_column(Boolean)
    recorded_on: Mapped[date] = mapped_column(Date)
    recorded_by_kind: Mapped[str] = mapped_column(String(16))
    recorded_by: Mapped[str] = mapped_column(String(128))
    id_cipher: Mapped[bytes | None] = mapped_column(LargeBinary)
    name_cipher: Mapped[bytes | None] = mapped_column(LargeBinary)
    id_masked: Mapped[str | None] = mapped_column(String(18))
    name_masked: Mapped[str | None] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
