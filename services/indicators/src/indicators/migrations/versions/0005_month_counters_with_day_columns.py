"""counters: one row per month with a running sum per day, and one per year (ADR 0009)

`indicator_deltas` kept a row per day, seven-day block, month and year; `indicator_counters`
keeps a row per month (its total, and in `through01` … `through31` the sum of its deltas dated on
or before each day) and per year (its total).
A batch of 10,000 imported certificates adds to ~4,700 rows instead of ~35,600, and a value as of
a date reads at most years + 12 rows per component. The existing counters are carried over from
their day and year rows (the week and month rows were sums of those), so no replay is needed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 20:30:00.000000
"""

from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

THROUGH = tuple(f"through{day:02d}" for day in range(1, 32))
KEY = ("town", "grain", "bucket", "code")


def _key_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("town", sa.String(length=32), nullable=False),
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("bucket", sa.Date(), nullable=False),
        sa.Column("code", sa.String(length=96), nullable=False),
    ]


def _create_deltas() -> sa.Table:
    """`indicator_deltas` as revisions 0002 and 0003 left it."""
    return op.create_table(
        "indicator_deltas",
        *_key_columns(),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*KEY, name=op.f("pk_indicator_deltas")),
        sqlite_with_rowid=False,
        postgresql_with={"fillfactor": 70},
    )


def _create_counters() -> sa.Table:
    return op.create_table(
        "indicator_counters",
        *_key_columns(),
        sa.Column("total", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), server_default="0", nullable=False) for name in THROUGH),
        sa.PrimaryKeyConstraint(*KEY, name=op.f("pk_indicator_counters")),
        sqlite_with_rowid=False,  # clustered by the key (SQLite); reads scan the key range only
        postgresql_with={"fillfactor": 70},  # room for HOT updates, as in revision 0003
    )


def _table(name: str, *values: str) -> sa.TableClause:
    """A lightweight handle on a table this revision reads (dates typed, so read as dates)."""
    return sa.table(
        name,
        sa.column("town"),
        sa.column("grain"),
        sa.column("bucket", sa.Date()),
        sa.column("code"),
        *(sa.column(value) for value in values),
    )


def upgrade() -> None:
    counters = _create_counters()
    deltas = _table("indicator_deltas", "delta")
    sums: dict[tuple[Any, ...], list[int]] = {}
    rows = op.get_bind().execute(
        sa.select(*[deltas.c[name] for name in (*KEY, "delta")]).where(
            deltas.c.grain.in_(("d", "y"))
        )
    )
    for town, grain, bucket, code, delta in rows:
        if grain == "y":
            sums.setdefault((town, "y", bucket, code), [0] * 32)[0] += delta
        else:
            month = sums.setdefault((town, "m", bucket.replace(day=1), code), [0] * 32)
            month[0] += delta
            for day in range(bucket.day, 32):  # the running sums from its day on
                month[day] += delta
    op.bulk_insert(
        counters,
        [
            dict(zip(KEY, key, strict=True)) | dict(zip(("total", *THROUGH), values, strict=True))
            for key, values in sums.items()
            if any(values)
        ],
    )
    op.drop_table("indicator_deltas")


def _week_start(day: date) -> date:
    return day.replace(day=(day.day - 1) // 7 * 7 + 1)


def downgrade() -> None:
    deltas = _create_deltas()
    counters = _table("indicator_counters", "total", *THROUGH)
    out: dict[tuple[Any, ...], int] = {}
    for town, grain, bucket, code, total, *through in op.get_bind().execute(
        sa.select(*counters.columns)
    ):
        if grain == "y":
            out[(town, "y", bucket, code)] = out.get((town, "y", bucket, code), 0) + total
            continue
        out[(town, "m", bucket, code)] = total
        for number, (before, upto) in enumerate(zip([0, *through], through, strict=False), 1):
            value = upto - before  # the day's own sum
            if value:
                day = bucket.replace(day=number)
                week = (town, "w", _week_start(day), code)
                out[(town, "d", day, code)] = value
                out[week] = out.get(week, 0) + value
    op.bulk_insert(
        deltas,
        [
            dict(zip(KEY, key, strict=True)) | {"delta": value}
            for key, value in out.items()
            if value
        ],
    )
    op.drop_table("indicator_counters")
