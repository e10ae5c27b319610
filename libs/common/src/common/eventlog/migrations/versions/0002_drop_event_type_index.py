"""The log's index on `type` dropped: nothing reads the log by type.

Consumers read by position (`WHERE position > $1 ORDER BY position`) and the append checks known
ids through the unique `event_id` index; the `type` index was only written. Every appended event
paid for it: COPYing 112,700 certificate events in batches of 8,500 took 2.24–2.29 s with it and
1.88–2.03 s without (PostgreSQL 15, measured 2026-11-27). Ad-hoc queries by type scan the log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 21:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_event_log_type", table_name="event_log")


def downgrade() -> None:
    op.create_index("ix_event_log_type", "event_log", ["type"])
