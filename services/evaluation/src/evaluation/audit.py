"""The audit trail of officials' reads of personal data (DESIGN.md §1.6). Never commits."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from common.auth import Principal
from evaluation.models import audit_reads


async def record_read(
    session: AsyncSession, *, principal: Principal, action: str, target: str
) -> None:
    """Write who read what, in the request's transaction."""
    await session.execute(
        insert(audit_reads).values(
            at=datetime.now(UTC),
            principal_kind=principal.kind.value,
            principal_subject=principal.subject[:100],
            role=principal.role.value if principal.role else None,
            action=action,
            target=target[:200],
        )
    )
