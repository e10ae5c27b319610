"""Revocation by the issuing body only, and batches of certificates with Idempotency-Key."""

from __future__ import annotations

import pytest

from evaluation.events import CERTIFICATE_REVOKED

from .conftest import VALID_ID, cert_number, certificate_body, id_number

NUMBER = "S000133000001253000001"


async def revoke(env, number: str = NUMBER, code: str = "S0001", **body):
    payload = {"reason": "证书信息有误", "effective_on": "2025-06-01", **body}
    return await env.client.post(
        f"/v1/certificates/{number}/revocation", json=payload, headers=env.body_headers(code)
    )


async def test_revocation_and_its_event(env) -> None:
    issued = (await env.issue()).json()
    response = await revoke(env)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "revoked" and body["revoked_on"] == "2025-06-01"
    assert body["revocation_reason"] == "证书信息有误"
    [event] = await env.events(".certificate.revoked.v1")
    assert event.type == CERTIFICATE_REVOKED and event.subject == issued["id"]
    assert event.data == {
        "certificate_id": issued["id"],
        "level": "senior",
        "town": "changguo",
        "revoked_on": "2025-06-01",
        "reason": "证书信息有误",
        "body_code": "S0001",
        "policy_version": "2025.1",
    }
    assert event.town == "changguo" and len(event.personkey) == 64
    assert VALID_ID not in str(event.data) and "张三" not in str(event.data)


async def test_revoking_twice_conflicts(env) -> None:
    await env.issue()
    assert (await revoke(env)).status_code == 200
    again = await revoke(env)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/certificate-already-revoked")
    assert len(await env.events(".certificate.revoked.v1")) == 1


async def test_another_bodys_certificate_is_not_found(env) -> None:
    await env.issue()
    await env.register("S0002")
    theirs = await revoke(env, code="S0002")
    missing = await revoke(env, number="S000133000001253999999")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.content == missing.content  # no existence oracle
    read = await env.client.get(f"/v1/certificates/{NUMBER}", headers=env.body_headers("S0002"))
    assert read.status_code == 404


async def test_unregistered_body_cannot_revoke(env) -> None:
    await env.issue()
    response = await revoke(env, code="S0999")
    assert response.status_code == 403
    assert response.json()["type"].endswith("/body-not-registered")


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"effective_on": "2099-01-01"}, "effective_on", "in_future"),
        ({"effective_on": "2025-02-28"}, "effective_on", "before_issue"),
        ({"reason": "联系 13812345678"}, "reason", "personal_data"),
        ({"reason": ""}, "reason", "string_too_short"),
        ({"reason": "x" * 201}, "reason", "string_too_long"),
        ({"effective_on": None}, "effective_on", "date_type"),
    ],
)
async def test_revocation_validation(env, body, field, reason) -> None:
    await env.issue()
    response = await revoke(env, **body)
    assert response.status_code == 422, response.text
    assert any(e["field"] == field and e["reason"] == reason for e in response.json()["errors"])
    assert not await env.events(".certificate.revoked.v1")


async def test_revocation_on_the_issue_date_is_allowed(env) -> None:
    await env.issue()
    assert (await revoke(env, effective_on="2025-03-01")).status_code == 200


async def test_suspended_body_may_not_revoke(env) -> None:
    await env.issue()
    await env.set_status("S0001", "suspended", "2025-10-01", "暂停")
    response = await revoke(env)
    assert response.status_code == 409 and response.json()["body_status"] == "suspended"


# --- batches -------------------------------------------------------------------------------


async def post_batch(env, items, key="batch-key-0001", code="S0001"):
    return await env.client.post(
        "/v1/certificates/batches",
        json={"certificates": items},
        headers={**env.body_headers(code), "Idempotency-Key": key},
    )


async def test_batch_gives_a_result_per_item(env) -> None:
    await env.issue(number=cert_number(1), holder_id_number=id_number(1))
    items = [
        certificate_body(number=cert_number(1), holder_id_number=id_number(1)),  # existing
        certificate_body(number=cert_number(2), holder_id_number=id_number(2)),  # created
        certificate_body(number=cert_number(3), holder_id_number="110105194912310021"),
        {"number": cert_number(4)},  # schema problems
        certificate_body(number=cert_number(2), holder_id_number=id_number(2)),  # repeat: same
        certificate_body(number=cert_number(2), holder_id_number=id_number(5)),  # repeat: other
        certificate_body(number=cert_number(1), holder_id_number=id_number(6)),  # conflict
        certificate_body(number=cert_number(7), holder_id_number=id_number(7), town="atlantis"),
    ]
    response = await post_batch(env, items)
    assert response.status_code == 200, response.text
    result = response.json()
    outcomes = [(i["index"], i["outcome"]) for i in result["items"]]
    assert outcomes == [
        (0, "existing"),
        (1, "created"),
        (2, "rejected"),
        (3, "rejected"),
        (4, "existing"),
        (5, "rejected"),
        (6, "rejected"),
        (7, "rejected"),
    ]
    assert (result["created"], result["existing"], result["rejected"]) == (1, 2, 5)
    items_out = result["items"]
    assert items_out[2]["problem"]["errors"][0]["reason"] == "checksum"
    assert items_out[2]["problem"]["status"] == 422
    assert {e["field"] for e in items_out[3]["problem"]["errors"]} >= {"level", "holder_id_number"}
    assert items_out[5]["problem"]["type"].endswith("/certificate-number-taken")
    assert items_out[6]["problem"]["status"] == 409
    assert items_out[7]["problem"]["errors"][0]["field"] == "town"
    assert items_out[1]["certificate"]["holder_id_masked"].endswith(id_number(2)[-4:])
    assert items_out[4]["certificate"]["id"] == items_out[1]["certificate"]["id"]
    assert "110105194912310021" not in response.text
    assert await env.counts() == (2, 2)


async def test_batch_replays_under_the_same_key(env) -> None:
    items = [certificate_body(number=cert_number(n), holder_id_number=id_number(n)) for n in (1, 2)]
    first = await post_batch(env, items)
    again = await post_batch(env, items)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert await env.counts() == (2, 2)
    other = await post_batch(env, items[:1])
    assert other.status_code == 422 and other.json()["type"].endswith("/idempotency-key-reused")
    # Another body has its own key space (and its own rules).
    await env.register("S0002")
    theirs = await post_batch(env, items, code="S0002")
    assert theirs.status_code == 200 and theirs.json()["rejected"] == 2


async def test_batch_needs_a_key_and_at_most_1000_items(env) -> None:
    missing = await env.client.post(
        "/v1/certificates/batches",
        json={"certificates": [certificate_body()]},
        headers=env.headers,
    )
    assert missing.status_code == 400
    assert missing.json()["type"].endswith("/idempotency-key-missing")
    too_many = await post_batch(env, [certificate_body()] * 1001)
    assert too_many.status_code == 422
    empty = await post_batch(env, [], key="batch-key-0002")
    assert empty.status_code == 422
    assert await env.counts() == (0, 0)


async def test_batch_of_1000(env) -> None:
    items = [
        certificate_body(number=cert_number(n), holder_id_number=id_number(n)) for n in range(1000)
    ]
    response = await post_batch(env, items)
    assert response.status_code == 200
    assert response.json()["created"] == 1000
    assert await env.counts() == (1000, 1000)
