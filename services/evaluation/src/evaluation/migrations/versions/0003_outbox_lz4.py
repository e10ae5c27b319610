"""outbox data compressed with lz4 on PostgreSQL

An import's events reach the outbox as batch rows of up to 5,000 events (~3 MB of JSON each,
`common.eventlog.outbox.pack`). PostgreSQL compresses values that large with pglz by default:
31–40 ms to insert such a row, against 12 ms with lz4, and reading it back is faster too
(measured, PostgreSQL 15). Servers built without lz4 keep pglz; SQLite has no such setting.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 15:55:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _set_compression(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "DO $$ BEGIN"
        f" ALTER TABLE outbox ALTER COLUMN data SET COMPRESSION {method};"
        " EXCEPTION WHEN feature_not_supported THEN NULL;"
        " END $$"
    )


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("default")
