"""Alembic plumbing shared by every service: one env.py body, upgrade, and the readiness check."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import make_engine


def alembic_config(script_location: str, url: str = "") -> Config:
    """An in-memory Alembic config for a package's migrations (e.g. `evaluation:migrations`)."""
    config = Config()
    config.set_main_option("script_location", script_location)
    config.set_main_option("path_separator", "os")
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def run_env(target_metadata: MetaData) -> None:
    """The body of every `migrations/env.py`: migrate the connection handed in, or the URL's DB."""
    from alembic import context

    def _run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return

    async def _online() -> None:
        engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
        await engine.dispose()

    asyncio.run(_online())


async def upgrade(url: str, script_location: str, revision: str = "head") -> None:
    """Apply migrations to the database at `url`."""
    await _run(url, script_location, command.upgrade, revision)


async def downgrade(url: str, script_location: str, revision: str = "base") -> None:
    """Revert migrations (used by migration round-trip tests)."""
    await _run(url, script_location, command.downgrade, revision)


async def _run(
    url: str, script_location: str, alembic_command: Callable[[Config, str], None], revision: str
) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run_on, script_location, alembic_command, revision)
    finally:
        await engine.dispose()


def _run_on(
    connection: Connection,
    script_location: str,
    alembic_command: Callable[[Config, str], None],
    revision: str,
) -> None:
    config = alembic_config(script_location)
    config.attributes["connection"] = connection
    alembic_command(config, revision)


def _current_heads(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def migration_state(engine: AsyncEngine, script_location: str) -> dict[str, Any]:
    """Current and expected revisions of a database."""
    expected = set(ScriptDirectory.from_config(alembic_config(script_location)).get_heads())
    async with engine.connect() as conn:
        current = await conn.run_sync(_current_heads)
    return {"current": sorted(current), "head": sorted(expected), "at_head": current == expected}


async def schema_drift(engine: AsyncEngine, metadata: MetaData) -> list[Any]:
    """What Alembic's autogenerate would change to make a migrated database match `metadata`
    (tables, columns, types, indexes, unique and foreign keys; not CHECK constraints): empty
    when the models and the migrations agree."""

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with engine.connect() as conn:
        return await conn.run_sync(compare)
