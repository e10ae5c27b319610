"""HTTP handlers of evaluation bodies: registration and status by district officials."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from common.auth import PrincipalKind
from evaluation.api import (
    AnyOfficial,
    ContextDep,
    DistrictAdmin,
    OfficialOrBody,
    decode_cursor,
    encode_cursor,
)
from evaluation.bodies import service
from evaluation.bodies.schemas import (
    BodyCreate,
    BodyList,
    BodyRead,
    BodySummary,
    StatusChangeCreate,
    StatusRead,
)
from evaluation.db import SessionDep
from evaluation.exceptions import BodyNotFound

router = APIRouter(prefix="/v1", tags=["evaluation bodies"])


def _summary(view: service.BodyView, ctx: ContextDep) -> dict[str, object]:
    today = ctx.today()
    current = service.current_status(view.state, today)
    return {
        "code": view.body.code,
        "type": view.body.type,
        "name": view.body.name,
        "uscc": view.body.uscc,
        "filing_number": view.body.filing_number,
        "filed_on": view.body.filed_on,
        "legacy": view.body.legacy,
        "status": current.status.value if current else "not_filed",
        "status_since": current.effective_on if current else None,
        "status_reason": current.reason if current else None,
        "on_negative_list": service.on_negative_list(view.state, today),
    }


def _read(
    view: service.BodyView,
    ctx: ContextDep,
    *,
    warnings: list[str] | None = None,
    flagged: int | None = None,
) -> BodyRead:
    return BodyRead(
        **_summary(view, ctx),
        history=[StatusRead.model_validate(row) for row in view.history],
        warnings=warnings or [],
        flagged_certificates=flagged,
    )


@router.post(
    "/bodies",
    status_code=status.HTTP_201_CREATED,
    response_model=BodyRead,
    summary="Register an evaluation body (district officials)",
    responses={200: {"description": "The same body was registered before"}},
)
async def register_body(
    body: BodyCreate,
    principal: DistrictAdmin,
    session: SessionDep,
    ctx: ContextDep,
    response: Response,
) -> BodyRead:
    """Register a filed body; it may issue from its filing date (or, unknown, from 1990)."""
    view, warnings, created = await service.register_body(
        session, data=body, recorded_by=principal.subject, ctx=ctx
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return _read(view, ctx, warnings=warnings)


@router.get(
    "/bodies",
    response_model=BodyList,
    summary="Evaluation bodies; `negative_list=true`: those suspended or exited today (officials)",
)
async def list_bodies(
    principal: AnyOfficial,
    session: SessionDep,
    ctx: ContextDep,
    negative_list: Annotated[
        bool, Query(description="Only bodies whose status today is suspended or exited")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: str | None = None,
) -> BodyList:
    """Bodies ordered by code, a page at a time."""
    page, last = await service.list_bodies(
        session,
        negative_list=negative_list,
        today=ctx.today(),
        after=decode_cursor(cursor),
        limit=limit,
    )
    return BodyList(
        items=[BodySummary(**_summary(v, ctx)) for v in page],
        next_cursor=encode_cursor(last) if last else None,
    )


@router.get("/bodies/{code}", response_model=BodyRead, summary="A body and its status history")
async def read_body(
    code: str, principal: OfficialOrBody, session: SessionDep, ctx: ContextDep
) -> BodyRead:
    """Officials see every body; a body sees itself."""
    if principal.kind is PrincipalKind.EVALUATION_BODY and principal.subject != code:
        raise BodyNotFound()
    view = await service.load_body(session, code)
    if view is None:
        raise BodyNotFound()
    return _read(view, ctx)


@router.post(
    "/bodies/{code}/status",
    status_code=status.HTTP_201_CREATED,
    response_model=BodyRead,
    summary="Record a status change of a body (district officials)",
)
async def record_status(
    code: str,
    change: StatusChangeCreate,
    principal: DistrictAdmin,
    session: SessionDep,
    ctx: ContextDep,
) -> BodyRead:
    """Append to the status history. `exited` flags the certificates issued on or after its
    date and reverses their reward entries; an exit is final."""
    view, flagged = await service.record_status(
        session, code=code, change=change, recorded_by=principal.subject, ctx=ctx
    )
    return _read(view, ctx, flagged=flagged)
