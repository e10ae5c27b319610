"""A log row may hold a producer's batch of events: `count`, and `position` is its last event's.

Existing rows hold one event each (`count` 1), so nothing is rewritten on the way up. The way
down splits every batch row into rows of its events, at their own positions (ADR 0010).

A batch row holds ~3 MB of JSON: on PostgreSQL `data` is compressed with lz4 instead of pglz, as
the evaluation outbox's is (31–40 ms against 12 ms to store one, measured; servers built without
lz4 keep pglz; SQLite has no such setting).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 23:10:00.000000
"""

from collections.abc import Sequence
from datetime import datetime

import orjson
import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH_TYPE = "cn.dinghai.skills.eventlog.batch.v1"  # as in common.eventlog.outbox, frozen here


def _set_compression(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "DO $$ BEGIN"
        f" ALTER TABLE event_log ALTER COLUMN data SET COMPRESSION {method};"
        " EXCEPTION WHEN feature_not_supported THEN NULL;"
        " END $$"
    )


def upgrade() -> None:
    with op.batch_alter_table("event_log") as table:
        table.add_column(sa.Column("count", sa.Integer(), nullable=False, server_default="1"))
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("default")
    bind = op.get_bind()
    log = sa.table(
        "event_log",
        *(
            sa.column(name)
            for name in (
                "position",
                "count",
                "event_id",
                "type",
                "source",
                "subject",
                "personkey",
                "town",
                "traceparent",
                "request_id",
            )
        ),
        sa.column("time", sa.DateTime(timezone=True)),
        sa.column("appended_at", sa.DateTime(timezone=True)),
        sa.column("data", sa.Text()),
    )
    # One batch row (~3 MB) in memory at a time.
    positions = bind.execute(
        sa.select(log.c.position).where(log.c.type == BATCH_TYPE).order_by(log.c.position)
    ).scalars()
    batches = (
        bind.execute(
            sa.select(
                log.c.position,
                log.c.count,
                log.c.source,
                log.c.appended_at,
                sa.cast(log.c.data, sa.Text()),
            ).where(log.c.position == position)
        ).one()
        for position in list(positions)
    )
    # The events' data is JSON text already; PostgreSQL's json column takes it by a cast.
    data: sa.ColumnElement[str] = sa.bindparam("data", type_=sa.Text())
    rows = log.insert().values(
        data=sa.cast(data, sa.JSON()) if bind.dialect.name == "postgresql" else data
    )
    for position, count, source, appended_at, packed in batches:
        items = orjson.loads(packed)
        bind.execute(log.delete().where(log.c.position == position))
        bind.execute(
            rows,
            [
                {
                    "position": position - count + 1 + index,
                    "count": 1,
                    "event_id": item[0],
                    "type": item[1],
                    "source": source,
                    "subject": item[2],
                    "time": datetime.fromisoformat(item[3]),
                    "personkey": item[4],
                    "town": item[5],
                    "traceparent": item[6],
                    "request_id": item[7],
                    "appended_at": appended_at,
                    # Batches packed by earlier versions hold each event's data as text.
                    "data": item[8] if isinstance(item[8], str) else orjson.dumps(item[8]).decode(),
                }
                for index, item in enumerate(items)
            ],
        )
    with op.batch_alter_table("event_log") as table:
        table.drop_column("count")
