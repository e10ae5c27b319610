"""Tables owned by the evaluation service."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
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


class Body(Base):
    """An evaluation body (评价机构): an employer (Y) or a social evaluation organisation (S)."""

    __tablename__ = "bodies"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    type: Mapped[str] = mapped_column(String(1))
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str | None] = mapped_column(String(18))
    filing_number: Mapped[str | None] = mapped_column(String(64))
    filed_on: Mapped[date | None] = mapped_column(Date)
    legacy: Mapped[bool] = mapped_column(Boolean, default=False)
    registered_by: Mapped[str] = mapped_column(String(100))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BodyStatusChange(Base):
    """One append-only row of a body's status history; the status on a date is the latest row
    effective on or before it."""

    __tablename__ = "body_status_changes"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    body_code: Mapped[str] = mapped_column(String(16), ForeignKey("bodies.code"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    effective_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(500))
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Certificate(Base):
    """A vocational skill certificate (职业技能等级证书 or older qualification certificate)."""

    __tablename__ = "certificates"
    # Kept cheap to maintain: an import inserts a hundred thousand rows at once, and index upkeep
    # was most of that insert (migration 0004). Person keys are only ever compared for equality:
    # a hash index on PostgreSQL. Lookups by employer always name one: rows without an employer
    # (older stock, holders who named none) are left out.
    __table_args__ = (
        Index("ix_certificates_holder_person_key", "holder_person_key", postgresql_using="hash"),
        Index(
            "ix_certificates_employer_uscc",
            "employer_uscc",
            sqlite_where=text("employer_uscc IS NOT NULL"),
            postgresql_where=text("employer_uscc IS NOT NULL"),
        ),
        CheckConstraint(
            "(holder_cipher IS NOT NULL AND holder_id_cipher IS NULL"
            " AND holder_name_cipher IS NULL) OR (holder_cipher IS NULL"
            " AND holder_id_cipher IS NOT NULL AND holder_name_cipher IS NOT NULL)",
            name="holder_cipher_form",
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    number_format: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(32))
    occupation_code: Mapped[str] = mapped_column(String(16))
    occupation_name: Mapped[str] = mapped_column(String(100))
    occupation_edition: Mapped[str] = mapped_column(String(8))
    holder_person_key: Mapped[str] = mapped_column(String(64))
    # The holder's ID number and name, encrypted together (`certificates.store.seal_holder`,
    # ADR 0011). Rows recorded before migration 0005 hold them in the two columns after it.
    holder_cipher: Mapped[bytes | None] = mapped_column(LargeBinary)
    holder_id_cipher: Mapped[bytes | None] = mapped_column(LargeBinary)
    holder_name_cipher: Mapped[bytes | None] = mapped_column(LargeBinary)
    holder_id_masked: Mapped[str] = mapped_column(String(18))
    holder_name_masked: Mapped[str] = mapped_column(String(64))
    # HMAC of the normalised name with the pepper: public verification compares names without
    # decrypting anything. Null for rows recorded before it existed (`python -m evaluation
    # backfill-name-digests` fills them).
    holder_name_digest: Mapped[str | None] = mapped_column(String(64))
    issued_on: Mapped[date] = mapped_column(Date)
    employer_uscc: Mapped[str | None] = mapped_column(String(18))
    mode: Mapped[str] = mapped_column(String(32))
    town: Mapped[str] = mapped_column(String(32))
    body_code: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="valid")
    revoked_on: Mapped[date | None] = mapped_column(Date)
    revocation_reason: Mapped[str | None] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    flagged_reason: Mapped[str | None] = mapped_column(String(32))
    flagged_on: Mapped[date | None] = mapped_column(Date)
    import_job_id: Mapped[str | None] = mapped_column(String(36))
    policy_version: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RewardEnterpriseYear(Base):
    """The running total of one enterprise's self-assessment reward in one year.

    Its row is locked (`SELECT ... FOR UPDATE` on PostgreSQL) while the year's entries change,
    so concurrent issues and revocations for one enterprise-year are serialised.
    """

    __tablename__ = "reward_enterprise_years"

    enterprise_uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    granted_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    persons: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RewardEntry(Base):
    """One person's reward entry for an enterprise-year (granted, later perhaps reversed)."""

    __tablename__ = "reward_entries"
    __table_args__ = (
        Index("ix_reward_entries_enterprise_year", "enterprise_uscc", "year"),
        Index(
            "uq_reward_entries_granted_person",
            "enterprise_uscc",
            "year",
            "person_key",
            unique=True,
            sqlite_where=text("status = 'granted'"),
            postgresql_where=text("status = 'granted'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    enterprise_uscc: Mapped[str] = mapped_column(String(18))
    year: Mapped[int] = mapped_column(Integer)
    person_key: Mapped[str] = mapped_column(String(64))
    certificate_id: Mapped[str] = mapped_column(String(36))
    town: Mapped[str] = mapped_column(String(32))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    per_person_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    granted_on: Mapped[date] = mapped_column(Date)
    reversed_on: Mapped[date | None] = mapped_column(Date)
    reversal_reason: Mapped[str | None] = mapped_column(String(32))
    policy_version: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reversed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ImportJob(Base):
    """A bulk import of certificates from an uploaded CSV or XLSX file."""

    __tablename__ = "import_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    file_format: Mapped[str] = mapped_column(String(8))
    file_sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    total_rows: Mapped[int | None] = mapped_column(Integer)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    submitted_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# Per-row problems of an import: row number, field and reason code, never the rejected value.
import_errors = Table(
    "import_errors",
    Base.metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("job_id", String(36), nullable=False),
    Column("row_number", Integer, nullable=False),
    Column("field", String(64), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("message", String(200), nullable=False),
    Index("ix_import_errors_job_row", "job_id", "row_number"),
)

# Reads of personal data by officials (DESIGN.md §1.6): who read what, when.
audit_reads = Table(
    "audit_reads",
    Base.metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("principal_kind", String(32), nullable=False),
    Column("principal_subject", String(100), nullable=False),
    Column("role", String(32)),
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=False),
)
