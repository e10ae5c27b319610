"""Programmes and quotas: policy figures, audited adjustments, never below used, access."""

from __future__ import annotations

PROBLEM = "application/problem+json"
ADJUST = "/v1/programmes/2025/manufacturing/quota-adjustments"


async def test_programmes_of_a_year_come_from_policy_data(env) -> None:
    response = await env.client.get(
        "/v1/programmes", params={"year": 2025}, headers=env.citizen(env.person(1))
    )
    assert response.status_code == 200
    rows = {r["domain"]: r for r in response.json()}
    assert list(rows) == [
        "manufacturing",
        "digital_economy",
        "elderly_infant_care",
        "modern_services",
        "common_prosperity_workshops",
        "apprenticeship",
        "key_groups",
    ]
    assert rows["manufacturing"] | {} == {
        "year": 2025,
        "domain": "manufacturing",
        "name_zh": "先进制造业（五大支柱产业）",
        "quota": 2000,
        "used": 0,
        "remaining": 2000,
        "talents_target": 1800,
        "completions": 0,
        "policy_version": "2025.1",
    }
    assert rows["key_groups"]["quota"] is None and rows["key_groups"]["remaining"] is None
    assert rows["modern_services"]["talents_target"] == 2570


async def test_a_year_without_policy_is_refused(env) -> None:
    response = await env.client.get("/v1/programmes", params={"year": 2024}, headers=env.admin)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "year"
    assert response.json()["errors"][0]["reason"] == "no_policy"


async def test_adjustment_is_audited_and_shown(env, institution) -> None:
    _, headers = institution
    cls = await env.new_class(headers)
    await env.enrol_citizen(cls["id"], env.person(1))
    response = await env.client.post(
        ADJUST, json={"quota": 2500, "reason": "区政府追加培训任务"}, headers=env.admin
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["old_quota"], body["new_quota"], body["used"]) == (2000, 2500, 1)
    assert body["adjusted_by"] == "staff-admin" and body["reason"] == "区政府追加培训任务"
    second = await env.client.post(
        ADJUST, json={"quota": 1800, "reason": "回调"}, headers=env.admin
    )
    assert second.json()["old_quota"] == 2500
    programmes = await env.client.get("/v1/programmes", params={"year": 2025}, headers=env.admin)
    manufacturing = programmes.json()[0]
    assert (manufacturing["quota"], manufacturing["used"], manufacturing["remaining"]) == (
        1800,
        1,
        1799,
    )
    trail = await env.client.get(
        ADJUST, headers=env.auth.headers("official", "audit-1", role="auditor")
    )
    assert trail.status_code == 200
    assert [a["new_quota"] for a in trail.json()["items"]] == [2500, 1800]


async def test_quota_cannot_go_below_used(env, institution) -> None:
    _, headers = institution
    cls = await env.new_class(headers, domain="apprenticeship")
    for n in range(3):
        await env.enrol_citizen(cls["id"], env.person(n))
    url = "/v1/programmes/2025/apprenticeship/quota-adjustments"
    below = await env.client.post(url, json={"quota": 2, "reason": "太多了"}, headers=env.admin)
    assert below.status_code == 409 and below.headers["content-type"] == PROBLEM
    assert below.json()["type"].endswith("/quota-below-used") and below.json()["used"] == 3
    assert await env.quota(2025, "apprenticeship") == (100, 3)
    equal = await env.client.post(url, json={"quota": 3, "reason": "刚好"}, headers=env.admin)
    assert equal.status_code == 201
    trail = await env.client.get(url, headers=env.admin)
    assert len(trail.json()["items"]) == 1  # the refused attempt left no audit row


async def test_a_year_is_seeded_by_its_first_adjustment(env) -> None:
    response = await env.client.post(
        "/v1/programmes/2026/key_groups/quota-adjustments",
        json={"quota": 800, "reason": "设定上限"},
        headers=env.admin,
    )
    assert response.status_code == 201 and response.json()["old_quota"] is None
    assert await env.quota(2026, "key_groups") == (800, 0)
    assert await env.quota(2026, "manufacturing") == (2000, 0)


async def test_adjustment_validation_and_access(env) -> None:
    for body, field in [
        ({"quota": -1, "reason": "负数"}, "quota"),
        ({"quota": 10}, "reason"),
        ({"quota": 10, "reason": "x"}, "reason"),
        ({"quota": 10, "reason": "多余字段", "used": 0}, "used"),
    ]:
        response = await env.client.post(ADJUST, json=body, headers=env.admin)
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == field
    unknown = await env.client.post(
        "/v1/programmes/2025/astrology/quota-adjustments",
        json={"quota": 1, "reason": "未知领域"},
        headers=env.admin,
    )
    assert unknown.status_code == 404 and unknown.json()["type"].endswith("/programme-not-found")
    for who in (
        env.town_officer("changguo"),
        env.auth.headers("official", "audit-1", role="auditor"),
        env.auth.headers("institution", "inst-1"),
        env.citizen(env.person(1)),
    ):
        response = await env.client.post(ADJUST, json={"quota": 1, "reason": "越权"}, headers=who)
        assert response.status_code == 403
    assert (await env.client.post(ADJUST, json={"quota": 1, "reason": "匿名"})).status_code == 401
    trail = await env.client.get(ADJUST, headers=env.citizen(env.person(1)))
    assert trail.status_code == 403
