"""Events the evaluation service publishes (versioned; schemas only gain optional fields)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from common.eventlog.envelope import event_type

SOURCE = "/services/evaluation"
CERTIFICATE_ISSUED = event_type("evaluation", "certificate", "issued", 1)


class CertificateIssuedV1(BaseModel):
    """`certificate.issued.v1`: a certificate now stands. No raw ID number or name, ever."""

    model_config = ConfigDict(extra="forbid")

    certificate_id: str
    level: str
    occupation_code: str
    occupation_edition: str
    mode: str
    body_code: str
    employer_uscc: str | None = None
    town: str
    issued_on: date
    policy_version: str


EVENT_MODELS: dict[str, type[BaseModel]] = {CERTIFICATE_ISSUED: CertificateIssuedV1}
