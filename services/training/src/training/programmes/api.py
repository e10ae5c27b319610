"""HTTP handlers of programmes and quota adjustments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from training.access import AnyCaller, DistrictAdmin, Official, Policies
from training.db import SessionDep
from training.programmes import service
from training.programmes.schemas import ProgrammeRead, QuotaAdjustmentCreate, QuotaAdjustmentRead
from training.schemas import Cursor, Limit, Page

router = APIRouter(prefix="/v1/programmes", tags=["programmes"])
Year = Annotated[int, Path(ge=2000, le=2100)]
Domain = Annotated[str, Path(max_length=32)]


@router.get("", response_model=list[ProgrammeRead], summary="Programmes of a year with quotas")
async def list_programmes(
    _principal: AnyCaller,
    session: SessionDep,
    policies: Policies,
    year: Annotated[int, Query(ge=2000, le=2100)],
) -> list[ProgrammeRead]:
    """Every domain of the plan for the year: quota, used, remaining, talent target."""
    views = await service.list_programmes(session, policies=policies, year=year)
    return [ProgrammeRead.model_validate(v) for v in views]


@router.post(
    "/{year}/{domain}/quota-adjustments",
    status_code=status.HTTP_201_CREATED,
    response_model=QuotaAdjustmentRead,
    summary="Adjust a year's quota (district officials; audited; never below used)",
)
async def adjust_quota(
    year: Year,
    domain: Domain,
    body: QuotaAdjustmentCreate,
    principal: DistrictAdmin,
    session: SessionDep,
    policies: Policies,
) -> QuotaAdjustmentRead:
    """Set the quota; 409 `quota-below-used` when lower than the seats already reserved."""
    adjustment = await service.adjust_quota(
        session,
        policies=policies,
        year=year,
        domain=domain,
        quota=body.quota,
        reason=body.reason,
        adjusted_by=principal.subject,
        now=datetime.now(UTC),
    )
    return QuotaAdjustmentRead.model_validate(adjustment)


@router.get(
    "/{year}/{domain}/quota-adjustments",
    response_model=Page[QuotaAdjustmentRead],
    summary="Audit trail of a programme's quota (officials)",
)
async def list_adjustments(
    year: Year,
    domain: Domain,
    _principal: Official,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[QuotaAdjustmentRead]:
    """Quota changes, oldest first."""
    rows = await service.list_adjustments(
        session, year=year, domain=domain, limit=limit, cursor=cursor
    )
    items = [QuotaAdjustmentRead.model_validate(r) for r in rows]
    return Page(items=items, next_cursor=items[-1].id if len(items) == limit else None)
