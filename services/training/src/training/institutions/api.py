"""HTTP handlers of institutions and their sites."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Response, status

from common.auth import Principal, PrincipalKind
from training.access import AnyCaller, DistrictAdmin, Official, Policies, Today
from training.db import SessionDep
from training.exceptions import InstitutionNotFound
from training.institutions import service
from training.institutions.schemas import (
    InstitutionCreate,
    InstitutionRead,
    InstitutionStatusUpdate,
    SiteCreate,
    SiteRead,
)
from training.models import Institution
from training.rules import INSTITUTION_STATUS_ZH
from training.schemas import Cursor, Limit, Page

router = APIRouter(prefix="/v1/institutions", tags=["institutions"])


def _read(institution: Institution, warnings: list[str] | None = None) -> InstitutionRead:
    return InstitutionRead(
        id=institution.id,
        name=institution.name,
        uscc=institution.uscc,
        status=institution.status,
        status_zh=INSTITUTION_STATUS_ZH[institution.status],
        created_at=institution.created_at,
        warnings=warnings or [],
    )


def _check_self_or_official(principal: Principal, institution_id: str) -> None:
    """An institution sees itself only (404 for others); officials see every institution."""
    if principal.kind is PrincipalKind.OFFICIAL:
        return
    if principal.kind is PrincipalKind.INSTITUTION and principal.subject == institution_id:
        return
    raise InstitutionNotFound()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=InstitutionRead,
    summary="Register a training institution (district officials)",
    responses={200: {"description": "Already registered under this USCC and name"}},
)
async def register_institution(
    body: InstitutionCreate, principal: DistrictAdmin, session: SessionDep, response: Response
) -> InstitutionRead:
    """Register; the same USCC and name again returns the stored institution with 200."""
    institution, warnings, created = await service.register_institution(
        session,
        name=body.name,
        uscc=body.uscc,
        created_by=principal.subject,
        now=datetime.now(UTC),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return _read(institution, warnings)


@router.get("", response_model=Page[InstitutionRead], summary="Institutions (officials)")
async def list_institutions(
    _principal: Official, session: SessionDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[InstitutionRead]:
    """Registered institutions in registration order."""
    rows = await service.list_institutions(session, limit=limit, cursor=cursor)
    items = [_read(r) for r in rows]
    return Page(items=items, next_cursor=items[-1].id if len(items) == limit else None)


@router.get("/{institution_id}", response_model=InstitutionRead, summary="One institution")
async def get_institution(
    institution_id: str, principal: AnyCaller, session: SessionDep
) -> InstitutionRead:
    """Officials, or the institution itself."""
    _check_self_or_official(principal, institution_id)
    return _read(await service.get_institution(session, institution_id))


@router.patch(
    "/{institution_id}",
    response_model=InstitutionRead,
    summary="Suspend, reactivate or exit an institution (district officials)",
)
async def update_status(
    institution_id: str,
    body: InstitutionStatusUpdate,
    _principal: DistrictAdmin,
    session: SessionDep,
) -> InstitutionRead:
    """Only `active` institutions may create classes, enrol trainees or post completions."""
    institution = await service.set_status(
        session, institution_id=institution_id, status=body.status, now=datetime.now(UTC)
    )
    return _read(institution)


@router.post(
    "/{institution_id}/sites",
    status_code=status.HTTP_201_CREATED,
    response_model=SiteRead,
    summary="Add a training site (the institution itself, or district officials)",
)
async def add_site(
    institution_id: str,
    body: SiteCreate,
    principal: AnyCaller,
    session: SessionDep,
    policies: Policies,
    today: Today,
) -> SiteRead:
    """A site with its town and coordinates; sites count for the 30-minute circle."""
    if principal.is_district_official:
        await service.get_institution(session, institution_id)
    elif principal.kind is PrincipalKind.INSTITUTION and principal.subject == institution_id:
        await service.active_institution(session, institution_id)
    else:
        raise InstitutionNotFound()
    site = await service.add_site(
        session,
        institution_id=institution_id,
        name=body.name,
        address=body.address,
        town=body.town,
        latitude=body.latitude,
        longitude=body.longitude,
        policy=policies.latest,
        today=today,
        now=datetime.now(UTC),
    )
    return SiteRead.model_validate(site)


@router.get(
    "/{institution_id}/sites", response_model=list[SiteRead], summary="An institution's sites"
)
async def list_sites(
    institution_id: str, principal: AnyCaller, session: SessionDep
) -> list[SiteRead]:
    """Officials, or the institution itself."""
    _check_self_or_official(principal, institution_id)
    await service.get_institution(session, institution_id)
    return [
        SiteRead.model_validate(s)
        for s in await service.list_sites(session, institution_id=institution_id)
    ]
