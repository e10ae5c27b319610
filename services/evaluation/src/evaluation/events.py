"""Events the evaluation service publishes (versioned; schemas only gain optional fields).

None of them carries a raw ID number or a name: a person is the `personkey` extension.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict

from common.eventlog.envelope import event_type

SOURCE = "/services/evaluation"
CERTIFICATE_ISSUED = event_type("evaluation", "certificate", "issued", 1)
CERTIFICATE_REVOKED = event_type("evaluation", "certificate", "revoked", 1)
CERTIFICATE_FLAGGED = event_type("evaluation", "certificate", "flagged", 1)
REWARD_GRANTED = event_type("evaluation", "reward", "granted", 1)
REWARD_REVERSED = event_type("evaluation", "reward", "reversed", 1)


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CertificateIssuedV1(_Event):
    """`certificate.issued.v1`: a certificate now stands. No raw ID number or name, ever."""

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


class CertificateRevokedV1(_Event):
    """`certificate.revoked.v1`: the issuing body revoked the certificate from `revoked_on`.
    Subject: the certificate id; extensions `personkey` and `town`."""

    certificate_id: str
    level: str
    town: str
    revoked_on: date
    reason: str
    body_code: str
    policy_version: str


class CertificateFlaggedV1(_Event):
    """`certificate.flagged.v1`: the certificate was issued on or after its body's exit date;
    it stays on record but counts for no reward or subsidy. Subject: the certificate id;
    extensions `personkey` and `town`."""

    certificate_id: str
    reason: Literal["issued_after_body_exit"]
    body_code: str
    flagged_on: date


class RewardGrantedV1(_Event):
    """`reward.granted.v1`: an enterprise earned a self-assessment reward entry for one employee.
    Subject: the entry id; extensions `personkey` (the employee) and `town` (of the certificate)."""

    entry_id: str
    enterprise_uscc: str
    year: int
    amount_fen: int
    certificate_id: str
    granted_on: date
    policy_version: str


class RewardReversedV1(_Event):
    """`reward.reversed.v1`: an entry was taken back; `amount_fen` is the (positive) amount taken
    back. Subject: the entry id; extensions `personkey` and `town`."""

    entry_id: str
    enterprise_uscc: str
    year: int
    amount_fen: int
    certificate_id: str
    reversed_on: date
    policy_version: str


EVENT_MODELS: dict[str, type[BaseModel]] = {
    CERTIFICATE_ISSUED: CertificateIssuedV1,
    CERTIFICATE_REVOKED: CertificateRevokedV1,
    CERTIFICATE_FLAGGED: CertificateFlaggedV1,
    REWARD_GRANTED: RewardGrantedV1,
    REWARD_REVERSED: RewardReversedV1,
}
