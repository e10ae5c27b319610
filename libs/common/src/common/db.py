"""Database plumbing: async engines for SQLite and PostgreSQL, one transaction per unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import ColumnElement, MetaData, String, Text, bindparam, event, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    """A MetaData with the house naming convention (stable constraint names across databases)."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    """Declarative base for services that want one; each service still owns its own metadata."""

    metadata = new_metadata()


# Joins the keys of `key_array`: the ASCII unit separator, in no identifier the services make.
KEY_SEPARATOR = "\x1f"


def key_array(name: str, keys: Collection[str]) -> ColumnElement[Any]:
    """Thousands of string keys as one PostgreSQL `text[]` value, for `column = ANY(...)`.

    Sent as one text joined by `KEY_SEPARATOR` and split by the server (`string_to_array`):
    asyncpg encodes a list element by element, with two abstract-class checks each (~6 ms of
    client CPU for 10,000 keys, against ~0.8 ms joined; measured). Keys that hold the separator,
    or an empty key (alone, `string_to_array` would split it into no key at all), go as a list
    parameter instead.
    """
    joined = KEY_SEPARATOR.join(keys)
    if "" in keys or joined.count(KEY_SEPARATOR) != max(len(keys) - 1, 0):
        return bindparam(name, list(keys), type_=ARRAY(String()))
    return func.string_to_array(bindparam(name, joined, type_=Text()), KEY_SEPARATOR)


def is_sqlite(url: str) -> bool:
    """True when the URL names an SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def is_postgres_url(url: str | None) -> bool:
    """True when the URL names a PostgreSQL database."""
    return url is not None and url != "" and make_url(url).get_backend_name() == "postgresql"


def _prepare_sqlite(engine: AsyncEngine) -> None:
    # pysqlite/aiosqlite start transactions lazily and upgrade read locks to write locks, which
    # deadlocks under concurrency; take the write lock up front instead (BEGIN IMMEDIATE) and let
    # SQLAlchemy own transaction boundaries.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an async engine; SQLite files get WAL, a busy timeout and immediate transactions."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)
        _prepare_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit (responses are built after the commit)."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction: commit when the block succeeds, roll back when it raises."""
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's transaction: commit when the handler returns, roll back when it raises."""
    async with unit_of_work(request.app.state.sessionmaker) as session:
        yield session


# scope="function": the commit runs when the handler returns, *before* the response is sent, so
# a failed commit can never be reported to the client as a success (FastAPI's default scope runs
# the exit code after the response has been sent).
SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]
