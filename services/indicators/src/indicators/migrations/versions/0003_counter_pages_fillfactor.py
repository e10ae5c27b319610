"""counter pages left 30 % free for HOT updates (PostgreSQL)

Adding to a counter rewrites its row; with room on the page PostgreSQL keeps the new version on
the same page without a new index entry (a HOT update). Pages written from now on keep the room;
`VACUUM FULL indicator_deltas` would repack the existing ones (not done here: it locks the table).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 12:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE indicator_deltas SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE indicator_deltas RESET (fillfactor)")
