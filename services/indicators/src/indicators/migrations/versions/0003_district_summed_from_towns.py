"""district counters summed from the towns when read

The district (`*`) rows of `indicator_deltas` are no longer written: a district value is the
sum of every town's rows (the unassigned bucket `-` included), added up when read. Their old
rows would be counted twice, so they go. The downgrade writes them back from the towns' rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 12:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM indicator_deltas WHERE town = '*'"))


def downgrade() -> None:
    op.execute(
        sa.text(
            "INSERT INTO indicator_deltas (town, grain, bucket, code, delta)"
            " SELECT '*', grain, bucket, code, SUM(delta) FROM indicator_deltas"
            " GROUP BY grain, bucket, code"
        )
    )
