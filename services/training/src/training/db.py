"""This service's database: the request session (one transaction), migrations, small SQL helpers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, String, Table, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import SessionDep

MIGRATIONS = "training:migrations"
# Values per `IN (...)` list: well under asyncpg's 32,767 and SQLite's 32,766 parameters.
IN_LIST_CHUNK = 2000
T = TypeVar("T")


def dialect_name(session: AsyncSession) -> str:
    """`postgresql` or `sqlite`."""
    return session.get_bind().dialect.name


async def insert_ignore(
    session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]], *, keys: list[str]
) -> None:
    """INSERT … ON CONFLICT (keys) DO NOTHING, on either database."""
    if not rows:
        return
    insert = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
    await session.execute(insert(table).on_conflict_do_nothing(index_elements=keys), list(rows))


def chunks(values: Sequence[T], size: int = IN_LIST_CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` values."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def member_of(
    session: AsyncSession, column: ColumnElement[str], values: Sequence[str]
) -> Iterator[ColumnElement[bool]]:
    """Conditions `column IN values`, one per statement to run: on PostgreSQL a single
    `= ANY($1::VARCHAR[])` (one parameter, one cached plan), elsewhere `IN (...)` in chunks."""
    if dialect_name(session) == "postgresql":
        yield column == any_(bindparam(None, list(values), type_=ARRAY(String)))
        return
    for part in chunks(values):
        yield column.in_(part)


__all__ = ["MIGRATIONS", "SessionDep", "chunks", "dialect_name", "insert_ignore", "member_of"]
