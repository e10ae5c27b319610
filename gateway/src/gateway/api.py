"""The gateway's own endpoints (thin handlers): health, metrics, JWKS, dev tokens, OpenAPI, docs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from common.auth import TOKEN_TTL_SECONDS, PrincipalKind
from common.errors import problem_response
from common.observability import metrics_payload
from gateway.exceptions import DevTokensDisabled
from gateway.openapi import MergedOpenAPI, swagger_page
from gateway.schemas import DevTokenRequest, Health, Readiness, TokenResponse, UpstreamStatus
from gateway.service import Identity, TownCodes, dev_grant
from gateway.settings import GatewaySettings
from gateway.upstreams import Upstreams


@dataclass(frozen=True)
class GatewayState:
    """Everything the handlers need, built once by `create_app`."""

    settings: GatewaySettings
    identity: Identity
    upstreams: Upstreams
    towns: TownCodes
    openapi: MergedOpenAPI


def get_state(request: Request) -> GatewayState:
    """FastAPI dependency: the gateway's state."""
    state: GatewayState = request.app.state.gateway
    return state


State = Annotated[GatewayState, Depends(get_state)]


def require_dev_tokens(state: State) -> None:
    """Refuse the development issuer outside development and test (before reading the body)."""
    if not state.settings.dev_tokens_enabled:
        raise DevTokensDisabled("The development token issuer is disabled in this environment")


router = APIRouter()


@router.get("/healthz", tags=["operations"])
async def healthz() -> Health:
    """Alive."""
    return Health()


@router.get("/readyz", tags=["operations"], responses={503: {"description": "Cannot sign"}})
async def readyz(state: State) -> Any:
    """Ready when tokens can be signed; each service's /healthz is reported, not required."""
    names = list(state.upstreams.urls)
    timeout = state.settings.health_timeout_seconds
    probes = await asyncio.gather(
        *(state.upstreams.probe(name=name, timeout_seconds=timeout) for name in names)
    )
    upstreams = {name: UpstreamStatus(**probe) for name, probe in zip(names, probes, strict=True)}
    try:
        state.identity.issuer.issue(kind=PrincipalKind.INSTITUTION, subject="readyz", ttl=1)
        signing = True
    except Exception:
        signing = False
    if not signing:
        return problem_response(
            status=503,
            title="Not ready",
            detail="The signing key cannot sign",
            signing=False,
            upstreams={k: v.model_dump() for k, v in upstreams.items()},
        )
    return Readiness(status="ready", signing=True, upstreams=upstreams)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus exposition."""
    payload, content_type = metrics_payload()
    return Response(content=payload, media_type=content_type)


@router.get("/.well-known/jwks.json", tags=["identity"])
async def jwks(state: State) -> JSONResponse:
    """The public keys that verify the gateway's tokens."""
    return JSONResponse(state.identity.jwks, headers={"Cache-Control": "public, max-age=300"})


@router.post(
    "/auth/dev/token",
    tags=["identity"],
    dependencies=[Depends(require_dev_tokens)],
    responses={403: {"description": "Disabled in production"}},
)
async def dev_token(body: DevTokenRequest, state: State) -> TokenResponse:
    """Issue a token for any principal (development and test only)."""
    grant = dev_grant(
        request=body, pepper=state.settings.pii_pepper.get_secret_value(), towns=state.towns
    )
    token = state.identity.issuer.issue(
        kind=grant.kind,
        subject=grant.subject,
        role=grant.role,
        town=grant.town,
        ttl=TOKEN_TTL_SECONDS,
    )
    return TokenResponse(access_token=token, expires_in=TOKEN_TTL_SECONDS)


@router.get("/openapi.json", include_in_schema=False)
async def openapi(state: State) -> JSONResponse:
    """The merged document: the gateway's routes and every reachable service's."""
    return JSONResponse(await state.openapi.document())


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    """Swagger UI for the merged document."""
    return swagger_page(openapi_url="/openapi.json", title="Dinghai skills platform API")
