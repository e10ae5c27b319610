"""Enrolment: seats, waiting list, promotion, dates, duplicates, access, masked rosters."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from training.models import Enrolment

PROBLEM = "application/problem+json"


async def test_citizen_enrols_with_an_empty_body(env, institution) -> None:
    _, headers = institution
    cls = await env.new_class(headers)
    response = await env.enrol_citizen(cls["id"], env.person(1))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "enrolled" and body["status_zh"] == "已报名"
    assert body["waiting_position"] is None and body["enrolled_by"] == "citizen"
    assert body["id_number_masked"] is None
    assert await env.seats(cls["id"]) == 1
    assert await env.quota(2025, "manufacturing") == (2000, 1)
    async with env.engine.connect() as conn:
        row = (await conn.execute(select(Enrolment.__table__))).one()
    assert len(row.person_key) == 64
    assert row.id_cipher is None


async def test_a_second_active_enrolment_is_refused(env, institution) -> None:
    _, headers = institution
    cls = await env.new_class(headers)
    assert (await env.enrol_citizen(cls["id"], env.person(1))).status_code == 201
    again = await env.enrol_citizen(cls["id"], env.person(1))
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM
    assert again.json()["type"].endswith("/already-enrolled")
    by_institution = await env.enrol_trainee(cls["id"], headers, env.person(1))
    assert by_institution.status_code == 409
    assert (await env.counts())["enrolments"] == 1
    assert await env.seats(cls["id"]) == 1


async def test_full_class_waiting_list_in_order_and_promotion(env, institution) -> None:
    _, headers = institution
    cls = await env.new_class(headers, capacity=2)
    ids = [env.person(n) for n in range(5)]
    statuses = [(await env.enrol_citizen(cls["id"], i)) for i in ids]
    assert [r.status_code for r in statuses] == [201, 201, 202, 202, 202]
    assert [r.json()["waiting_position"] for r in statuses[2:]] == [1, 2, 3]
    assert statuses[2].json()["status_zh"] == "候补"
    # The second waiting person gives up: the others move up.
    cancel_waiting = await env.client.post(
        f"/v1/enrolments/{statuses[3].json()['id']}/cancel", headers=env.citizen(ids[3])
    )
    assert cancel_waiting.status_code == 200, cancel_waiting.text
    assert cancel_waiting.json()["promoted_enrolment_id"] is None
    assert await env.seats(cls["id"]) == 2
    # An enrolled person cancels: the first waiting person takes seat and quota.
    cancelled = await env.client.post(
        f"/v1/enrolments/{statuses[0].json()['id']}/cancel", headers=env.citizen(ids[0])
    )
    assert cancelled.status_code == 200
    assert cancelled.json()["enrolment"]["status"] == "cancelled"
    assert cancelled.json()["promoted_enrolment_id"] == statuses[2].json()["id"]
    assert await env.seats(cls["id"]) == 2
    assert await env.quota(2025, "manufacturing") == (2000, 2)
    mine = await env.client.get("/v1/me/enrolments", headers=env.citizen(ids[2]))
    [promoted] = mine.json()["items"]
    assert promoted["status"] == "enrolled" and promoted["promoted_at"] is not None
    last = await env.client.get("/v1/me/enrolments", headers=env.citizen(ids[4]))
    assert last.json()["items"][0]["waiting_position"] == 1
    # Cancelling again is refused.
    again = await env.client.post(
        f"/v1/enrolments/{statuses[0].json()['id']}/cancel", headers=env.citizen(ids[0])
    )
    assert again.status_code == 409 and again.json()["type"].endswith("/enrolment-not-active")
    # The cancelled person may enrol again (at the back of the queue).
    back = await env.enrol_citizen(cls["id"], ids[0])
    assert back.status_code == 202 and back.json()["waiting_position"] == 2


async def test_cancellation_without_waiting_list_releases_seat_and_quota(env, institution) -> None:
    _, headers = institution
    cls = await env.new_class(headers, capacity=2)
    enrolled = await env.enrol_trainee(cls["id"], headers, env.person(7), "李四")
    response = await env.client.post(
        f"/v1/enrolments/{enrolled.json()['id']}/cancel", headers=headers
    )
    assert response.status_code == 200
    assert await env.seats(cls["id"]) == 0
    assert await env.quota(2025, "manufacturing") == (2000, 0)


async def test_institution_enrols_a_trainee_with_masked_personal_data(env, institution) -> None:
    _, headers = institution
    cls = await env.new_class(headers)
    id_number = env.person(3)
    response = await env.enrol_trainee(cls["id"], headers, id_number, "欧阳娜娜")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id_number_masked"] == id_number[:6] + "********" + id_number[-4:]
    assert body["name_masked"] == "欧***" and body["enrolled_by"] == "institution"
    assert id_number not in response.text and "欧阳娜娜" not in response.text
    async with env.engine.connect() as conn:
        row = (await conn.execute(select(Enrolment.__table__))).one()
    assert id_number.encode() not in row.id_cipher and "欧阳娜娜".encode() not in row.name_cipher
    decrypted = env.app.state.field_cipher.decrypt(row.id_cipher, context=b"enrolments.id_number")
    assert decrypted == id_number
    # The citizen sees the same enrolment as their own.
    mine = await env.client.get("/v1/me/enrolments", headers=env.citizen(id_number))
    [item] = mine.json()["items"]
    assert item["id"] == body["id"] and item["class_title"] == cls["title"]
    assert item["class_domain_name_zh"] == "先进制造业（五大支柱产业）"


async def test_institution_must_name_the_trainee_with_a_valid_id(env, institution) -> None:
    _, headers = institution
    cls = await env.new_class(headers)
    url = f"/v1/classes/{cls['id']}/enrolments"
    missing = await env.client.post(url, headers=headers)
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "id_number"
    bad = await env.client.post(
        url, json={"id_number": "110105194912310021", "name": "张三"}, headers=headers
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0] == {
        "field": "id_number",
        "reason": "checksum",
        "message": "The ID number is not valid",
    }
    assert "110105194912310021" not in bad.text
    assert await env.counts() == {"enrolments": 0, "completions": 0, "memberships": 0, "outbox": 0}
    assert await env.seats(cls["id"]) == 0


async def test_citizen_may_add_their_own_id_but_not_someone_elses(env, institution) -> None:
    _, headers = institution
    cls = await env.new_class(headers)
    url = f"/v1/classes/{cls['id']}/enrolments"
    other = await env.client.post(
        url, json={"id_number": env.person(2), "name": "王五"}, headers=env.citizen(env.person(1))
    )
    assert other.status_code == 422 and other.json()["errors"][0]["reason"] == "not_token_holder"
    own = await env.client.post(
        url, json={"id_number": env.person(1), "name": "赵六"}, headers=env.citizen(env.person(1))
    )
    assert own.status_code == 201 and own.json()["name_masked"] == "赵*"


async def test_enrolment_dates(env, institution) -> None:
    _, headers = institution
    cls = await env.new_class(headers, starts_on="2025-06-10", ends_on="2025-06-30")
    env.set_today(date(2025, 6, 10))  # the first day: citizens are too late, the institution not
    late = await env.enrol_citizen(cls["id"], env.person(1))
    assert late.status_code == 409 and late.json()["type"].endswith("/enrolment-closed")
    assert (await env.enrol_trainee(cls["id"], headers, env.person(1))).status_code == 201
    env.set_today(date(2025, 6, 30))
    assert (await env.enrol_trainee(cls["id"], headers, env.person(2))).status_code == 201
    env.set_today(date(2025, 7, 1))
    ended = await env.enrol_trainee(cls["id"], headers, env.person(3))
    assert ended.status_code == 409 and ended.json()["type"].endswith("/enrolment-closed")
    assert (await env.counts())["enrolments"] == 2


async def test_quota_exhausted_is_refused_and_nothing_is_taken(env, institution) -> None:
    _, headers = institution
    first = await env.new_class(headers, domain="apprenticeship")
    second = await env.new_class(headers, domain="apprenticeship")
    adjust = await env.client.post(
        "/v1/programmes/2025/apprenticeship/quota-adjustments",
        json={"quota": 1, "reason": "测试：只剩一个名额"},
        headers=env.admin,
    )
    assert adjust.status_code == 201, adjust.text
    assert (await env.enrol_citizen(first["id"], env.person(1))).status_code == 201
    refused = await env.enrol_citizen(second["id"], env.person(2))
    assert refused.status_code == 409 and refused.json()["type"].endswith("/quota-exhausted")
    assert await env.seats(second["id"]) == 0
    assert await env.quota(2025, "apprenticeship") == (1, 1)
    assert (await env.counts())["enrolments"] == 1


async def test_promotion_waits_when_the_quota_is_gone(env, institution) -> None:
    _, headers = institution
    cls = await env.new_class(headers, domain="apprenticeship", capacity=1)
    seated = await env.enrol_citizen(cls["id"], env.person(1))
    waiting = await env.enrol_citizen(cls["id"], env.person(2))
    assert (seated.status_code, waiting.status_code) == (201, 202)
    # Officials lower the quota to what is used; the freed unit is then taken by the promotion.
    await env.client.post(
        "/v1/programmes/2025/apprenticeship/quota-adjustments",
        json={"quota": 1, "reason": "收紧"},
        headers=env.admin,
    )
    cancelled = await env.client.post(
        f"/v1/enrolments/{seated.json()['id']}/cancel", headers=env.citizen(env.person(1))
    )
    assert cancelled.json()["promoted_enrolment_id"] == waiting.json()["id"]
    assert await env.quota(2025, "apprenticeship") == (1, 1)


async def test_cancellation_rules(env, institution) -> None:
    _, headers = institution
    _other_id, other_headers = await env.new_institution("另一所学校")
    cls = await env.new_class(headers)
    enrolment = (await env.enrol_citizen(cls["id"], env.person(1))).json()
    url = f"/v1/enrolments/{enrolment['id']}/cancel"
    for who in (
        env.citizen(env.person(2)),
        other_headers,
        env.town_officer("changguo"),
        env.auth.headers("enterprise", "91110000600037341L"),
    ):
        response = await env.client.post(url, headers=who)
        assert response.status_code == 404, response.text
    assert (
        await env.client.post("/v1/enrolments/nope/cancel", headers=env.admin)
    ).status_code == 404
    env.set_today(date(2025, 7, 1))
    ended = await env.client.post(url, headers=env.citizen(env.person(1)))
    assert ended.status_code == 409 and ended.json()["type"].endswith("/class-ended")
    env.set_today(date(2025, 6, 20))
    assert (await env.client.post(url, headers=env.admin)).status_code == 200


async def test_class_of_another_institution_is_not_found(env, institution) -> None:
    _, headers = institution
    _, other_headers = await env.new_institution("另一所学校")
    cls = await env.new_class(headers)
    response = await env.enrol_trainee(cls["id"], other_headers, env.person(1))
    assert response.status_code == 404 and response.json()["type"].endswith("/class-not-found")
    missing = await env.enrol_citizen("00000000-0000-7000-8000-000000000000", env.person(1))
    assert missing.status_code == 404


async def test_only_citizens_and_institutions_enrol(env, institution) -> None:
    _, headers = institution
    cls = await env.new_class(headers)
    url = f"/v1/classes/{cls['id']}/enrolments"
    assert (await env.client.post(url)).status_code == 401
    for who in (env.admin, env.town_officer("changguo"), env.auth.headers("bank", "bank-1")):
        response = await env.client.post(
            url, json={"id_number": env.person(1), "name": "张三"}, headers=who
        )
        assert response.status_code == 403
    unregistered = await env.enrol_trainee(cls["id"], env.institution("ghost"), env.person(1))
    assert unregistered.status_code == 404  # not its class
    assert (await env.counts())["enrolments"] == 0


async def test_suspended_institution_cannot_enrol_and_citizens_cannot_join(
    env, institution
) -> None:
    institution_id, headers = institution
    cls = await env.new_class(headers)
    suspended = await env.client.patch(
        f"/v1/institutions/{institution_id}", json={"status": "suspended"}, headers=env.admin
    )
    assert suspended.status_code == 200 and suspended.json()["status_zh"] == "暂停"
    response = await env.enrol_trainee(cls["id"], headers, env.person(1))
    assert response.status_code == 403 and response.json()["type"].endswith("/institution-inactive")
    citizen = await env.enrol_citizen(cls["id"], env.person(2))
    assert citizen.status_code == 409 and citizen.json()["type"].endswith("/enrolment-closed")


async def test_rosters_are_masked_and_scoped(env, institution) -> None:
    _, headers = institution
    _, other_headers = await env.new_institution("另一所学校")
    cls = await env.new_class(headers, capacity=1, town="jintang")
    id_number = env.person(5)
    await env.enrol_trainee(cls["id"], headers, id_number, "张三")
    await env.enrol_citizen(cls["id"], env.person(6))
    url = f"/v1/classes/{cls['id']}/enrolments"
    roster = await env.client.get(url, headers=headers)
    assert roster.status_code == 200
    items = roster.json()["items"]
    assert [(i["status"], i["waiting_position"]) for i in items] == [
        ("enrolled", None),
        ("waiting", 1),
    ]
    assert items[0]["name_masked"] == "张*" and id_number not in roster.text
    waiting_only = await env.client.get(url, params={"status": "waiting"}, headers=headers)
    assert len(waiting_only.json()["items"]) == 1
    assert (await env.client.get(url, headers=env.admin)).status_code == 200
    assert (await env.client.get(url, headers=env.town_officer("jintang"))).status_code == 200
    other_town = await env.client.get(url, headers=env.town_officer("changguo"))
    assert other_town.status_code == 403 and other_town.json()["type"].endswith("/other-town")
    assert (await env.client.get(url, headers=other_headers)).status_code == 404
    assert (await env.client.get(url, headers=env.citizen(id_number))).status_code == 403


async def test_citizens_list_only_their_own_enrolments(env, institution) -> None:
    _, headers = institution
    cls = await env.new_class(headers)
    await env.enrol_citizen(cls["id"], env.person(1))
    await env.enrol_citizen(cls["id"], env.person(2))
    mine = await env.client.get("/v1/me/enrolments", headers=env.citizen(env.person(1)))
    assert len(mine.json()["items"]) == 1
    assert (await env.client.get("/v1/me/enrolments", headers=headers)).status_code == 403
    too_many = await env.client.get(
        "/v1/me/enrolments", params={"limit": 101}, headers=env.citizen(env.person(1))
    )
    assert too_many.status_code == 422


async def test_pagination_with_cursor(env, institution) -> None:
    _, headers = institution
    cls = await env.new_class(headers, capacity=5)
    for n in range(5):
        await env.enrol_trainee(cls["id"], headers, env.person(n))
    url = f"/v1/classes/{cls['id']}/enrolments"
    first = (await env.client.get(url, params={"limit": 2}, headers=headers)).json()
    second = (
        await env.client.get(
            url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
        )
    ).json()
    third = (
        await env.client.get(
            url, params={"limit": 2, "cursor": second["next_cursor"]}, headers=headers
        )
    ).json()
    ids = [i["id"] for page in (first, second, third) for i in page["items"]]
    assert len(ids) == len(set(ids)) == 5 and third["next_cursor"] is None
