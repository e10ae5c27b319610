"""Public verification (rate-limited, no oracle), a citizen's own certificates, an enterprise's
counts by level."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from .conftest import EMPLOYER, VALID_ID, cert_number, id_number

NUMBER = "S000133000001253000001"


async def verify(env, number: str = NUMBER, name: str = "张三", **headers: str):
    return await env.client.post(
        "/v1/verifications", json={"number": number, "name": name}, headers=headers
    )


async def test_valid_certificate_with_masked_details(env) -> None:
    await env.issue()
    response = await verify(env)
    assert response.status_code == 200
    body = response.json()
    assert body["result"] == "valid"
    certificate = body["certificate"]
    assert certificate["holder_name_masked"] == "张*"
    assert certificate["level"] == "senior" and certificate["level_name_zh"] == "高级工/三级"
    assert certificate["body_code"] == "S0001" and certificate["body_name"] == "机构S0001"
    assert "revoked_on" not in certificate and "flag" not in certificate
    assert "张三" not in response.text and VALID_ID not in response.text
    assert "110105" not in response.text  # not even the masked ID number


async def test_name_is_normalised(env) -> None:
    await env.issue(holder_name="买买提·艾力")
    for variant in (" 买买提·艾力 ", "买买提・艾力", "买买提 · 艾力"):
        assert (await verify(env, name=variant)).json()["result"] == "valid", variant


async def test_unknown_number_and_wrong_name_look_the_same(env) -> None:
    await env.issue()
    unknown = await verify(env, number="S000133000001253999999")
    wrong_name = await verify(env, name="李四")
    assert unknown.status_code == wrong_name.status_code == 200
    assert unknown.content == wrong_name.content == b'{"result":"not_found"}'
    assert set(unknown.headers) == set(wrong_name.headers)


async def test_revoked_and_flagged(env) -> None:
    await env.issue()
    await env.issue(number=cert_number(2), issued_on="2025-06-01")
    await env.client.post(
        f"/v1/certificates/{NUMBER}/revocation",
        json={"reason": "作废", "effective_on": "2025-04-01"},
        headers=env.headers,
    )
    revoked = (await verify(env)).json()
    assert revoked["result"] == "revoked" and revoked["certificate"]["revoked_on"] == "2025-04-01"
    await env.set_status("S0001", "exited", "2025-05-01", "退出")
    flagged = (await verify(env, number=cert_number(2))).json()
    assert (
        flagged["result"] == "valid" and flagged["certificate"]["flag"] == "issued_after_body_exit"
    )


async def test_verification_is_rate_limited_per_client(make_env) -> None:
    env = await make_env(verification_rate_limit=3, verification_rate_window_seconds=60)
    for _ in range(3):
        assert (await verify(env)).status_code == 200
    refused = await verify(env)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) == 20
    assert refused.json()["type"].endswith("/rate-limited")
    # Behind the gateway (a trusted proxy), X-Forwarded-For names the client.
    other = await verify(env, **{"X-Forwarded-For": "198.51.100.7"})
    assert other.status_code == 200
    invalid = await env.client.post("/v1/verifications", json={"number": NUMBER})
    assert invalid.status_code == 429  # the limit applies before anything else


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(make_env) -> None:
    env = await make_env(verification_rate_limit=1, trusted_proxies=[])
    assert (await verify(env, **{"X-Forwarded-For": "198.51.100.1"})).status_code == 200
    assert (await verify(env, **{"X-Forwarded-For": "198.51.100.2"})).status_code == 429


async def test_verification_validation(env) -> None:
    response = await env.client.post("/v1/verifications", json={"number": NUMBER, "name": ""})
    assert response.status_code == 422
    get = await env.client.get(f"/v1/verifications?number={NUMBER}&name=x")
    assert get.status_code == 405


async def test_citizens_list_their_own_certificates(env) -> None:
    await env.issue()
    await env.issue(
        number=cert_number(2, level="technician"), level="technician", issued_on="2025-08-01"
    )
    await env.issue(number=cert_number(3), holder_id_number=id_number(3))
    response = await env.client.get(
        "/v1/me/certificates", headers=env.auth.headers("citizen", VALID_ID)
    )
    assert response.status_code == 200
    items = response.json()["items"]
    assert [i["number"] for i in items] == [cert_number(2, level="technician"), NUMBER]
    assert items[0]["level_name_zh"] == "技师/二级" and items[0]["holder_id_masked"].endswith(
        "002X"
    )
    assert VALID_ID not in response.text and "张三" not in response.text
    nobody = await env.client.get(
        "/v1/me/certificates", headers=env.auth.headers("citizen", id_number(99))
    )
    assert nobody.json()["items"] == []


async def test_enterprise_counts_by_level(env) -> None:
    await env.issue()  # person A senior
    await env.issue(number=cert_number(2, level="technician"), level="technician")  # A technician
    await env.issue(
        number=cert_number(3, level="junior"), level="junior", holder_id_number=id_number(3)
    )
    await env.issue(number=cert_number(4), holder_id_number=id_number(4), employer_uscc=None)
    await env.issue(number=cert_number(5), holder_id_number=id_number(5))
    await env.client.post(
        f"/v1/certificates/{cert_number(5)}/revocation",
        json={"reason": "作废", "effective_on": "2025-04-01"},
        headers=env.headers,
    )
    response = await env.client.get(
        "/v1/enterprises/me/levels", headers=env.auth.headers("enterprise", EMPLOYER.lower())
    )
    assert response.status_code == 200
    body = response.json()
    assert body["enterprise_uscc"] == EMPLOYER
    assert body["persons"] == 2 and body["high_skilled_persons"] == 1
    by_level = {lv["level"]: (lv["persons"], lv["highest"]) for lv in body["levels"]}
    assert by_level["senior"] == (1, 0)
    assert by_level["technician"] == (1, 1)
    assert by_level["junior"] == (1, 1)
    assert by_level["chief_technician"] == (0, 0)
    assert [lv["rank"] for lv in body["levels"]] == list(range(1, 9))
    assert "person" not in str(body).replace("persons", "")


async def test_rows_recorded_before_digests_can_be_backfilled(env) -> None:
    from sqlalchemy import update

    from evaluation.certificates.maintenance import backfill_name_digests
    from evaluation.certificates.store import certificates

    await env.issue()
    async with env.engine.begin() as conn:
        await conn.execute(update(certificates).values(holder_name_digest=None))
    assert (await verify(env)).json()["result"] == "not_found"
    assert await backfill_name_digests(env.app.state.settings, batch=1) == 1
    assert (await verify(env)).json()["result"] == "valid"


async def test_rows_with_a_ciphertext_per_field_still_open_and_backfill(env) -> None:
    """Rows recorded before migration 0005 keep the ID number and the name in two ciphertexts;
    reading a holder and the digest backfill take either form."""
    from sqlalchemy import select, update

    from evaluation.certificates.maintenance import backfill_name_digests
    from evaluation.certificates.store import certificates, open_holder

    await env.issue()
    cipher = env.app.state.field_cipher
    async with env.engine.begin() as conn:
        await conn.execute(
            update(certificates).values(
                holder_cipher=None,
                holder_id_cipher=cipher.encrypt(VALID_ID, context=b"certificates.holder_id"),
                holder_name_cipher=cipher.encrypt("张三", context=b"certificates.holder_name"),
                holder_name_digest=None,
            )
        )
        row = (await conn.execute(select(certificates))).one()
    assert open_holder(cipher, row) == (VALID_ID, "张三")
    assert await backfill_name_digests(env.app.state.settings, batch=1) == 1
    assert (await verify(env)).json()["result"] == "valid"


@pytest.mark.parametrize(
    "values",
    [
        {"holder_cipher": None},  # neither form
        {"holder_id_cipher": b"x", "holder_name_cipher": b"y"},  # both forms
        {"holder_cipher": None, "holder_id_cipher": b"x"},  # half of the old form
    ],
)
async def test_a_row_holds_its_holder_in_exactly_one_form(env, values) -> None:
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    from evaluation.certificates.store import certificates

    await env.issue()
    with pytest.raises(IntegrityError):
        async with env.engine.begin() as conn:
            await conn.execute(update(certificates).values(**values))


@pytest.mark.parametrize(
    ("condition", "index"),
    [
        ("holder_person_key = 'k'", "ix_certificates_holder_person_key"),
        ("employer_uscc = 'U'", "ix_certificates_employer_uscc"),
        ("employer_uscc IN ('U', 'V')", "ix_certificates_employer_uscc"),
    ],
)
async def test_holder_and_employer_lookups_can_use_their_indexes(env, condition, index) -> None:
    """The lookups by person key (a hash index on PostgreSQL) and by employer (an index without
    the rows that have none, migration 0004) can be served by those indexes."""
    async with env.engine.connect() as conn:
        if env.engine.dialect.name == "postgresql":
            await conn.execute(text("SET enable_seqscan = off"))
            explain = "EXPLAIN"
        else:
            explain = "EXPLAIN QUERY PLAN"
        plan = await conn.execute(text(f"{explain} SELECT id FROM certificates WHERE {condition}"))
        assert index in " ".join(str(row) for row in plan)
