"""Evaluation bodies: registration, status history, issuing rules, exit flagging, negative list."""

from __future__ import annotations

import pytest

from evaluation.events import CERTIFICATE_FLAGGED

from .conftest import EMPLOYER, cert_number, id_number, uscc

PROBLEM = "application/problem+json"


async def test_registration_and_idempotent_repeat(env) -> None:
    body = {"code": "S0002", "type": "S", "name": "舟山评价中心", "uscc": "91110000600037341l"}
    first = await env.client.post("/v1/bodies", json=body, headers=env.admin)
    assert first.status_code == 201, first.text
    data = first.json()
    assert data["uscc"] == "91110000600037341L"  # normalised
    assert data["status"] == "active" and data["status_since"] == "1990-01-01"
    assert [h["status"] for h in data["history"]] == ["active"]
    assert data["history"][0]["recorded_by"] == "admin-1"
    again = await env.client.post("/v1/bodies", json=body, headers=env.admin)
    assert again.status_code == 200 and again.json()["code"] == "S0002"
    other = await env.client.post("/v1/bodies", json=dict(body, name="别的"), headers=env.admin)
    assert other.status_code == 409 and other.json()["type"].endswith("/body-code-taken")


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"code": "S001"}, "code", "string_too_short"),
        ({"code": "X0001"}, "code", "format"),
        ({"code": "S00A1"}, "code", "format"),
        ({"code": "S00013300"}, "code", "format"),
        ({"code": "Y0001", "type": "S"}, "type", "code_type_mismatch"),
        ({"code": "Y0001", "type": "Y", "uscc": None}, "uscc", "required_for_employer_body"),
        ({"uscc": "9111000060003734IL"}, "uscc", "format"),
        ({"type": "Z"}, "type", "literal_error"),
        ({"name": ""}, "name", "string_too_short"),
        ({"filed_on": "2025-02-30"}, "filed_on", "date_from_datetime_parsing"),
        ({"status": "active"}, "status", "extra_forbidden"),
    ],
)
async def test_registration_validation(env, overrides, field, reason) -> None:
    body = {"code": "S0003", "type": "S", "name": "机构", "uscc": EMPLOYER, **overrides}
    body = {k: v for k, v in body.items() if v is not None}
    response = await env.client.post("/v1/bodies", json=body, headers=env.admin)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert any(
        e["field"] == field and e["reason"].startswith(reason.split("_from")[0])
        for e in response.json()["errors"]
    ), response.json()


async def test_province_filed_code_and_uscc_checksum_warning(env) -> None:
    response = await env.client.post(
        "/v1/bodies",
        json={
            "code": "S000033000123",
            "type": "S",
            "name": "省备案机构",
            "uscc": "91350100M0001TGQXM",
        },
        headers=env.admin,
    )
    assert response.status_code == 201
    assert response.json()["warnings"] == ["uscc_checksum_mismatch"]
    number = "S000033000123253000001"
    issued = await env.issue("S000033000123", number=number)
    assert issued.status_code == 201, issued.text
    wrong = await env.issue("S000033000123", number="S000033000999253000001")
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["reason"] == "body_mismatch"


async def test_unregistered_body_cannot_issue(env) -> None:
    response = await env.issue("S0999", number=cert_number(1, body="S0999"))
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"].endswith("/body-not-registered")
    assert await env.counts() == (0, 0)


async def test_number_must_start_with_the_body_code(env) -> None:
    response = await env.issue(number=cert_number(1, body="S0002"))
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "number",
            "reason": "body_mismatch",
            "message": "A 2019-format number starts with the issuing body's code",
        }
    ]
    legacy_format = await env.issue(number="0912003000300127")
    assert legacy_format.status_code == 201


async def test_number_year_mismatch_is_a_warning(env) -> None:
    response = await env.issue(number=cert_number(7, year=2024), issued_on="2025-01-05")
    assert response.status_code == 201
    assert response.json()["warnings"] == ["number_year_mismatch"]


async def test_certificate_before_the_filing_date_is_refused(env) -> None:
    await env.register("S0002", filed_on="2025-05-01")
    early = await env.issue("S0002", number=cert_number(1, body="S0002"), issued_on="2025-04-30")
    assert early.status_code == 409
    problem = early.json()
    assert problem["type"].endswith("/body-may-not-issue")
    assert problem["body_status"] == "not_filed" and problem["on"] == "issue_date"
    on_time = await env.issue("S0002", number=cert_number(2, body="S0002"), issued_on="2025-05-01")
    assert on_time.status_code == 201


async def test_status_on_the_issue_date_and_today_decide(env) -> None:
    await env.set_status("S0001", "suspended", "2025-03-01", "违规评价，暂停三个月")
    await env.set_status("S0001", "active", "2025-06-01", "整改完成")
    during = await env.issue(number=cert_number(1), issued_on="2025-04-01")
    assert during.status_code == 409
    problem = during.json()
    assert problem["body_status"] == "suspended" and problem["on"] == "issue_date"
    assert problem["status_reason"] == "违规评价，暂停三个月"
    assert problem["status_effective_on"] == "2025-03-01"
    assert "违规评价" in problem["detail"]
    before = await env.issue(number=cert_number(2), issued_on="2025-02-01")
    after = await env.issue(number=cert_number(3), issued_on="2025-07-01")
    assert (before.status_code, after.status_code) == (201, 201)
    # Suspended today: nothing may be issued, not even with an earlier issue date.
    await env.set_status("S0001", "suspended", "2026-01-01", "再次违规")
    back_dated = await env.issue(number=cert_number(4), issued_on="2025-07-02")
    assert back_dated.status_code == 409 and back_dated.json()["on"] == "today"
    assert await env.counts() == (2, 2)


async def test_warned_body_may_issue(env) -> None:
    await env.set_status("S0001", "warned", "2025-01-01", "黄牌警告")
    response = await env.issue()
    assert response.status_code == 201
    body = (await env.client.get("/v1/bodies/S0001", headers=env.admin)).json()
    assert body["status"] == "warned" and body["on_negative_list"] is False


async def test_identical_repeat_is_replayed_even_after_suspension(env) -> None:
    assert (await env.issue()).status_code == 201
    await env.set_status("S0001", "suspended", "2025-12-01", "暂停")
    again = await env.issue()
    assert again.status_code == 200
    new = await env.issue(number=cert_number(9))
    assert new.status_code == 409


async def test_exit_flags_later_certificates_and_is_final(env) -> None:
    for serial, day in [(1, "2025-02-28"), (2, "2025-03-01"), (3, "2025-05-01")]:
        response = await env.issue(
            number=cert_number(serial), holder_id_number=id_number(serial), issued_on=day
        )
        assert response.status_code == 201
    exited = await env.set_status("S0001", "exited", "2025-03-01", "退出评价机构目录")
    assert exited.status_code == 201, exited.text
    assert exited.json()["flagged_certificates"] == 2
    assert exited.json()["status"] == "exited"
    read = {
        n: (await env.client.get(f"/v1/certificates/{cert_number(n)}", headers=env.admin)).json()
        for n in (1, 2, 3)
    }
    assert read[1]["flagged_reason"] is None
    assert read[2]["flagged_reason"] == read[3]["flagged_reason"] == "issued_after_body_exit"
    assert read[2]["status"] == "valid"  # the status stays
    flagged = await env.events(".certificate.flagged.v1")
    assert len(flagged) == 2 and flagged[0].type == CERTIFICATE_FLAGGED
    assert set(flagged[0].data) == {"certificate_id", "reason", "body_code", "flagged_on"}
    assert flagged[0].data["reason"] == "issued_after_body_exit"
    assert flagged[0].data["body_code"] == "S0001"
    assert {e.subject for e in flagged} == {read[2]["id"], read[3]["id"]}
    assert all(len(e.personkey) == 64 and e.town == "changguo" for e in flagged)
    # No issuing after the exit, and no status after it.
    refused = await env.issue(number=cert_number(4), issued_on="2025-06-01")
    assert refused.status_code == 409 and refused.json()["body_status"] == "exited"
    final = await env.set_status("S0001", "active", "2025-07-01", "恢复")
    assert final.status_code == 409 and final.json()["type"].endswith("/body-exited")
    # An earlier exit date may still be recorded: it flags what it newly covers.
    earlier = await env.set_status("S0001", "exited", "2025-02-01", "更正退出日期")
    assert earlier.status_code == 201 and earlier.json()["flagged_certificates"] == 1
    assert len(await env.events(".certificate.flagged.v1")) == 3


async def test_exit_with_a_future_date_flags_nothing_yet(env) -> None:
    assert (await env.issue()).status_code == 201
    response = await env.set_status("S0001", "exited", "2099-01-01", "计划退出")
    assert response.json()["flagged_certificates"] == 0
    assert response.json()["status"] == "active"


async def test_negative_list(env) -> None:
    for code in ("S0002", "S0003", "S0004", "S0005"):
        await env.register(code)
    await env.set_status("S0002", "suspended", "2025-01-01", "暂停")
    await env.set_status("S0003", "exited", "2025-01-01", "退出")
    await env.set_status("S0004", "warned", "2025-01-01", "警告")
    await env.set_status("S0005", "suspended", "2099-01-01", "将来暂停")
    listed = await env.client.get("/v1/bodies?negative_list=true", headers=env.admin)
    assert listed.status_code == 200
    assert [(b["code"], b["status"]) for b in listed.json()["items"]] == [
        ("S0002", "suspended"),
        ("S0003", "exited"),
    ]
    assert all(b["on_negative_list"] for b in listed.json()["items"])
    everyone = await env.client.get("/v1/bodies?limit=2", headers=env.admin)
    assert [b["code"] for b in everyone.json()["items"]] == ["LEGACY", "S0001"]
    cursor = everyone.json()["next_cursor"]
    rest = await env.client.get(f"/v1/bodies?limit=10&cursor={cursor}", headers=env.admin)
    assert [b["code"] for b in rest.json()["items"]] == ["S0002", "S0003", "S0004", "S0005"]
    assert rest.json()["next_cursor"] is None
    bad = await env.client.get("/v1/bodies?cursor=%%%", headers=env.admin)
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"status": "closed"}, "status", "enum"),
        ({"effective_on": "1980-01-01"}, "effective_on", "too_early"),
        ({"reason": ""}, "reason", "string_too_short"),
        ({"reason": "举报人 13812345678"}, "reason", "personal_data"),
        ({"reason": "持证人 11010519491231002X"}, "reason", "personal_data"),
    ],
)
async def test_status_change_validation(env, change, field, reason) -> None:
    body = {"status": "suspended", "effective_on": "2025-05-01", "reason": "检查", **change}
    response = await env.client.post("/v1/bodies/S0001/status", json=body, headers=env.admin)
    assert response.status_code == 422, response.text
    assert any(e["field"] == field and e["reason"] == reason for e in response.json()["errors"])
    assert "13812345678" not in response.text and "11010519491231002X" not in response.text


async def test_status_of_an_unknown_body_is_404(env) -> None:
    response = await env.set_status("S0999", "suspended", "2025-05-01")
    assert response.status_code == 404 and response.json()["type"].endswith("/body-not-found")


async def test_status_history_is_append_only_and_ordered(env) -> None:
    await env.set_status("S0001", "warned", "2025-02-01", "一")
    await env.set_status("S0001", "suspended", "2025-01-15", "补录")  # back-dated row
    body = (await env.client.get("/v1/bodies/S0001", headers=env.admin)).json()
    assert [h["reason"] for h in body["history"]] == [
        "registered (filing date unknown)",
        "一",
        "补录",
    ]
    assert body["status"] == "warned"  # the latest row effective today is the warning
    refused = await env.issue(number=cert_number(1), issued_on="2025-01-20")
    assert refused.status_code == 409 and refused.json()["body_status"] == "suspended"


async def test_employer_body_rules(env) -> None:
    enterprise = uscc(7)
    await env.register("Y0007", uscc=enterprise)
    ok = await env.issue(
        "Y0007",
        number=cert_number(1, body="Y0007"),
        mode="enterprise_assessment",
        employer_uscc=enterprise,
    )
    assert ok.status_code == 201, ok.text
    wrong_mode = await env.issue(
        "Y0007", number=cert_number(2, body="Y0007"), employer_uscc=enterprise
    )
    assert wrong_mode.status_code == 422
    assert wrong_mode.json()["errors"][0]["reason"] == "mode_not_allowed_for_body"
    other_employer = await env.issue(
        "Y0007",
        number=cert_number(3, body="Y0007"),
        mode="enterprise_assessment",
        employer_uscc=EMPLOYER,
    )
    assert other_employer.json()["errors"][0]["reason"] == "not_body_enterprise"
    no_employer = await env.issue(
        "Y0007",
        number=cert_number(4, body="Y0007"),
        mode="enterprise_assessment",
        employer_uscc=None,
    )
    reasons = {e["reason"] for e in no_employer.json()["errors"]}
    assert reasons == {"required_for_mode", "not_body_enterprise"}


async def test_social_body_may_not_issue_self_assessment(env) -> None:
    response = await env.issue(mode="enterprise_assessment")
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "mode",
        "reason": "mode_not_allowed_for_body",
        "message": "Only an employer (Y) body issues enterprise self-assessment certificates",
    }


async def test_the_legacy_body_only_receives_imports(env) -> None:
    response = await env.issue("LEGACY", number="LEGACY-000001")
    assert response.status_code == 409 and response.json()["body_status"] == "legacy"
    assert await env.counts() == (0, 0)


async def test_a_body_sees_itself_but_not_others(env) -> None:
    await env.register("S0002")
    own = await env.client.get("/v1/bodies/S0001", headers=env.headers)
    assert own.status_code == 200
    other = await env.client.get("/v1/bodies/S0002", headers=env.headers)
    missing = await env.client.get("/v1/bodies/S0999", headers=env.admin)
    assert other.status_code == missing.status_code == 404
