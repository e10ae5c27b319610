"""Request and response bodies of the evaluation API."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from common.schemas import RequestModel, ResponseModel


class CertificateCreate(RequestModel):
    """A certificate posted by the evaluation body that issued it."""

    number: str = Field(min_length=6, max_length=40, description="Certificate number (证书编号)")
    level: str = Field(max_length=32, description="Level code, e.g. `senior` (高级工)")
    occupation_code: str = Field(pattern=r"^\d-\d{2}-\d{2}-\d{2}$", examples=["6-04-02-05"])
    occupation_name: str = Field(min_length=1, max_length=100)
    occupation_edition: str = Field(default="2022", pattern=r"^\d{4}$")
    holder_id_number: str = Field(min_length=18, max_length=18, description="Resident ID number")
    holder_name: str = Field(min_length=1, max_length=64)
    issued_on: date
    employer_uscc: str | None = Field(default=None, min_length=18, max_length=18)
    mode: str = Field(max_length=32, description="enterprise_assessment, social_evaluation, ...")
    town: str = Field(max_length=32, description="Town/street code where the holder lives or works")


class CertificateRead(ResponseModel):
    """A certificate as its issuer sees it (personal data masked)."""

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
    policy_version: str
    warnings: list[str] = Field(default_factory=list)
