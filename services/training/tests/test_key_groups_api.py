"""Key groups (愿培全培): memberships by the person or a town officer, events, report, access."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from training.events import KEY_GROUP_MEMBERSHIP_RECORDED, KeyGroupMembershipRecordedV1
from training.models import outbox

URL = "/v1/key-groups/memberships"
REPORT = "/v1/key-groups/report"


async def _events(env) -> list:
    async with env.engine.connect() as conn:
        query = (
            select(outbox)
            .where(outbox.c.type == KEY_GROUP_MEMBERSHIP_RECORDED)
            .order_by(outbox.c.id)
        )
        return list((await conn.execute(query)).all())


async def test_a_citizen_records_and_updates_their_own_membership(env) -> None:
    person = env.person(1)
    first = await env.client.post(
        URL,
        json={"group": "unemployed", "willing": True, "town": "baiquan"},
        headers=env.citizen(person),
    )
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["group_name_zh"], body["town_name_zh"]) == ("失业人员", "白泉镇")
    assert body["id_number_masked"] is None and body["recorded_by_kind"] == "citizen"
    again = await env.client.post(
        URL,
        json={"group": "unemployed", "willing": False, "town": "baiquan"},
        headers=env.citizen(person),
    )
    assert (
        again.status_code == 200
        and again.json()["id"] == body["id"]
        and again.json()["willing"] is False
    )
    events = await _events(env)
    assert [e.subject for e in events] == [body["id"], body["id"]]
    assert events[0].data == {
        "membership_id": body["id"],
        "group": "unemployed",
        "town": "baiquan",
        "willing": True,
        "recorded_on": "2025-06-02",
        "policy_version": "2025.1",
    }
    assert events[1].data["willing"] is False
    assert events[0].personkey == events[1].personkey and events[0].town == "baiquan"
    for event in events:
        KeyGroupMembershipRecordedV1.model_validate(event.data)
    mine = await env.client.get("/v1/me/key-groups", headers=env.citizen(person))
    assert [m["id"] for m in mine.json()] == [body["id"]]
    assert (
        await env.client.get("/v1/me/key-groups", headers=env.citizen(env.person(2)))
    ).json() == []


async def test_a_town_officer_records_for_a_person_of_their_town(env) -> None:
    person = env.person(3)
    body = {
        "group": "veterans",
        "willing": True,
        "town": "ganlan",
        "id_number": person,
        "name": "刘备",
    }
    response = await env.client.post(URL, json=body, headers=env.town_officer("ganlan"))
    assert response.status_code == 201, response.text
    assert response.json()["name_masked"] == "刘*" and person not in response.text
    assert response.json()["recorded_by_kind"] == "official"
    [event] = await _events(env)
    assert person not in str(event.data) and "刘备" not in str(event.data)
    other_town = await env.client.post(
        URL, json={**body, "town": "jintang"}, headers=env.town_officer("ganlan")
    )
    assert other_town.status_code == 403 and other_town.json()["type"].endswith("/other-town")
    by_admin = await env.client.post(URL, json={**body, "town": "jintang"}, headers=env.admin)
    assert by_admin.status_code == 200  # the same person and group: updated, now in jintang
    # The citizen sees the membership the officer recorded.
    mine = await env.client.get("/v1/me/key-groups", headers=env.citizen(person))
    assert mine.json()[0]["town"] == "jintang"


async def test_membership_validation_and_access(env) -> None:
    person = env.person(4)
    cases = [
        (
            env.citizen(person),
            {"group": "astronauts", "willing": True, "town": "baiquan"},
            422,
            "group",
        ),
        (
            env.citizen(person),
            {"group": "disabled", "willing": True, "town": "atlantis"},
            422,
            "town",
        ),
        (
            env.citizen(person),
            {"group": "disabled", "willing": True, "town": "baiquan", "id_number": person},
            422,
            "id_number",
        ),
        (
            env.town_officer("baiquan"),
            {"group": "disabled", "willing": True, "town": "baiquan"},
            422,
            "id_number",
        ),
        (
            env.town_officer("baiquan"),
            {
                "group": "disabled",
                "willing": True,
                "town": "baiquan",
                "id_number": "110105194912310021",
                "name": "甲",
            },
            422,
            "id_number",
        ),
        (
            env.auth.headers("institution", "inst-1"),
            {"group": "disabled", "willing": True, "town": "baiquan"},
            403,
            None,
        ),
        (
            env.auth.headers("official", "audit-1", role="auditor"),
            {
                "group": "disabled",
                "willing": True,
                "town": "baiquan",
                "id_number": person,
                "name": "甲",
            },
            403,
            None,
        ),
    ]
    for headers, body, code, field in cases:
        response = await env.client.post(URL, json=body, headers=headers)
        assert response.status_code == code, (body, response.text)
        if field:
            assert response.json()["errors"][0]["field"] == field
    assert (await env.counts())["memberships"] == 0 and (await env.counts())["outbox"] == 0


async def test_report_counts_willing_trained_and_gap(env, institution) -> None:
    _, headers = institution
    willing = [env.person(n) for n in range(4)]
    for n, person in enumerate(willing):
        town = "baiquan" if n < 3 else "ganlan"
        await env.client.post(
            URL,
            json={"group": "unemployed", "willing": True, "town": town},
            headers=env.citizen(person),
        )
    await env.client.post(
        URL,
        json={"group": "unemployed", "willing": False, "town": "baiquan"},
        headers=env.citizen(env.person(9)),
    )
    await env.client.post(
        URL,
        json={"group": "new_graduates", "willing": True, "town": "baiquan"},
        headers=env.citizen(willing[0]),
    )
    # Two willing people of baiquan complete a class this year (one fails: still trained).
    cls = await env.new_class(headers, domain="key_groups", capacity=5, town="baiquan")
    env.set_today(date(2025, 6, 20))
    for person in (willing[0], willing[1], env.person(9)):
        await env.enrol_trainee(cls["id"], headers, person)
    env.set_today(date(2025, 7, 1))
    batch = await env.client.post(
        "/v1/completions/batches",
        json={
            "records": [
                {
                    "class_id": cls["id"],
                    "id_number": p,
                    "name": "甲乙",
                    "result": r,
                    "hours": 16,
                    "completed_on": "2025-06-30",
                }
                for p, r in (
                    (willing[0], "passed"),
                    (willing[1], "failed"),
                    (env.person(9), "passed"),
                )
            ]
        },
        headers={**headers, "Idempotency-Key": "report-batch-1"},
    )
    assert batch.json()["accepted"] == 3
    report = await env.client.get(REPORT, params={"year": 2025}, headers=env.admin)
    assert report.status_code == 200
    body = report.json()
    rows = {(r["group"], r["town"]): r for r in body["rows"]}
    assert len(rows) == 6 * 13
    assert rows[("unemployed", "baiquan")] | {} == {
        "group": "unemployed",
        "group_name_zh": "失业人员",
        "town": "baiquan",
        "town_name_zh": "白泉镇",
        "willing": 3,
        "trained": 2,
        "gap": 1,
    }
    assert (rows[("unemployed", "ganlan")]["willing"], rows[("unemployed", "ganlan")]["gap"]) == (
        1,
        1,
    )
    assert rows[("new_graduates", "baiquan")]["trained"] == 1
    assert (body["willing"], body["trained"], body["gap"]) == (5, 3, 2)
    next_year = await env.client.get(REPORT, params={"year": 2026}, headers=env.admin)
    assert next_year.json()["trained"] == 0 and next_year.json()["willing"] == 5
    # The event of the willing trainee carries both of their willing groups.
    async with env.engine.connect() as conn:
        data = [
            e.data
            for e in (
                await conn.execute(select(outbox).where(outbox.c.type.like("%completion%")))
            ).all()
        ]
    assert sorted(d["key_groups"] for d in data) == [
        [],
        ["new_graduates", "unemployed"],
        ["unemployed"],
    ]


async def test_report_scope(env) -> None:
    own = await env.client.get(REPORT, params={"year": 2025}, headers=env.town_officer("baiquan"))
    assert own.status_code == 200 and own.json()["town"] == "baiquan"
    assert {r["town"] for r in own.json()["rows"]} == {"baiquan"} and len(own.json()["rows"]) == 6
    other = await env.client.get(
        REPORT, params={"year": 2025, "town": "ganlan"}, headers=env.town_officer("baiquan")
    )
    assert other.status_code == 403
    one_town = await env.client.get(REPORT, params={"town": "ganlan"}, headers=env.admin)
    assert one_town.status_code == 200 and one_town.json()["year"] == 2025
    department = await env.client.get(
        REPORT, headers=env.auth.headers("official", "d-1", role="department_officer")
    )
    assert department.status_code == 200 and len(department.json()["rows"]) == 78
    unknown = await env.client.get(REPORT, params={"town": "atlantis"}, headers=env.admin)
    assert unknown.status_code == 422
    for who in (env.citizen(env.person(1)), env.auth.headers("institution", "inst-1")):
        assert (await env.client.get(REPORT, headers=who)).status_code == 403
