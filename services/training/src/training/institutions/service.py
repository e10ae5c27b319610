"""Training institutions (registered by district officials) and their sites. Never commits."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import InvalidField
from common.identifiers import check_uscc
from common.ids import new_id
from training.exceptions import (
    InstitutionInactive,
    InstitutionNotFound,
    InstitutionNotRegistered,
    InstitutionUsccTaken,
)
from training.models import Institution, Site
from training.rules import TrainingPolicy


async def register_institution(
    session: AsyncSession, *, name: str, uscc: str, created_by: str, now: datetime
) -> tuple[Institution, list[str], bool]:
    """Register an institution; returns (institution, warnings, created).

    Registering the same USCC and name again returns the stored institution (idempotent); the
    same USCC under another name is a conflict. A USCC checksum failure is only a warning
    (POLICY.md §7: some real, legal early codes fail it).
    """
    check = check_uscc(uscc)
    if not check.well_formed:
        raise InvalidField(
            field="uscc", reason="format", message="Not a unified social credit code"
        )
    warnings = [check.warning] if check.warning else []
    existing = (
        await session.execute(select(Institution).where(Institution.uscc == check.code))
    ).scalar_one_or_none()
    if existing is not None:
        if existing.name == name:
            return existing, warnings, False
        raise InstitutionUsccTaken()
    institution = Institution(
        id=new_id(),
        name=name,
        uscc=check.code,
        status="active",
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    session.add(institution)
    await session.flush()
    return institution, warnings, True


async def get_institution(session: AsyncSession, institution_id: str) -> Institution:
    """An institution by id; 404 when unknown."""
    institution = await session.get(Institution, institution_id)
    if institution is None:
        raise InstitutionNotFound()
    return institution


async def active_institution(session: AsyncSession, institution_id: str) -> Institution:
    """The calling institution, which must be registered (403) and active (403)."""
    institution = await session.get(Institution, institution_id)
    if institution is None:
        raise InstitutionNotRegistered()
    if institution.status != "active":
        raise InstitutionInactive()
    return institution


async def registered_institution(session: AsyncSession, institution_id: str) -> Institution:
    """The calling institution, which must be registered (read access while suspended)."""
    institution = await session.get(Institution, institution_id)
    if institution is None:
        raise InstitutionNotRegistered()
    return institution


async def set_status(
    session: AsyncSession, *, institution_id: str, status: str, now: datetime
) -> Institution:
    """Suspend, reactivate or exit an institution."""
    institution = await get_institution(session, institution_id)
    institution.status = status
    institution.updated_at = now
    await session.flush()
    return institution


async def list_institutions(
    session: AsyncSession, *, limit: int, cursor: str | None
) -> list[Institution]:
    """Institutions in registration order."""
    query = select(Institution)
    if cursor:
        query = query.where(Institution.id > cursor)
    return list((await session.scalars(query.order_by(Institution.id).limit(limit))).all())


async def add_site(
    session: AsyncSession,
    *,
    institution_id: str,
    name: str,
    address: str,
    town: str,
    latitude: float,
    longitude: float,
    policy: TrainingPolicy,
    today: date,
    now: datetime,
) -> Site:
    """Add a training site of an institution."""
    if not policy.town_valid_on(town, today):
        raise InvalidField(field="town", reason="unknown_town", message="Unknown town code")
    site = Site(
        id=new_id(),
        institution_id=institution_id,
        name=name,
        address=address,
        town=town,
        latitude=latitude,
        longitude=longitude,
        created_at=now,
    )
    session.add(site)
    await session.flush()
    return site


async def list_sites(session: AsyncSession, *, institution_id: str) -> list[Site]:
    """An institution's sites."""
    query = select(Site).where(Site.institution_id == institution_id).order_by(Site.id)
    return list((await session.scalars(query)).all())
