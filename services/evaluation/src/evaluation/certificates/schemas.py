"""Request and response bodies of the certificate API."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field

from common.schemas import RequestModel, ResponseModel

BATCH_MAX_ITEMS = 1_000


class CertificateCreate(RequestModel):
    """A certificate posted by the evaluation body that issued it."""

    number: str = Field(min_length=6, max_length=40, description="Certificate number (证书编号)")
    level: str = Field(max_length=32, description="Level code, e.g. `senior` (高级工)")
    occupation_code: str = Field(pattern=r"^\d-\d{2}-\d{2}-\d{2}$", examples=["6-04-02-05"])
    occupation_name: str = Field(min_length=1, max_length=100)
    occupation_edition: str = Field(
        default="2022", pattern=r"^\d{4}$", description="Edition of the 职业分类大典"
    )
    holder_id_number: str = Field(min_length=18, max_length=18, description="Resident ID number")
    holder_name: str = Field(min_length=1, max_length=64)
    issued_on: date
    employer_uscc: str | None = Field(default=None, min_length=18, max_length=18)
    mode: str = Field(max_length=32, description="enterprise_assessment, social_evaluation, ...")
    town: str = Field(max_length=32, description="Town/street code where the holder lives or works")


class CertificateRead(ResponseModel):
    """A certificate as its issuer or an official sees it (personal data masked)."""

    id: str
    number: str
    number_format: str
    level: str
    occupation_code: str
    occupation_name: str
    occupation_edition: str
    holder_id_masked: str
    holder_name_masked: str
    issued_on: date
    employer_uscc: str | None
    mode: str
    town: str
    body_code: str
    status: str
    revoked_on: date | None = None
    revocation_reason: str | None = None
    flagged_reason: str | None = None
    flagged_on: date | None = None
    policy_version: str
    warnings: list[str] = Field(default_factory=list)


class RevocationCreate(RequestModel):
    """Revoke a certificate from `effective_on` (between its issue date and today)."""

    reason: str = Field(
        min_length=1, max_length=200, description="A short code or text, without personal data"
    )
    effective_on: date


class BatchCreate(RequestModel):
    """Up to 1,000 certificates; each is checked on its own and gets its own result."""

    certificates: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=BATCH_MAX_ITEMS,
        description="Items shaped like the body of `POST /v1/certificates`",
        json_schema_extra={"items": {"$ref": "#/components/schemas/CertificateCreate"}},
    )


class BatchItemResult(ResponseModel):
    """The result of one item: `created`, `existing` (an identical certificate was stored
    before) or `rejected` (with the problem that a single POST would have returned)."""

    index: int
    outcome: str
    certificate: CertificateRead | None = None
    problem: dict[str, Any] | None = None


class BatchResult(ResponseModel):
    """Per-item results of a batch, in request order."""

    created: int
    existing: int
    rejected: int
    items: list[BatchItemResult]


class CertificateList(ResponseModel):
    """A page of certificates."""

    items: list[CertificateRead]
    next_cursor: str | None = None
