"""HTTP handlers for the public, citizens and enterprises."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from common.ratelimit import RateLimiter, client_address
from evaluation.api import CitizenPrincipal, ContextDep, EnterprisePrincipal
from evaluation.db import SessionDep
from evaluation.holders import service
from evaluation.holders.schemas import (
    EnterpriseLevels,
    OwnCertificates,
    VerificationRequest,
    VerificationResult,
)

router = APIRouter(prefix="/v1", tags=["verification and holders"])


async def verification_rate_limit(request: Request) -> None:
    """At most `verification_rate_limit` verifications per client address per window."""
    limiter: RateLimiter = request.app.state.verification_limiter
    peer = request.client.host if request.client else None
    address = client_address(
        peer,
        request.headers.get("x-forwarded-for"),
        trusted_proxies=request.app.state.settings.trusted_proxies,
    )
    limiter.check(address)


@router.post(
    "/verifications",
    response_model=VerificationResult,
    response_model_exclude_none=True,
    summary="Verify a certificate by number and holder name (public, rate-limited)",
    responses={429: {"description": "Too many verifications from this address (Retry-After)"}},
)
async def verify_certificate(
    body: VerificationRequest,
    _limit: Annotated[None, Depends(verification_rate_limit)],
    session: SessionDep,
    ctx: ContextDep,
) -> VerificationResult:
    """`valid` / `revoked` with masked details, or `not_found` — for an unknown number and for a
    name that does not match alike. A POST, so that names stay out of URLs and logs."""
    return await service.verify(session, number=body.number, name=body.name, ctx=ctx)


@router.get(
    "/me/certificates",
    response_model=OwnCertificates,
    summary="The caller's own certificates (citizens)",
)
async def my_certificates(
    principal: CitizenPrincipal, session: SessionDep, ctx: ContextDep
) -> OwnCertificates:
    """Certificates whose holder is the caller (person_key = the token's subject)."""
    return OwnCertificates(
        items=await service.own_certificates(session, person_key=principal.subject, ctx=ctx)
    )


@router.get(
    "/enterprises/me/levels",
    response_model=EnterpriseLevels,
    summary="How many of the enterprise's employees hold which levels (enterprises)",
)
async def my_levels(
    principal: EnterprisePrincipal, session: SessionDep, ctx: ContextDep
) -> EnterpriseLevels:
    """Counts of distinct employees per level and per highest level; no personal data."""
    return await service.enterprise_levels(
        session, uscc=principal.subject, ctx=ctx, today=ctx.today()
    )
