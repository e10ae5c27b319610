"""Computing indicators from the reader models. Never commits."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from common.eventlog.backend import EventLog
from indicators.models import CertificateFact, EmployedBaseline, checkpoints, dead_letters
from indicators.rules import (
    IndicatorPolicy,
    meets,
    progress_percent,
    share_percent,
)
from indicators.schemas import IndicatorValue


async def _distinct_persons(
    session: AsyncSession, *, as_of: date, town: str | None, min_rank: int = 0
) -> int:
    """Distinct persons holding a certificate valid on `as_of` (at or above `min_rank`)."""
    query = select(func.count(func.distinct(CertificateFact.person_key))).where(
        CertificateFact.issued_on <= as_of,
        or_(CertificateFact.revoked_on.is_(None), CertificateFact.revoked_on > as_of),
        CertificateFact.level_rank >= min_rank,
    )
    if town is not None:
        query = query.where(CertificateFact.town == town)
    return int((await session.execute(query)).scalar_one())


async def measured_values(
    session: AsyncSession, *, policy: IndicatorPolicy, year: int, as_of: date, town: str | None
) -> dict[str, float | None]:
    """The values this service can measure so far, by indicator code."""
    skilled = await _distinct_persons(session, as_of=as_of, town=town)
    high = await _distinct_persons(
        session, as_of=as_of, town=town, min_rank=policy.high_skilled_rank
    )
    baseline = await session.get(EmployedBaseline, year)
    return {
        "skilled_talents": skilled,
        "high_skilled_talents": high,
        "high_skilled_share": share_percent(high, skilled),
        "skilled_talent_share": (
            share_percent(skilled, baseline.persons) if baseline and town is None else None
        ),
    }


async def indicator_values(
    session: AsyncSession, *, policy: IndicatorPolicy, year: int, as_of: date, town: str | None
) -> list[IndicatorValue]:
    """Every indicator of the policy, zero until its source events exist."""
    measured: dict[str, Any] = await measured_values(
        session, policy=policy, year=year, as_of=as_of, town=town
    )
    values = []
    for definition in policy.all_definitions():
        value = measured.get(definition.code, 0)
        target = definition.targets.get(str(year)) if town is None else None
        values.append(
            IndicatorValue(
                code=definition.code,
                name_zh=definition.name_zh,
                unit=definition.unit,
                value=value,
                target=target,
                progress_percent=progress_percent(value, target),
                on_track=meets(value, target, definition.comparison),
            )
        )
    return values


async def lag(session: AsyncSession, *, log: EventLog, consumer: str) -> int:
    """How many log events the rollups have not applied yet."""
    position = (
        await session.execute(
            select(checkpoints.c.position).where(checkpoints.c.consumer == consumer)
        )
    ).scalar_one_or_none()
    return max(0, await log.head() - int(position or 0))


async def reset_rollups(session: AsyncSession, *, consumer: str) -> None:
    """Empty every reader model and the checkpoint, so the log can be replayed from the start."""
    await session.execute(delete(CertificateFact))
    await session.execute(delete(dead_letters).where(dead_letters.c.consumer == consumer))
    await session.execute(delete(checkpoints).where(checkpoints.c.consumer == consumer))
