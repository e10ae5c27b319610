"""The tolerant readers against the producers' committed event schemas (where they exist yet)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from indicators import synthetic
from indicators.handlers import (
    CERTIFICATE_FLAGGED,
    CERTIFICATE_ISSUED,
    CERTIFICATE_REVOKED,
    COMPLETION_RECORDED,
    MEMBERSHIP_RECORDED,
    REWARD_GRANTED,
    REWARD_REVERSED,
    CertificateFlagged,
    CertificateIssued,
    CertificateRevoked,
    CompletionRecorded,
    MembershipRecorded,
    RewardGranted,
    RewardReversed,
)

CONTRACTS = Path(__file__).resolve().parents[3] / "contracts" / "events"
KEY = synthetic.person_key("contract")
SAMPLES = {
    CERTIFICATE_ISSUED: (CertificateIssued, synthetic.issued(person=KEY, certificate="c")),
    CERTIFICATE_REVOKED: (
        CertificateRevoked,
        synthetic.revoked(person=KEY, certificate="c", on="2025-05-01"),
    ),
    CERTIFICATE_FLAGGED: (CertificateFlagged, synthetic.flagged(certificate="c", on="2025-05-01")),
    REWARD_GRANTED: (RewardGranted, synthetic.reward(entry="e", amount_fen=50000, on="2025-05-01")),
    REWARD_REVERSED: (
        RewardReversed,
        synthetic.reward(entry="e", amount_fen=50000, on="2025-05-01", reversed_=True),
    ),
    COMPLETION_RECORDED: (
        CompletionRecorded,
        synthetic.completion(
            person=KEY, completion_id="t", domain="manufacturing", on="2025-05-01"
        ),
    ),
    MEMBERSHIP_RECORDED: (
        MembershipRecorded,
        synthetic.membership(person=KEY, membership_id="m", group="veterans", on="2025-05-01"),
    ),
}


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_reader_reads_only_required_fields_of_the_committed_contract(event_type: str) -> None:
    reader, sample = SAMPLES[event_type]
    reader.model_validate(sample.data)
    path = CONTRACTS / f"{event_type}.json"
    if not path.exists():
        pytest.skip(f"the producer has not committed {path.name} yet")
    schema = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.validate(sample.data, schema)  # our synthetic events match the producer's shape
    assert set(reader.model_fields) <= set(schema["required"])
