"""Identity logic of the gateway (no FastAPI here): signing key, JWKS file, dev-token subjects."""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey

from common.auth import (
    OfficialRole,
    PrincipalKind,
    TokenIssuer,
    TokenVerifier,
    load_signing_key,
    public_jwks,
)
from common.errors import InvalidField
from common.identifiers import check_uscc, id_number_problem
from common.pii import person_key
from common.policy import PolicyError, load_policy_set
from common.settings import Environment
from gateway.exceptions import PolicyUnavailable, SigningKeyMissing
from gateway.schemas import DevTokenRequest
from gateway.settings import GatewaySettings

logger = logging.getLogger("gateway.identity")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Identity:
    """The gateway's signing key with its issuer, verifier and public JWKS."""

    key: ECKey
    issuer: TokenIssuer
    verifier: TokenVerifier
    jwks: dict[str, Any]


def load_identity(*, settings: GatewaySettings) -> Identity:
    """Load the signing key (created on first use outside production) and derive the rest."""
    path = settings.signing_key_file()
    if settings.environment is Environment.PRODUCTION and not path.exists():
        raise SigningKeyMissing(f"signing key file {path} is missing; provision it before start")
    key = load_signing_key(path)
    jwks = public_jwks([key])
    issuer = TokenIssuer(key, issuer=settings.auth_issuer, audience=settings.auth_audience)
    verifier = TokenVerifier(
        issuer=settings.auth_issuer, audience=settings.auth_audience, jwks=jwks
    )
    return Identity(key=key, issuer=issuer, verifier=verifier, jwks=jwks)


def write_jwks(*, path: Path, jwks: dict[str, Any]) -> None:
    """Write the public JWKS atomically, so a service never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".jwks-", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(jwks, handle)
    Path(tmp).chmod(0o644)
    Path(tmp).replace(path)


class TownCodes:
    """Town codes from the latest policy version, loaded on first use and then kept."""

    def __init__(self, *, policy_dir: str) -> None:
        self._policy_dir = policy_dir
        self._codes: frozenset[str] | None = None

    def codes(self) -> frozenset[str]:
        """All town codes; `PolicyUnavailable` when the policy cannot be read."""
        if self._codes is None:
            try:
                towns = load_policy_set(self._policy_dir or None).latest.section("towns")
                self._codes = frozenset(str(town["code"]) for town in towns)
            except (PolicyError, OSError, KeyError, TypeError) as exc:
                logger.error("cannot load town codes from policy", exc_info=exc)
                raise PolicyUnavailable("Town codes could not be loaded from policy") from exc
        return self._codes


@dataclass(frozen=True)
class DevGrant:
    """What goes into a development token."""

    kind: PrincipalKind
    subject: str
    role: OfficialRole | None
    town: str | None


def _invalid(field: str, reason: str, message: str) -> InvalidField:
    return InvalidField(field=field, reason=reason, message=message)


def _subject_for(*, request: DevTokenRequest, pepper: str) -> str:
    subject = request.subject  # ID numbers and USCCs are normalised by their checks
    if request.kind is PrincipalKind.CITIZEN:
        problem = id_number_problem(subject)
        if problem is not None:
            message = f"subject is not a valid resident ID number: {problem}"
            raise _invalid("subject", problem, message)
        return person_key(subject, pepper=pepper)
    if request.kind is PrincipalKind.ENTERPRISE:
        check = check_uscc(subject)
        if not check.well_formed:
            raise _invalid("subject", "format", "subject is not a well-formed USCC")
        if check.warning:
            logger.warning("dev token for a USCC with a checksum mismatch")
        return check.code
    # Institutions, evaluation bodies and banks (client ids) and officials (staff ids).
    if not _CLIENT_ID.fullmatch(subject):
        raise _invalid("subject", "format", f"subject must match {_CLIENT_ID.pattern}")
    return subject


def dev_grant(*, request: DevTokenRequest, pepper: str, towns: TownCodes) -> DevGrant:
    """Validate a development token request; `InvalidField` names the field and the reason."""
    if request.kind is PrincipalKind.OFFICIAL:
        if request.role is None:
            raise _invalid("role", "missing", "role is required for an official")
        if request.role is OfficialRole.TOWN_OFFICER and request.town is None:
            raise _invalid("town", "missing", "town is required for a town officer")
    elif request.role is not None:
        raise _invalid("role", "not_allowed", "role applies to officials only")
    if request.town is not None and request.town not in towns.codes():
        raise _invalid("town", "unknown", "town is not a town code of the current policy")
    return DevGrant(
        kind=request.kind,
        subject=_subject_for(request=request, pepper=pepper),
        role=request.role,
        town=request.town,
    )
