"""The enterprise self-assessment reward: one entry per employee a year, the cap, reversals,
waiting persons, concurrency, the ledger views and exports."""

from __future__ import annotations

import asyncio
import csv
import io

import openpyxl

from evaluation.events import REWARD_GRANTED, REWARD_REVERSED

from .conftest import cert_number, id_number, uscc

ENTERPRISE = uscc(1)
BODY = "Y0001"


async def setup_enterprise(env, code: str = BODY, enterprise: str = ENTERPRISE) -> None:
    await env.register(code, uscc=enterprise)


async def ea(
    env,
    serial: int,
    person: int,
    *,
    issued_on: str = "2025-05-01",
    code: str = BODY,
    enterprise: str = ENTERPRISE,
    level: str = "senior",
    name: str = "员工",
):
    """Issue an enterprise self-assessment certificate of person `person`."""
    year = int(issued_on[:4])
    return await env.issue(
        code,
        number=cert_number(serial, body=code, level=level, year=year),
        level=level,
        holder_id_number=id_number(person),
        holder_name=name,
        issued_on=issued_on,
        mode="enterprise_assessment",
        employer_uscc=enterprise,
    )


async def revoke(env, serial: int, *, code: str = BODY, year: int = 2025, level: str = "senior"):
    return await env.client.post(
        f"/v1/certificates/{cert_number(serial, body=code, level=level, year=year)}/revocation",
        json={"reason": "撤销", "effective_on": f"{year}-06-01"},
        headers=env.body_headers(code),
    )


async def ledger(env, year: int = 2025, enterprise: str = ENTERPRISE) -> dict:
    response = await env.client.get(f"/v1/rewards?year={year}&uscc={enterprise}", headers=env.admin)
    assert response.status_code == 200, response.text
    enterprises = response.json()["enterprises"]
    return enterprises[0] if enterprises else {"granted_fen": 0, "persons": 0, "entries": []}


def granted(entries: list[dict]) -> list[dict]:
    return [e for e in entries if e["status"] == "granted"]


async def test_each_distinct_employee_earns_one_entry(env) -> None:
    await setup_enterprise(env)
    assert (await ea(env, 1, person=1)).status_code == 201
    assert (await ea(env, 2, person=1, level="technician")).status_code == 201
    assert (await ea(env, 3, person=2)).status_code == 201
    book = await ledger(env)
    assert book["granted_fen"] == 100_000 and book["granted_yuan"] == "1000.00"
    assert book["persons"] == 2 and book["cap_fen"] == 5_000_000
    assert [e["amount_fen"] for e in book["entries"]] == [50_000, 50_000]
    assert book["entries"][0]["holder_name_masked"] == "员*"
    events = await env.events(".reward.granted.v1")
    assert [e.type for e in events] == [REWARD_GRANTED, REWARD_GRANTED]
    first = events[0]
    assert set(first.data) == {
        "entry_id",
        "enterprise_uscc",
        "year",
        "amount_fen",
        "certificate_id",
        "granted_on",
        "policy_version",
    }
    assert first.subject == first.data["entry_id"]
    assert first.data["enterprise_uscc"] == ENTERPRISE and first.data["year"] == 2025
    assert first.data["amount_fen"] == 50_000 and first.data["policy_version"] == "2025.1"
    assert len(first.personkey) == 64 and first.town == "changguo"
    assert events[0].personkey != events[1].personkey


async def test_social_evaluation_certificates_earn_nothing(env) -> None:
    await env.issue()  # an S body, social evaluation, naming an employer
    response = await env.client.get("/v1/rewards?year=2025", headers=env.admin)
    assert response.json()["enterprises"] == []


async def test_certificates_before_the_pilot_earn_nothing(env) -> None:
    await setup_enterprise(env)
    assert (await ea(env, 1, person=1, issued_on="2024-11-01")).status_code == 201
    assert (await ledger(env, year=2024))["granted_fen"] == 0


async def test_years_are_counted_apart(env) -> None:
    await setup_enterprise(env)
    await ea(env, 1, person=1, issued_on="2025-05-01")
    await ea(env, 2, person=1, issued_on="2026-02-01")
    assert (await ledger(env, 2025))["granted_fen"] == 50_000
    assert (await ledger(env, 2026))["granted_fen"] == 50_000


async def test_cap_waiting_person_and_reversal(env) -> None:
    await setup_enterprise(env)
    items = [
        {
            "number": cert_number(n, body=BODY),
            "level": "senior",
            "occupation_code": "6-04-02-05",
            "occupation_name": "焊工",
            "holder_id_number": id_number(n),
            "holder_name": "员工",
            "issued_on": "2025-05-01",
            "employer_uscc": ENTERPRISE,
            "mode": "enterprise_assessment",
            "town": "jintang",
        }
        for n in range(101)
    ]
    response = await env.client.post(
        "/v1/certificates/batches",
        json={"certificates": items},
        headers={**env.body_headers(BODY), "Idempotency-Key": "cap-batch-0001"},
    )
    assert response.json()["created"] == 101
    book = await ledger(env)
    assert book["granted_fen"] == 5_000_000 and book["persons"] == 100
    assert len(book["entries"]) == 100  # person 100 waits
    assert (await revoke(env, 0)).status_code == 200
    book = await ledger(env)
    assert book["granted_fen"] == 5_000_000 and book["persons"] == 100
    reversed_ = [e for e in book["entries"] if e["status"] == "reversed"]
    assert len(reversed_) == 1 and reversed_[0]["reversal_reason"] == "certificate_revoked"
    assert reversed_[0]["certificate_number"] == cert_number(0, body=BODY)
    assert granted(book["entries"])[-1]["certificate_number"] == cert_number(100, body=BODY)
    [reversal] = await env.events(".reward.reversed.v1")
    assert reversal.type == REWARD_REVERSED
    assert set(reversal.data) == {
        "entry_id",
        "enterprise_uscc",
        "year",
        "amount_fen",
        "certificate_id",
        "reversed_on",
        "policy_version",
    }
    assert reversal.data["amount_fen"] == 50_000 and reversal.town == "jintang"
    assert len(await env.events(".reward.granted.v1")) == 101


async def test_revocation_reverses_only_without_another_eligible_certificate(env) -> None:
    await setup_enterprise(env)
    await ea(env, 1, person=1)
    await ea(env, 2, person=1, level="technician")
    await revoke(env, 1)
    assert (await ledger(env))["granted_fen"] == 50_000
    await revoke(env, 2, level="technician")
    book = await ledger(env)
    assert book["granted_fen"] == 0 and book["persons"] == 0
    assert [e["status"] for e in book["entries"]] == ["reversed"]


async def test_partial_last_entry_is_topped_up_when_room_opens(make_env) -> None:
    env = await make_env(reward=(50_000, 120_000))  # 500 yuan, cap 1,200 yuan
    await setup_enterprise(env)
    for person in (1, 2, 3):
        await ea(env, person, person=person)
    book = await ledger(env)
    assert [e["amount_fen"] for e in book["entries"]] == [50_000, 50_000, 20_000]
    assert book["granted_fen"] == 120_000
    await revoke(env, 1)
    book = await ledger(env)
    assert book["granted_fen"] == 100_000  # min(cap, 2 persons x 500)
    assert [(e["status"], e["amount_fen"], e["reversal_reason"]) for e in book["entries"]] == [
        ("reversed", 50_000, "certificate_revoked"),
        ("granted", 50_000, None),
        ("reversed", 20_000, "regranted"),
        ("granted", 50_000, None),
    ]


async def test_exit_of_the_employer_body_reverses_flagged_entries(env) -> None:
    await setup_enterprise(env)
    await ea(env, 1, person=1, issued_on="2025-02-01")
    await ea(env, 2, person=2, issued_on="2025-04-01")
    response = await env.set_status(BODY, "exited", "2025-03-01", "企业注销")
    assert response.json()["flagged_certificates"] == 1
    book = await ledger(env)
    assert book["granted_fen"] == 50_000
    assert [e["reversal_reason"] for e in book["entries"]] == [None, "certificate_flagged"]
    levels = await env.client.get(
        "/v1/enterprises/me/levels", headers=env.auth.headers("enterprise", ENTERPRISE)
    )
    assert levels.json()["persons"] == 1  # the flagged certificate no longer counts


async def test_concurrent_issues_never_pass_the_cap(make_env) -> None:
    env = await make_env(reward=(50_000, 150_000))  # room for 3 persons
    await setup_enterprise(env)
    responses = await asyncio.gather(*(ea(env, n, person=n) for n in range(12)))
    assert [r.status_code for r in responses] == [201] * 12
    book = await ledger(env)
    assert book["granted_fen"] == 150_000 and len(book["entries"]) == 3
    # Concurrent revocations and issues: the ledger still equals min(cap, 500 x eligible).
    await asyncio.gather(*(revoke(env, n) for n in range(0, 12, 2)), ea(env, 50, person=50))
    book = await ledger(env)
    assert book["granted_fen"] == 150_000
    assert len({e["certificate_number"] for e in granted(book["entries"])}) == 3


async def test_ledger_of_all_enterprises_and_exports(env) -> None:
    await setup_enterprise(env)
    await setup_enterprise(env, "Y0002", uscc(2))
    await ea(env, 1, person=1, name="=HYPERLINK")
    await ea(env, 2, person=2, code="Y0002", enterprise=uscc(2), name="+SUM")
    await revoke(env, 1)
    whole = await env.client.get("/v1/rewards?year=2025", headers=env.admin)
    assert [e["enterprise_uscc"] for e in whole.json()["enterprises"]] == [ENTERPRISE, uscc(2)]
    exported = await env.client.get("/v1/rewards/export.csv?year=2025", headers=env.admin)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["企业统一社会信用代码", "年度", "证书编号", "持证人", "奖励金额（元）"]
    assert [r[3] for r in rows[1:]] == ["'=*********", "'+***"]
    assert [r[5] for r in rows[1:]] == ["已撤销", "已发放"]
    assert rows[1][4] == "500.00"
    xlsx = await env.client.get("/v1/rewards/export.xlsx?year=2025", headers=env.admin)
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "企业统一社会信用代码" and len(values) == 3
    assert values[1][3] == "'=*********" and sheet.cell(row=2, column=4).data_type == "s"
    assert sheet.cell(row=2, column=1).data_type == "s"
    assert float(values[1][4]) == 500.0
    bad = await env.client.get("/v1/rewards?year=2025&uscc=ABC", headers=env.admin)
    assert bad.status_code == 422


async def test_an_enterprise_sees_its_own_ledger(env) -> None:
    await setup_enterprise(env)
    await setup_enterprise(env, "Y0002", uscc(2))
    await ea(env, 1, person=1)
    await ea(env, 2, person=2, code="Y0002", enterprise=uscc(2))
    own = await env.client.get(
        "/v1/enterprises/me/rewards?year=2025", headers=env.auth.headers("enterprise", ENTERPRISE)
    )
    assert own.status_code == 200
    [book] = own.json()["enterprises"]
    assert book["enterprise_uscc"] == ENTERPRISE and book["granted_fen"] == 50_000
