"""Autogenerate a migration: `uv run python tools/make_migration.py <service> "message" <rev-id>`.

Compares the service's models with an empty SQLite database at its current head.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import Connection

from common.db import make_engine
from common.migrations import alembic_config


def _revise(connection: Connection, script_location: str, message: str, rev_id: str) -> None:
    config = alembic_config(script_location)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    command.revision(config, message=message, autogenerate=True, rev_id=rev_id)


async def main(service: str, message: str, rev_id: str) -> None:
    """Write the new revision file into the service's migrations/versions."""
    script_location = f"{service}:migrations"
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'scratch.db'}")
        async with engine.begin() as conn:
            await conn.run_sync(_revise, script_location, message, rev_id)
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
