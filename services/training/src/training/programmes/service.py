"""Programme quotas per (year, domain): seeded from policy data, taken and released atomically.

Rows for a year are created from the policy version in effect on 1 January of that year on first
use (a class created for that year, or a quota adjustment); reads before that show the policy's
figures with nothing used. Taking a unit is one conditional UPDATE (`used < quota`), so under any
concurrency a quota is never exceeded; the CHECK constraint `used <= quota` backs it up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import InvalidField
from common.ids import new_id
from training.db import insert_ignore
from training.exceptions import ProgrammeNotFound, QuotaBelowUsed
from training.models import Completion, ProgrammeQuota, QuotaAdjustment
from training.rules import TrainingPolicies, TrainingPolicy

quotas = cast(Table, ProgrammeQuota.__table__)


@dataclass(frozen=True)
class ProgrammeView:
    """A programme in a year as officials read it."""

    year: int
    domain: str
    name_zh: str
    quota: int | None
    used: int
    remaining: int | None
    talents_target: int | None
    completions: int
    policy_version: str


def policy_for_year(policies: TrainingPolicies, year: int) -> TrainingPolicy:
    """The policy that sets a year's quotas; 422 when no version covers the year."""
    policy = policies.for_year(year)
    if policy is None:
        raise InvalidField(
            field="year", reason="no_policy", message="No policy version is in effect for that year"
        )
    return policy


async def ensure_year(session: AsyncSession, *, policy: TrainingPolicy, year: int) -> None:
    """Create the year's quota rows from policy data (no-op for rows that exist)."""
    await insert_ignore(
        session,
        quotas,
        [
            {
                "year": year,
                "domain": d.code,
                "quota": d.person_times_quota,
                "used": 0,
                "talents_target": d.talents_target,
                "policy_version": policy.version,
            }
            for d in policy.domains.values()
        ],
        keys=["year", "domain"],
    )


async def take_quota(session: AsyncSession, *, year: int, domain: str) -> bool:
    """Take one unit of a year/domain quota; False when it is used up. Locks the row to commit."""
    taken = await session.execute(
        update(quotas)
        .where(
            quotas.c.year == year,
            quotas.c.domain == domain,
            (quotas.c.quota.is_(None)) | (quotas.c.used < quotas.c.quota),
        )
        .values(used=quotas.c.used + 1)
        .returning(quotas.c.used)
    )
    return taken.first() is not None


async def release_quota(session: AsyncSession, *, year: int, domain: str) -> None:
    """Give one unit back (a cancelled seat)."""
    await session.execute(
        update(quotas)
        .where(quotas.c.year == year, quotas.c.domain == domain, quotas.c.used > 0)
        .values(used=quotas.c.used - 1)
    )


async def list_programmes(
    session: AsyncSession, *, policies: TrainingPolicies, year: int
) -> list[ProgrammeView]:
    """Every programme of the year with quota, use and completions recorded."""
    policy = policy_for_year(policies, year)
    rows = {
        r.domain: r
        for r in (await session.execute(select(quotas).where(quotas.c.year == year))).all()
    }
    done: dict[str, int] = {
        domain: int(count)
        for domain, count in (
            await session.execute(
                select(Completion.domain, func.count())
                .where(Completion.year == year)
                .group_by(Completion.domain)
            )
        ).all()
    }
    views: list[ProgrammeView] = []
    for domain in policy.domains.values():
        row = rows.get(domain.code)
        quota = row.quota if row is not None else domain.person_times_quota
        used = row.used if row is not None else 0
        views.append(
            ProgrammeView(
                year=year,
                domain=domain.code,
                name_zh=domain.name_zh,
                quota=quota,
                used=used,
                remaining=None if quota is None else quota - used,
                talents_target=row.talents_target if row is not None else domain.talents_target,
                completions=int(done.get(domain.code, 0)),
                policy_version=row.policy_version if row is not None else policy.version,
            )
        )
    return views


async def adjust_quota(
    session: AsyncSession,
    *,
    policies: TrainingPolicies,
    year: int,
    domain: str,
    quota: int,
    reason: str,
    adjusted_by: str,
    now: datetime,
) -> QuotaAdjustment:
    """Set a year's quota for a domain (never below what is used) and audit the change."""
    policy = policy_for_year(policies, year)
    if domain not in policy.domains:
        raise ProgrammeNotFound()
    await ensure_year(session, policy=policy, year=year)
    # Lock the row (PostgreSQL; SQLite holds the database write lock) so that no enrolment takes
    # a unit between the check and the update.
    row = (
        await session.execute(
            select(quotas.c.quota, quotas.c.used)
            .where(quotas.c.year == year, quotas.c.domain == domain)
            .with_for_update()
        )
    ).one()
    if quota < row.used:
        raise QuotaBelowUsed(used=row.used)
    await session.execute(
        update(quotas)
        .where(quotas.c.year == year, quotas.c.domain == domain)
        .values(quota=quota, updated_at=now)
    )
    adjustment = QuotaAdjustment(
        id=new_id(),
        year=year,
        domain=domain,
        old_quota=row.quota,
        new_quota=quota,
        used=row.used,
        reason=reason,
        adjusted_by=adjusted_by,
        adjusted_at=now,
    )
    session.add(adjustment)
    await session.flush()
    return adjustment


async def list_adjustments(
    session: AsyncSession, *, year: int, domain: str, limit: int, cursor: str | None
) -> list[QuotaAdjustment]:
    """The audit trail of one programme's quota in a year, oldest first."""
    query = select(QuotaAdjustment).where(
        QuotaAdjustment.year == year, QuotaAdjustment.domain == domain
    )
    if cursor:
        query = query.where(QuotaAdjustment.id > cursor)
    return list((await session.scalars(query.order_by(QuotaAdjustment.id).limit(limit))).all())
