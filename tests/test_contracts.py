"""Event contracts: committed schemas match producers; consumers' reader models accept them."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import jsonschema

ROOT = Path(__file__).resolve().parents[1]


def _load_exporter():
    spec = importlib.util.spec_from_file_location(
        "export_contracts", ROOT / "tools" / "export_contracts.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["export_contracts"] = module
    spec.loader.exec_module(module)
    return module


EXPORTER = _load_exporter()
SAMPLE_ISSUED = {
    "certificate_id": "0193a3c4-0000-7000-8000-000000000001",
    "level": "senior",
    "occupation_code": "6-04-02-05",
    "occupation_edition": "2022",
    "mode": "social_evaluation",
    "body_code": "S0001",
    "employer_uscc": None,
    "town": "changguo",
    "issued_on": "2025-06-20",
    "policy_version": "2025.1",
}


def test_committed_schemas_are_current() -> None:
    for event_type, schema in EXPORTER.event_schemas().items():
        path = ROOT / "contracts" / "events" / f"{event_type}.json"
        assert path.exists(), f"missing contract for {event_type}: run `make contracts`"
        assert path.read_text(encoding="utf-8") == EXPORTER.render(schema), f"stale: {path.name}"


def test_certificate_issued_sample_matches_producer_and_consumer() -> None:
    from indicators.handlers import CERTIFICATE_ISSUED, CertificateIssued

    schema = json.loads((ROOT / "contracts" / "events" / f"{CERTIFICATE_ISSUED}.json").read_text())
    jsonschema.validate(SAMPLE_ISSUED, schema)
    reader = CertificateIssued.model_validate(SAMPLE_ISSUED)
    assert reader.level == "senior"
    # The consumer reads only fields the producer guarantees.
    assert set(CertificateIssued.model_fields) <= set(schema["required"])


def test_no_event_schema_carries_personal_data_fields() -> None:
    forbidden = {"id_number", "holder_id_number", "name", "holder_name", "phone", "mobile"}
    for path in (ROOT / "contracts" / "events").glob("*.json"):
        properties = set(json.loads(path.read_text())["properties"])
        assert not properties & forbidden, path.name
