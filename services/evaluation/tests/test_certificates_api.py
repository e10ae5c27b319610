"""POST /v1/certificates: storage, events, validation, access."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from common.eventlog.relay import OutboxRelay
from common.testing.plugin import AuthKit
from evaluation.certificates.store import open_holder
from evaluation.events import CERTIFICATE_ISSUED, SOURCE
from evaluation.models import Certificate, outbox

from .conftest import VALID_ID, certificate_body

PROBLEM = "application/problem+json"


async def test_issue_stores_encrypted_holder_and_publishes_event(env) -> None:
    response = await env.client.post(
        "/v1/certificates", json=certificate_body(), headers=env.headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["holder_id_masked"] == "110105********002X"
    assert body["holder_name_masked"] == "张*"
    assert body["body_code"] == "S0001" and body["status"] == "valid"
    assert body["policy_version"] == "2025.1"
    assert VALID_ID not in response.text and "张三" not in response.text
    async with env.engine.connect() as conn:
        row = (await conn.execute(select(Certificate.__table__))).one()
        event = (await conn.execute(select(outbox))).one()
    assert row.holder_id_cipher is None and row.holder_name_cipher is None
    assert VALID_ID.encode() not in row.holder_cipher
    assert "张三".encode() not in row.holder_cipher
    assert open_holder(env.app.state.field_cipher, row) == (VALID_ID, "张三")
    assert event.type == CERTIFICATE_ISSUED and event.subject == body["id"]
    assert event.data["level"] == "senior" and event.town == "changguo"
    serialized = json.dumps(event.data, ensure_ascii=False) + str(event.personkey)
    assert VALID_ID not in serialized and "张三" not in serialized
    assert len(event.personkey) == 64


async def test_relayed_event_reaches_the_log(make_env) -> None:
    env = await make_env(with_log=True)
    await env.client.post("/v1/certificates", json=certificate_body(), headers=env.headers)
    relay = OutboxRelay(engine=env.engine, table=outbox, log=env.log, source=SOURCE)
    assert await relay.drain() == 1
    [logged] = await env.log.read(after=0)
    assert logged.event.type == CERTIFICATE_ISSUED
    assert logged.event.source == "/services/evaluation"


async def test_same_certificate_twice_is_idempotent(env) -> None:
    first = await env.client.post("/v1/certificates", json=certificate_body(), headers=env.headers)
    again = await env.client.post("/v1/certificates", json=certificate_body(), headers=env.headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert await env.counts() == (1, 1)


async def test_other_certificate_under_a_known_number_conflicts(env) -> None:
    await env.client.post("/v1/certificates", json=certificate_body(), headers=env.headers)
    response = await env.client.post(
        "/v1/certificates",
        json=certificate_body(level="intermediate", number="S000133000001253000001"),
        headers=env.headers,
    )
    # The level differs, so the level digit check fails first; use a matching legacy number.
    assert response.status_code == 422
    other = await env.client.post(
        "/v1/certificates", json=certificate_body(occupation_code="6-04-02-06"), headers=env.headers
    )
    assert other.status_code == 409
    assert other.headers["content-type"] == PROBLEM
    assert other.json()["type"].endswith("/certificate-number-taken")
    assert await env.counts() == (1, 1)


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"holder_id_number": "110105194912310021"}, "holder_id_number", "checksum"),
        ({"holder_id_number": "11010519491331002X"}, "holder_id_number", "birth_date"),
        ({"number": "S0001-33-bad!"}, "number", "format"),
        ({"number": "S000133000001254000001"}, "number", "level_digit_mismatch"),
        ({"level": "grandmaster"}, "level", "unknown_level"),
        ({"mode": "bought"}, "mode", "unknown_mode"),
        ({"town": "atlantis"}, "town", "unknown_town"),
        ({"issued_on": "2099-01-01"}, "issued_on", "in_future"),
        ({"issued_on": "1980-01-01"}, "issued_on", "too_early"),
        ({"employer_uscc": "9111000060003734IL"}, "employer_uscc", "format"),
        ({"occupation_code": "6-4-2-5"}, "occupation_code", "string_pattern_mismatch"),
        ({"issued_on": "2025-02-30"}, "issued_on", "date_from_datetime_parsing"),
        ({"status": "valid"}, "status", "extra_forbidden"),
        ({"holder_name": ""}, "holder_name", "string_too_short"),
    ],
)
async def test_bad_input_is_refused_with_nothing_written(
    env, overrides: dict, field: str, reason: str
) -> None:
    response = await env.client.post(
        "/v1/certificates", json=certificate_body(**overrides), headers=env.headers
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 422 and problem["type"].endswith("/validation-error")
    assert any(
        e["field"] == field and e["reason"].startswith(reason.split("_from")[0])
        for e in problem["errors"]
    ), problem
    assert VALID_ID not in response.text
    assert await env.counts() == (0, 0)


async def test_uscc_checksum_failure_is_a_warning(env) -> None:
    response = await env.client.post(
        "/v1/certificates",
        json=certificate_body(employer_uscc="91350100M0001TGQXM"),
        headers=env.headers,
    )
    assert response.status_code == 201
    assert response.json()["warnings"] == ["uscc_checksum_mismatch"]


async def test_legacy_number_is_accepted_and_tagged(env) -> None:
    response = await env.client.post(
        "/v1/certificates", json=certificate_body(number="0912003000300127"), headers=env.headers
    )
    assert response.status_code == 201
    assert response.json()["number_format"] == "legacy"


async def test_access_rules(env, auth: AuthKit) -> None:
    url, body = "/v1/certificates", certificate_body()
    missing = await env.client.post(url, json=body)
    assert missing.status_code == 401 and missing.headers["content-type"] == PROBLEM
    garbage = await env.client.post(url, json=body, headers={"Authorization": "Bearer abc.def.ghi"})
    assert garbage.status_code == 401
    for kind, subject, extra in [
        ("citizen", VALID_ID, {}),
        ("enterprise", "91110000600037341L", {}),
        ("institution", "inst-1", {}),
        ("bank", "bank-1", {}),
        ("official", "staff-1", {"role": "district_admin"}),
    ]:
        response = await env.client.post(
            url, json=body, headers=auth.headers(kind, subject, **extra)
        )
        assert response.status_code == 403, kind
        assert response.headers["content-type"] == PROBLEM
    assert await env.counts() == (0, 0)


async def test_token_signed_by_another_key_is_refused(env) -> None:
    from common.auth import PrincipalKind, TokenIssuer, generate_signing_key

    rogue = TokenIssuer(
        generate_signing_key(kid="test-key"),
        issuer="https://gateway.dinghai.local",
        audience="dinghai-skills",
    )
    token = rogue.issue(kind=PrincipalKind.EVALUATION_BODY, subject="S0001")
    response = await env.client.post(
        "/v1/certificates", json=certificate_body(), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401


async def test_unexpected_error_is_a_bare_500(env, monkeypatch) -> None:
    from evaluation.certificates import service

    async def explode(*_args, **_kwargs):
        raise RuntimeError("secret database detail 11010519491231002X")

    monkeypatch.setattr(service, "issue_one", explode)
    response = await env.client.post(
        "/v1/certificates", json=certificate_body(), headers=env.headers
    )
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert "secret" not in response.text and "RuntimeError" not in response.text


async def test_health_readiness_metrics(env) -> None:
    assert (await env.client.get("/healthz")).json() == {"status": "ok"}
    ready = await env.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["migrations"]["at_head"] is True
    metrics = await env.client.get("/metrics")
    assert "http_requests_total" in metrics.text
    assert "x-request-id" in ready.headers


async def test_issued_event_data_is_the_published_contract(env) -> None:
    """The `issued` data is built by hand for speed: it must be exactly the contract model's."""
    from evaluation.events import CertificateIssuedV1

    await env.issue(employer_uscc=None)
    await env.issue(number="S000133000001253000002", occupation_edition="2015")
    async with env.engine.connect() as conn:
        rows = {r.id: r for r in await conn.execute(select(Certificate.__table__))}
    events = await env.events(".certificate.issued.v1")
    assert len(events) == 2
    for event in events:
        assert CertificateIssuedV1.model_validate(event.data).model_dump(mode="json") == event.data
        row = rows[event.data["certificate_id"]]  # each value taken from its own column
        assert event.subject == row.id and event.personkey == row.holder_person_key
        assert event.data["issued_on"] == row.issued_on.isoformat()
        for name in CERTIFICATE_FIELDS_IN_EVENT:
            assert event.data[name] == getattr(row, name), name


CERTIFICATE_FIELDS_IN_EVENT = (
    "level",
    "occupation_code",
    "occupation_edition",
    "mode",
    "body_code",
    "employer_uscc",
    "town",
    "policy_version",
)
