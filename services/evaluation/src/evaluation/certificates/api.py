"""HTTP handlers of certificates: bodies issue and revoke their own; officials read."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from common.auth import Principal, PrincipalKind, visible_town
from common.errors import DomainError, problem_type
from common.idempotency import IdempotencyKey, IdempotencyStore, fingerprint
from evaluation.api import (
    AnyOfficial,
    ContextDep,
    EvaluationBodyPrincipal,
    OfficialOrBody,
    decode_cursor,
    encode_cursor,
)
from evaluation.audit import record_read
from evaluation.bodies.service import load_body
from evaluation.certificates import lifecycle, service
from evaluation.certificates.schemas import (
    BatchCreate,
    BatchItemResult,
    BatchResult,
    CertificateCreate,
    CertificateList,
    CertificateRead,
    RevocationCreate,
)
from evaluation.db import SessionDep
from evaluation.exceptions import BodyNotRegistered, InvalidFields
from evaluation.models import idempotency_keys
from evaluation.rules import BodyState

router = APIRouter(prefix="/v1", tags=["certificates"])
idempotency = IdempotencyStore(idempotency_keys)


async def registered_body(principal: EvaluationBodyPrincipal, session: SessionDep) -> BodyState:
    """The caller's body; 403 `body-not-registered` when the token names an unknown body."""
    view = await load_body(session, principal.subject)
    if view is None:
        raise BodyNotRegistered()
    return view.state


RegisteredBody = Annotated[BodyState, Depends(registered_body)]


def _read(certificate: Any, warnings: list[str] | None = None) -> CertificateRead:
    return CertificateRead.model_validate(certificate).model_copy(
        update={"warnings": warnings or []}
    )


def problem_document(exc: DomainError) -> dict[str, Any]:
    """The problem+json body a single request would have received."""
    document: dict[str, Any] = {
        "type": problem_type(exc.slug),
        "title": exc.title,
        "status": exc.status_code,
    }
    if exc.detail:
        document["detail"] = exc.detail
    document.update({k: v for k, v in exc.extensions.items() if v is not None and k != "headers"})
    return document


def schema_problems(error: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as `{field, reason, message}`, without the rejected input."""
    return [
        {
            "field": ".".join(str(p) for p in err.get("loc", ())) or "body",
            "reason": err.get("type", "invalid"),
            "message": err.get("msg", "invalid value"),
        }
        for err in error.errors()
    ]


@router.post(
    "/certificates",
    status_code=status.HTTP_201_CREATED,
    response_model=CertificateRead,
    summary="Issue a certificate (registered evaluation bodies)",
    responses={
        200: {"description": "The same certificate was posted before (idempotent replay)"},
        403: {"description": "`body-not-registered`"},
        409: {"description": "`certificate-number-taken` or `body-may-not-issue`"},
    },
)
async def create_certificate(
    body: CertificateCreate,
    issuer: RegisteredBody,
    session: SessionDep,
    ctx: ContextDep,
    response: Response,
) -> CertificateRead:
    """Issue a certificate; an identical repeat returns the stored certificate with 200."""
    certificate, warnings, created = await service.issue_one(
        session, data=body, body=issuer, ctx=ctx
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return _read(certificate, warnings)


@router.post(
    "/certificates/batches",
    response_model=BatchResult,
    summary="Issue up to 1,000 certificates, each with its own result (Idempotency-Key)",
)
async def create_batch(
    request: Request,
    payload: BatchCreate,
    key: IdempotencyKey,
    issuer: RegisteredBody,
    session: SessionDep,
    ctx: ContextDep,
) -> Any:
    """Each item is checked and stored (or refused) on its own, in one transaction. The same key
    and body replay the recorded result; the same key with another body is 422."""
    stored = await idempotency.claim(
        session, client=issuer.code, key=key, fingerprint=fingerprint(await request.body())
    )
    if stored is not None:
        return JSONResponse(stored.body, status_code=stored.status_code)
    results: dict[int, BatchItemResult] = {}
    items = []
    for index, item in enumerate(payload.certificates):
        try:
            items.append((index, CertificateCreate.model_validate(item), issuer))
        except ValidationError as error:
            problem = InvalidFields(schema_problems(error))
            results[index] = BatchItemResult(
                index=index, outcome="rejected", problem=problem_document(problem)
            )
    for outcome in await service.issue_many(session, items=items, ctx=ctx):
        results[outcome.index] = BatchItemResult(
            index=outcome.index,
            outcome=outcome.outcome,
            certificate=_read(outcome.certificate, outcome.warnings)
            if outcome.certificate is not None
            else None,
            problem=problem_document(outcome.problem) if outcome.problem else None,
        )
    ordered = [results[i] for i in sorted(results)]
    result = BatchResult(
        created=sum(r.outcome == "created" for r in ordered),
        existing=sum(r.outcome == "existing" for r in ordered),
        rejected=sum(r.outcome == "rejected" for r in ordered),
        items=ordered,
    )
    await idempotency.record(
        session,
        client=issuer.code,
        key=key,
        status_code=200,
        body=result.model_dump(mode="json"),
    )
    return result


@router.post(
    "/certificates/{number}/revocation",
    response_model=CertificateRead,
    summary="Revoke one of the caller's own certificates",
    responses={404: {"description": "No such certificate of this body"}},
)
async def revoke_certificate(
    number: str,
    body: RevocationCreate,
    issuer: RegisteredBody,
    session: SessionDep,
    ctx: ContextDep,
) -> CertificateRead:
    """Revoke from `effective_on` (between the issue date and today); revoking twice is 409."""
    certificate = await lifecycle.revoke(session, number=number, body=issuer, data=body, ctx=ctx)
    return _read(certificate)


@router.get(
    "/certificates",
    response_model=CertificateList,
    summary="Certificates, filtered (officials; a town officer sees the town's only)",
)
async def list_certificates(
    principal: AnyOfficial,
    session: SessionDep,
    body_code: Annotated[str | None, Query(max_length=16)] = None,
    town: Annotated[str | None, Query(max_length=32)] = None,
    status_: Annotated[str | None, Query(alias="status", pattern="^(valid|revoked)$")] = None,
    flagged: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: str | None = None,
) -> CertificateList:
    """A page of certificates ordered by id (masked; the read is audited)."""
    only_town = visible_town(principal)
    if only_town is not None:
        town = only_town
    page, last = await lifecycle.list_certificates(
        session,
        body_code=body_code,
        town=town,
        status=status_,
        flagged=flagged,
        after=decode_cursor(cursor),
        limit=limit,
    )
    await record_read(
        session,
        principal=principal,
        action="certificates.list",
        target=f"body={body_code or '*'} town={town or '*'} n={len(page)}",
    )
    return CertificateList(
        items=[_read(c) for c in page], next_cursor=encode_cursor(last) if last else None
    )


@router.get(
    "/certificates/{number}",
    response_model=CertificateRead,
    summary="One certificate (its issuing body, or officials)",
)
async def read_certificate(
    number: str, principal: OfficialOrBody, session: SessionDep
) -> CertificateRead:
    """A body sees its own certificates; officials any (a town officer the town's)."""
    certificate = await lifecycle.get_certificate(
        session,
        number=number,
        body_code=_own_body(principal),
        town=visible_town(principal),
    )
    if principal.kind is PrincipalKind.OFFICIAL:
        await record_read(
            session, principal=principal, action="certificates.read", target=certificate.id
        )
    return _read(certificate)


def _own_body(principal: Principal) -> str | None:
    return principal.subject if principal.kind is PrincipalKind.EVALUATION_BODY else None
