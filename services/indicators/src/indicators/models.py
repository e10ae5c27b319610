"""Tables owned by the indicators service: facts read from events, delta counters, baselines.

- `certificate_facts`, `completion_facts`, `membership_facts`: per-person state, so an event
  recomputes only its person's timeline (`indicators.timeline`).
- `reward_facts`: reward grants and reversals (money flows, no person).
- `indicator_counters`: the rollups. One row per (town, grain, bucket, component): grain `m` = a
  month (bucket = its first day) holds the sum of the deltas dated in it (`total`) and, in
  `through01` … `through31`, the sum of those dated on or before each day (running sums); grain
  `y` = a year (bucket = 1 January) holds only its `total`. Every delta is added to its month and
  its year, for its town and for the district (`*`). A value as of D reads at most (years before
  D) + 12 month rows per component, one column of D's own month: the cost of a read depends on
  the calendar, not on the number of certificates. A batch adds to about one row per town,
  component and month it touches (ADR 0009).
- `employed_baselines` and `baseline_changes`: the employed-persons baseline officials enter per
  year (who/when audited). Not from the log, so a rebuild keeps them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Table,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db import new_metadata
from common.eventlog.consumer import consumer_tables


class Base(DeclarativeBase):
    """Declarative base of this service's own metadata."""

    metadata = new_metadata()


checkpoints, dead_letters = consumer_tables(Base.metadata)


def _person_key_index(table: str) -> Index:
    """Person keys are only compared for equality: a hash index on PostgreSQL (migration
    0004), cheaper to insert into and to probe than a B-tree; a B-tree on SQLite."""
    return Index(f"ix_{table}_person_key", "person_key", postgresql_using="hash")


class CertificateFact(Base):
    """What the indicators need of one certificate (issue fields empty until the issue arrives)."""

    __tablename__ = "certificate_facts"
    __table_args__ = (_person_key_index("certificate_facts"),)

    certificate_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_key: Mapped[str] = mapped_column(String(64))
    level: Mapped[str | None] = mapped_column(String(32))
    level_rank: Mapped[int] = mapped_column(Integer, default=0)
    town: Mapped[str | None] = mapped_column(String(32))
    occupation_code: Mapped[str | None] = mapped_column(String(16))
    issued_on: Mapped[date | None] = mapped_column(Date)
    revoked_on: Mapped[date | None] = mapped_column(Date)
    flagged_on: Mapped[date | None] = mapped_column(Date)


class CompletionFact(Base):
    """One training completion."""

    __tablename__ = "completion_facts"
    __table_args__ = (_person_key_index("completion_facts"),)

    completion_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_key: Mapped[str] = mapped_column(String(64))
    domain: Mapped[str] = mapped_column(String(64))
    town: Mapped[str] = mapped_column(String(32))
    completed_on: Mapped[date] = mapped_column(Date)
    key_group: Mapped[bool] = mapped_column(Boolean)
    result: Mapped[str] = mapped_column(String(16))


class MembershipFact(Base):
    """One key-group membership record (every record kept: as-of reads need the history)."""

    __tablename__ = "membership_facts"
    __table_args__ = (_person_key_index("membership_facts"),)

    membership_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_key: Mapped[str] = mapped_column(String(64))
    group: Mapped[str] = mapped_column(String(64))
    town: Mapped[str] = mapped_column(String(32))
    willing: Mapped[bool] = mapped_column(Boolean)
    recorded_on: Mapped[date] = mapped_column(Date)
    position: Mapped[int] = mapped_column(BigInteger)


class RewardFact(Base):
    """A self-assessment reward grant (`g:<entry>`) or reversal (`r:<entry>:<date>:<fen>`)."""

    __tablename__ = "reward_facts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # negative for a reversal
    effective_on: Mapped[date] = mapped_column(Date)
    town: Mapped[str | None] = mapped_column(String(32))  # of the certificate


THROUGH_COLUMNS = tuple(f"through{day:02d}" for day in range(1, 32))

# Core only (the store reads and writes it in bulk). SQLite: clustered by the key. PostgreSQL:
# pages left 30 % free, so that adding to a counter rewrites its row on the same page (a HOT
# update: no new index entry); most of a batch's upserts hit existing month and year rows.
indicator_counters = Table(
    "indicator_counters",
    Base.metadata,
    Column("town", String(32), primary_key=True),
    Column("grain", String(1), primary_key=True),
    Column("bucket", Date, primary_key=True),
    Column("code", String(96), primary_key=True),
    Column("total", BigInteger, nullable=False),
    *(Column(name, BigInteger, nullable=False, server_default="0") for name in THROUGH_COLUMNS),
    sqlite_with_rowid=False,
    postgresql_with={"fillfactor": 70},
)


class EmployedBaseline(Base):
    """Employed persons (从业人员) of a year, entered by officials; the denominator of shares."""

    __tablename__ = "employed_baselines"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    persons: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_by: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BaselineChange(Base):
    """Audit trail of baseline entries: who set which value when."""

    __tablename__ = "baseline_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    persons: Mapped[int] = mapped_column(Integer)
    previous: Mapped[int | None] = mapped_column(Integer)
    changed_by: Mapped[str] = mapped_column(String(128))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    request_id: Mapped[str | None] = mapped_column(String(128))
