"""Request and response bodies of what holders, enterprises and the public see."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from common.schemas import RequestModel, ResponseModel


class VerificationRequest(RequestModel):
    """A certificate number and the holder's name, as printed on the certificate."""

    number: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=64)


class VerifiedCertificate(ResponseModel):
    """What the public may see of a certificate whose number and name match (masked)."""

    number: str
    level: str
    level_name_zh: str
    occupation_code: str
    occupation_name: str
    holder_name_masked: str
    issued_on: date
    body_code: str
    body_name: str | None = None
    status: str
    revoked_on: date | None = None
    flag: str | None = Field(
        default=None, description="`issued_after_body_exit` when the issuing body had exited"
    )


class VerificationResult(ResponseModel):
    """`valid`, `revoked`, or `not_found` — the same answer for an unknown number and for a name
    that does not match."""

    result: Literal["valid", "revoked", "not_found"]
    certificate: VerifiedCertificate | None = None


class OwnCertificate(ResponseModel):
    """One of the caller's own certificates."""

    number: str
    number_format: str
    level: str
    level_name_zh: str
    occupation_code: str
    occupation_name: str
    occupation_edition: str
    holder_name_masked: str
    holder_id_masked: str
    issued_on: date
    mode: str
    town: str
    body_code: str
    status: str
    revoked_on: date | None = None
    flagged_reason: str | None = None


class OwnCertificates(ResponseModel):
    """A citizen's certificates, newest first."""

    items: list[OwnCertificate]


class LevelCount(ResponseModel):
    """Employees holding a level, and those whose highest level it is."""

    level: str
    name_zh: str
    rank: int
    persons: int
    highest: int


class EnterpriseLevels(ResponseModel):
    """How many of an enterprise's employees hold which levels (valid, unflagged certificates
    naming the enterprise as employer). Counts only; no personal data."""

    enterprise_uscc: str
    as_of: date
    persons: int
    high_skilled_persons: int
    levels: list[LevelCount]
