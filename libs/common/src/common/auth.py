"""Identity: ES256 tokens issued by the gateway and verified everywhere; principals, access."""

from __future__ import annotations

import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from common.errors import Forbidden, Unauthenticated

ALGORITHM = "ES256"
TOKEN_TTL_SECONDS = 900


class PrincipalKind(StrEnum):
    """Who is calling (DESIGN.md §4)."""

    CITIZEN = "citizen"
    ENTERPRISE = "enterprise"
    INSTITUTION = "institution"
    EVALUATION_BODY = "evaluation_body"
    BANK = "bank"
    OFFICIAL = "official"


class OfficialRole(StrEnum):
    """Roles of district staff."""

    DISTRICT_ADMIN = "district_admin"
    TOWN_OFFICER = "town_officer"
    DEPARTMENT_OFFICER = "department_officer"
    AUDITOR = "auditor"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `subject` is a person_key for citizens, never a raw ID number."""

    kind: PrincipalKind
    subject: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    role: OfficialRole | None = None
    town: str | None = None
    token_id: str = ""

    @property
    def is_district_official(self) -> bool:
        """A district administrator sees everything."""
        return self.kind is PrincipalKind.OFFICIAL and self.role is OfficialRole.DISTRICT_ADMIN


def generate_signing_key(*, kid: str | None = None) -> ECKey:
    """A fresh P-256 key for ES256."""
    return ECKey.generate_key(
        "P-256", parameters={"kid": kid or uuid.uuid4().hex[:16], "use": "sig"}, private=True
    )


def load_signing_key(path: Path) -> ECKey:
    """Load a private JWK, creating one on first use (development only)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = generate_signing_key()
        path.write_text(json.dumps(key.as_dict(private=True)))
        path.chmod(0o600)
    return ECKey.import_key(json.loads(path.read_text()))


def public_jwks(keys: Iterable[ECKey]) -> dict[str, Any]:
    """The JWKS document publishing the public halves."""
    return {"keys": [k.as_dict(private=False) for k in keys]}


class TokenIssuer:
    """Signs access tokens (the gateway's job; tests use it too)."""

    def __init__(self, key: ECKey, *, issuer: str, audience: str) -> None:
        self.key = key
        self.issuer = issuer
        self.audience = audience

    def issue(
        self,
        *,
        kind: PrincipalKind,
        subject: str,
        scopes: Iterable[str] = (),
        role: OfficialRole | None = None,
        town: str | None = None,
        ttl: int = TOKEN_TTL_SECONDS,
    ) -> str:
        """A signed JWT for the principal."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "kind": kind.value,
            "scope": " ".join(sorted(scopes)),
        }
        if role is not None:
            claims["role"] = role.value
        if town is not None:
            claims["town"] = town
        return jwt.encode({"alg": ALGORITHM, "kid": self.key.kid, "typ": "JWT"}, claims, self.key)


def _read_json(path: str) -> dict[str, Any] | None:
    file = Path(path)
    return json.loads(file.read_text()) if file.exists() else None


class TokenVerifier:
    """Verifies ES256 tokens against the gateway's JWKS (file or URL), with a small result cache."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks: dict[str, Any] | None = None,
        jwks_path: str = "",
        jwks_url: str = "",
        cache_size: int = 4096,
    ) -> None:
        self.registry = jwt.JWTClaimsRegistry(
            leeway=30,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            sub={"essential": True},
            exp={"essential": True},
        )
        self._jwks_path = jwks_path
        self._jwks_url = jwks_url
        self._keys: KeySet | None = KeySet.import_key_set(jwks) if jwks else None  # type: ignore[arg-type]
        self._loaded_at = 0.0
        self._cache: OrderedDict[str, tuple[Principal, int]] = OrderedDict()
        self._cache_size = cache_size

    async def _keyset(self, *, refresh: bool = False) -> KeySet:
        reloadable = bool(self._jwks_path or self._jwks_url)
        stale = refresh and reloadable and time.monotonic() - self._loaded_at > 5
        if self._keys is None or stale:
            document: dict[str, Any] | None = None
            if self._jwks_path:
                document = _read_json(self._jwks_path)
            if document is None and self._jwks_url:
                async with httpx.AsyncClient(timeout=5) as client:
                    response = await client.get(self._jwks_url)
                    response.raise_for_status()
                    document = response.json()
            if document is None:
                raise Unauthenticated("No token verification keys are configured")
            self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            self._loaded_at = time.monotonic()
        return self._keys

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; `Unauthenticated` otherwise."""
        cached = self._cache.get(token)
        if cached is not None and cached[1] > time.time():
            self._cache.move_to_end(token)
            return cached[0]
        try:
            try:
                decoded = jwt.decode(token, await self._keyset(), algorithms=[ALGORITHM])
            except JoseError:
                decoded = jwt.decode(
                    token, await self._keyset(refresh=True), algorithms=[ALGORITHM]
                )
            self.registry.validate(decoded.claims)
            principal = principal_from_claims(decoded.claims)
        except (JoseError, ValueError, KeyError) as exc:
            raise Unauthenticated("The access token is invalid or expired") from exc
        self._cache[token] = (principal, int(decoded.claims["exp"]))
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """Build a principal from verified claims."""
    kind = PrincipalKind(claims["kind"])
    role = OfficialRole(claims["role"]) if claims.get("role") else None
    if kind is PrincipalKind.OFFICIAL and role is None:
        raise ValueError("an official token needs a role")
    if role is OfficialRole.TOWN_OFFICER and not claims.get("town"):
        raise ValueError("a town officer token needs a town")
    return Principal(
        kind=kind,
        subject=str(claims["sub"]),
        scopes=frozenset(str(claims.get("scope", "")).split()),
        role=role,
        town=claims.get("town"),
        token_id=str(claims.get("jti", "")),
    )


def bearer_token(request: Request) -> str | None:
    """The bearer token of the request, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the verified caller, or 401."""
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("A bearer token is required")
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify(token)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(
    *kinds: PrincipalKind,
    roles: Iterable[OfficialRole] = (),
    scopes: Iterable[str] = (),
) -> Callable[..., Any]:
    """A dependency admitting only the given kinds (officials only with the given roles)."""
    allowed_kinds = frozenset(kinds)
    allowed_roles = frozenset(roles)
    needed_scopes = frozenset(scopes)

    async def _dependency(principal: CurrentPrincipal) -> Principal:
        if principal.kind not in allowed_kinds:
            raise Forbidden("This operation is not available to this kind of caller")
        if (
            principal.kind is PrincipalKind.OFFICIAL
            and allowed_roles
            and (principal.role not in allowed_roles)
        ):
            raise Forbidden("This operation is not available to this role")
        if not needed_scopes <= principal.scopes:
            raise Forbidden("The token lacks a required scope")
        return principal

    return _dependency


def visible_town(principal: Principal) -> str | None:
    """The one town a town officer may see; None for callers not limited to a town."""
    if principal.kind is PrincipalKind.OFFICIAL and principal.role is OfficialRole.TOWN_OFFICER:
        return principal.town
    return None
