"""Request and response bodies of the gateway's own endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from common.auth import OfficialRole, PrincipalKind


class DevTokenRequest(BaseModel):
    """Ask the development issuer for a token; `subject` depends on `kind`."""

    model_config = ConfigDict(extra="forbid")

    kind: PrincipalKind
    subject: str = Field(min_length=1, max_length=128)
    role: OfficialRole | None = None
    town: str | None = Field(default=None, min_length=1, max_length=64)


class TokenResponse(BaseModel):
    """An access token (OAuth2 token response shape)."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a scheme name)
    expires_in: int


class Health(BaseModel):
    """Liveness answer."""

    status: Literal["ok"] = "ok"
    service: str = "gateway"


class UpstreamStatus(BaseModel):
    """Reachability of one service, as seen from the gateway (information only)."""

    url: str
    status: Literal["up", "degraded", "down"]
    http_status: int | None = None
    reason: str | None = None
    duration_ms: float


class Readiness(BaseModel):
    """Readiness answer: ready when the gateway can sign; upstreams reported, not required."""

    status: Literal["ready", "not_ready"]
    signing: bool
    upstreams: dict[str, UpstreamStatus]
