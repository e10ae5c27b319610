"""Public verification, a citizen's own certificates, an enterprise's counts. Never commits."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from evaluation.context import EvaluationContext
from evaluation.holders.schemas import (
    EnterpriseLevels,
    LevelCount,
    OwnCertificate,
    VerificationResult,
    VerifiedCertificate,
)
from evaluation.models import Body, Certificate
from evaluation.rules import name_digest

certificates: Table = Certificate.__table__
NOT_FOUND = VerificationResult(result="not_found")


async def verify(
    session: AsyncSession, *, number: str, name: str, ctx: EvaluationContext
) -> VerificationResult:
    """valid / revoked with masked details when number and name match; else `not_found`.

    The name is compared as an HMAC (nothing is decrypted), and the same work is done whether
    the number exists or not.
    """
    digest = name_digest(name, pepper=ctx.pepper)
    row = (
        await session.execute(
            select(certificates, Body.name.label("body_name"))
            .outerjoin(Body, Body.code == certificates.c.body_code)
            .where(certificates.c.number == number.strip())
        )
    ).first()
    if row is None or row.holder_name_digest is None or row.holder_name_digest != digest:
        return NOT_FOUND
    level = ctx.policy.levels.get(row.level)
    return VerificationResult(
        result="revoked" if row.status == "revoked" else "valid",
        certificate=VerifiedCertificate(
            number=row.number,
            level=row.level,
            level_name_zh=level.name_zh if level else row.level,
            occupation_code=row.occupation_code,
            occupation_name=row.occupation_name,
            holder_name_masked=row.holder_name_masked,
            issued_on=row.issued_on,
            body_code=row.body_code,
            body_name=row.body_name,
            status=row.status,
            revoked_on=row.revoked_on,
            flag=row.flagged_reason,
        ),
    )


async def own_certificates(
    session: AsyncSession, *, person_key: str, ctx: EvaluationContext
) -> list[OwnCertificate]:
    """The certificates held by the person, newest first."""
    rows = await session.execute(
        select(certificates)
        .where(certificates.c.holder_person_key == person_key)
        .order_by(certificates.c.issued_on.desc(), certificates.c.id)
    )
    result = []
    for row in rows:
        level = ctx.policy.levels.get(row.level)
        values: dict[str, Any] = dict(row._mapping)
        values["level_name_zh"] = level.name_zh if level else row.level
        result.append(OwnCertificate.model_validate(values))
    return result


async def enterprise_levels(
    session: AsyncSession, *, uscc: str, ctx: EvaluationContext, today: date
) -> EnterpriseLevels:
    """Distinct employees by level, and by highest level."""
    rows = await session.execute(
        select(certificates.c.holder_person_key, certificates.c.level).where(
            certificates.c.employer_uscc == uscc.upper(),
            certificates.c.status == "valid",
            certificates.c.flagged_reason.is_(None),
        )
    )
    levels = ctx.policy.levels
    holders: dict[str, set[str]] = {code: set() for code in levels}
    highest: dict[str, str] = {}
    for person, level in rows:
        if level not in levels:
            continue
        holders[level].add(person)
        best = highest.get(person)
        if best is None or levels[level].rank > levels[best].rank:
            highest[person] = level
    tops: dict[str, int] = {}
    for level in highest.values():
        tops[level] = tops.get(level, 0) + 1
    return EnterpriseLevels(
        enterprise_uscc=uscc.upper(),
        as_of=today,
        persons=len(highest),
        high_skilled_persons=sum(1 for lv in highest.values() if ctx.policy.is_high_skilled(lv)),
        levels=[
            LevelCount(
                level=code,
                name_zh=policy.name_zh,
                rank=policy.rank,
                persons=len(holders[code]),
                highest=tops.get(code, 0),
            )
            for code, policy in sorted(levels.items(), key=lambda item: item[1].rank)
        ],
    )
