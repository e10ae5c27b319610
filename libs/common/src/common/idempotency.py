"""`Idempotency-Key` for POSTs that create things (draft-ietf-httpapi-idempotency-key-header).

The key is stored per client with a fingerprint of the request body and the response, in the
same transaction as the effect. Same key and body: the stored response is replayed. Same key,
different body: 422. A concurrent request with the same key waits on the first one's row lock
(PostgreSQL) or the database lock (SQLite) and then replays its committed response. Keys are
kept `retention_days` (pruning is an operations job).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, cast

from fastapi import Depends, Header
from sqlalchemy import (
    JSON,
    Column,
    CursorResult,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import DomainError

_KEY = re.compile(r'^"?([A-Za-z0-9_.:-]{8,255})"?$')


class IdempotencyKeyMissing(DomainError):
    """The operation requires an Idempotency-Key header."""

    status_code = 400
    slug = "idempotency-key-missing"
    title = "An Idempotency-Key header is required"


class IdempotencyKeyInvalid(DomainError):
    """The header is not an acceptable key."""

    status_code = 400
    slug = "idempotency-key-invalid"
    title = "The Idempotency-Key must be 8-255 characters of A-Z a-z 0-9 _ . : -"


class IdempotencyKeyReused(DomainError):
    """The same key was used with a different request body."""

    status_code = 422
    slug = "idempotency-key-reused"
    title = "This Idempotency-Key was used with a different request"


def idempotency_table(metadata: MetaData) -> Table:
    """The `idempotency_keys` table in a service's own database."""
    return Table(
        "idempotency_keys",
        metadata,
        Column("client", String(100), primary_key=True),
        Column("key", String(255), primary_key=True),
        Column("fingerprint", String(64), nullable=False),
        Column("status_code", Integer),
        Column("body", JSON),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )


def fingerprint(payload: bytes) -> str:
    """SHA-256 of the request body."""
    return hashlib.sha256(payload).hexdigest()


async def idempotency_key_header(
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> str:
    """FastAPI dependency: the validated key (400 problem when missing or malformed)."""
    if idempotency_key is None:
        raise IdempotencyKeyMissing()
    match = _KEY.match(idempotency_key.strip())
    if match is None:
        raise IdempotencyKeyInvalid()
    return match.group(1)


IdempotencyKey = Annotated[str, Depends(idempotency_key_header)]


@dataclass(frozen=True)
class StoredResponse:
    """A response recorded under a key."""

    status_code: int
    body: Any


class IdempotencyStore:
    """Claims keys and records responses inside the caller's transaction."""

    def __init__(self, table: Table) -> None:
        self.table = table

    async def claim(
        self, session: AsyncSession, *, client: str, key: str, fingerprint: str
    ) -> StoredResponse | None:
        """Claim the key for this request, or return the response already recorded under it."""
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        claimed = await session.execute(
            insert(self.table)
            .values(client=client, key=key, fingerprint=fingerprint, created_at=datetime.now(UTC))
            .on_conflict_do_nothing(index_elements=["client", "key"])
        )
        if cast(CursorResult[Any], claimed).rowcount == 1:
            return None
        row = (
            await session.execute(
                select(self.table).where(self.table.c.client == client, self.table.c.key == key)
            )
        ).one()
        if row.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        if row.status_code is None:  # claimed by this very transaction earlier
            return None
        return StoredResponse(status_code=row.status_code, body=row.body)

    async def record(
        self, session: AsyncSession, *, client: str, key: str, status_code: int, body: Any
    ) -> None:
        """Store the response for later replays (same transaction as the effect)."""
        await session.execute(
            update(self.table)
            .where(self.table.c.client == client, self.table.c.key == key)
            .values(status_code=status_code, body=body)
        )
