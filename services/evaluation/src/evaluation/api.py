"""HTTP handlers of the evaluation service (thin: parse, authorise, call the service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from common.auth import Principal, PrincipalKind, require
from evaluation import service
from evaluation.db import SessionDep
from evaluation.schemas import CertificateCreate, CertificateRead

router = APIRouter(prefix="/v1", tags=["certificates"])
EvaluationBody = Annotated[Principal, Depends(require(PrincipalKind.EVALUATION_BODY))]


@router.post(
    "/certificates",
    status_code=status.HTTP_201_CREATED,
    response_model=CertificateRead,
    summary="Issue a certificate (evaluation bodies only)",
    responses={200: {"description": "The same certificate was posted before (idempotent replay)"}},
)
async def create_certificate(
    body: CertificateCreate,
    principal: EvaluationBody,
    session: SessionDep,
    request: Request,
    response: Response,
) -> CertificateRead:
    """Issue a certificate; an identical repeat returns the stored certificate with 200."""
    certificate, warnings, created = await service.issue_certificate(
        session,
        data=body,
        body_code=principal.subject,
        policy=request.app.state.policy,
        cipher=request.app.state.field_cipher,
        pepper=request.app.state.pepper,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return CertificateRead.model_validate(certificate).model_copy(update={"warnings": warnings})
