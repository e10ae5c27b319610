"""Institutions, sites and classes: registration, validation against policy, ownership, scope."""

from __future__ import annotations

from typing import Any

import pytest

PROBLEM = "application/problem+json"


async def test_register_institution_is_idempotent_per_uscc(env) -> None:
    body = {"name": "定海区职业技能培训中心", "uscc": "52330902MJ00000017"}
    first = await env.client.post("/v1/institutions", json=body, headers=env.admin)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "active" and first.json()["status_zh"] == "正常"
    again = await env.client.post("/v1/institutions", json=body, headers=env.admin)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = await env.client.post(
        "/v1/institutions", json={**body, "name": "另一个名字"}, headers=env.admin
    )
    assert other.status_code == 409 and other.json()["type"].endswith("/institution-uscc-taken")
    listing = await env.client.get("/v1/institutions", headers=env.town_officer("changguo"))
    assert [i["id"] for i in listing.json()["items"]] == [first.json()["id"]]


async def test_uscc_checks(env) -> None:
    warned = await env.client.post(
        "/v1/institutions", json={"name": "老机构", "uscc": "91350100M0001TGQXM"}, headers=env.admin
    )
    assert warned.status_code == 201 and warned.json()["warnings"] == ["uscc_checksum_mismatch"]
    bad = await env.client.post(
        "/v1/institutions", json={"name": "坏代码", "uscc": "9111000060003734IL"}, headers=env.admin
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "uscc"


async def test_only_district_officials_register_institutions(env) -> None:
    body = {"name": "定海区职业技能培训中心", "uscc": "52330902MJ00000017"}
    for who in (
        env.town_officer("changguo"),
        env.auth.headers("institution", "inst-1"),
        env.citizen(env.person(1)),
    ):
        assert (
            await env.client.post("/v1/institutions", json=body, headers=who)
        ).status_code == 403
    assert (await env.client.post("/v1/institutions", json=body)).status_code == 401
    assert (
        await env.client.get("/v1/institutions", headers=env.citizen(env.person(1)))
    ).status_code == 403


async def test_an_institution_sees_itself_only(env, institution) -> None:
    institution_id, headers = institution
    other_id, _other_headers = await env.new_institution("另一所学校")
    assert (
        await env.client.get(f"/v1/institutions/{institution_id}", headers=headers)
    ).status_code == 200
    assert (
        await env.client.get(f"/v1/institutions/{other_id}", headers=headers)
    ).status_code == 404
    assert (
        await env.client.get(f"/v1/institutions/{other_id}", headers=env.admin)
    ).status_code == 200


async def test_sites_belong_to_their_institution(env, institution) -> None:
    institution_id, headers = institution
    other_id, _other_headers = await env.new_institution("另一所学校")
    site = {
        "name": "昌国培训点",
        "address": "昌国路61号",
        "town": "changguo",
        "latitude": 30.02,
        "longitude": 122.10,
    }
    created = await env.client.post(
        f"/v1/institutions/{institution_id}/sites", json=site, headers=headers
    )
    assert created.status_code == 201, created.text
    by_admin = await env.client.post(
        f"/v1/institutions/{other_id}/sites", json=site, headers=env.admin
    )
    assert by_admin.status_code == 201
    foreign = await env.client.post(
        f"/v1/institutions/{other_id}/sites", json=site, headers=headers
    )
    assert foreign.status_code == 404
    for field, value, reason in [
        ("town", "atlantis", "unknown_town"),
        ("latitude", 91, "less_than_equal"),
        ("longitude", -181, "greater_than_equal"),
    ]:
        bad = await env.client.post(
            f"/v1/institutions/{institution_id}/sites", json={**site, field: value}, headers=headers
        )
        assert bad.status_code == 422 and bad.json()["errors"][0]["reason"] == reason
    listing = await env.client.get(f"/v1/institutions/{institution_id}/sites", headers=headers)
    assert [s["id"] for s in listing.json()] == [created.json()["id"]]
    assert (
        await env.client.get(f"/v1/institutions/{other_id}/sites", headers=headers)
    ).status_code == 404
    # A class at a site must be in the site's town, and the site must be the institution's own.
    site_id = created.json()["id"]
    mismatch = await env.client.post(
        "/v1/classes",
        json=class_body(site_id=site_id, town="jintang"),
        headers=headers,
    )
    assert (
        mismatch.status_code == 422
        and mismatch.json()["errors"][0]["reason"] == "site_town_mismatch"
    )
    other_site = await env.client.post(
        "/v1/classes", json=class_body(site_id=by_admin.json()["id"]), headers=headers
    )
    assert (
        other_site.status_code == 422 and other_site.json()["errors"][0]["reason"] == "unknown_site"
    )
    ok = await env.client.post("/v1/classes", json=class_body(site_id=site_id), headers=headers)
    assert ok.status_code == 201 and ok.json()["site_id"] == site_id


def class_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "domain": "digital_economy",
        "title": "电子商务师培训班",
        "capacity": 30,
        "starts_on": "2025-09-01",
        "ends_on": "2025-09-30",
        "town": "changguo",
        "occupation_code": "4-01-06-01",
        "occupation_name": "电子商务师",
        "level": "intermediate",
        "mode": "online",
    }
    body.update(overrides)
    return body


async def test_create_class_with_labels(env, institution) -> None:
    institution_id, headers = institution
    response = await env.client.post("/v1/classes", json=class_body(), headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["institution_id"] == institution_id and body["year"] == 2025
    assert (body["domain_name_zh"], body["town_name_zh"], body["mode_zh"]) == (
        "数字经济",
        "昌国街道",
        "线上培训",
    )
    assert body["level_name_zh"] == "中级工/四级"
    assert (body["seats_taken"], body["seats_left"], body["waiting"]) == (0, 30, 0)
    minimal = await env.client.post(
        "/v1/classes",
        json={
            k: class_body()[k]
            for k in ("domain", "title", "capacity", "starts_on", "ends_on", "town")
        },
        headers=headers,
    )
    assert minimal.status_code == 201 and minimal.json()["mode"] == "classroom"


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"domain": "astrology"}, "domain", "unknown_domain"),
        ({"town": "atlantis"}, "town", "unknown_town"),
        ({"ends_on": "2025-08-31"}, "ends_on", "before_start"),
        ({"starts_on": "2024-12-01"}, "starts_on", "no_policy"),
        ({"level": "grandmaster"}, "level", "unknown_level"),
        ({"capacity": 0}, "capacity", "greater_than_equal"),
        ({"capacity": 5001}, "capacity", "less_than_equal"),
        ({"mode": "telepathy"}, "mode", "literal_error"),
        ({"occupation_code": "4-1-6-1"}, "occupation_code", "string_pattern_mismatch"),
        ({"seats_taken": 3}, "seats_taken", "extra_forbidden"),
        ({"title": ""}, "title", "string_too_short"),
    ],
)
async def test_bad_class_is_refused_with_nothing_written(
    env, institution, overrides, field, reason
) -> None:
    _, headers = institution
    response = await env.client.post("/v1/classes", json=class_body(**overrides), headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert any(e["field"] == field and e["reason"] == reason for e in response.json()["errors"])
    listing = await env.client.get("/v1/classes", headers=headers)
    assert listing.json()["items"] == []


async def test_only_registered_active_institutions_create_classes(env, institution) -> None:
    institution_id, headers = institution
    ghost = await env.client.post(
        "/v1/classes", json=class_body(), headers=env.institution("ghost-1")
    )
    assert ghost.status_code == 403 and ghost.json()["type"].endswith("/institution-not-registered")
    for who in (env.admin, env.citizen(env.person(1))):
        assert (
            await env.client.post("/v1/classes", json=class_body(), headers=who)
        ).status_code == 403
    await env.client.patch(
        f"/v1/institutions/{institution_id}", json={"status": "suspended"}, headers=env.admin
    )
    suspended = await env.client.post("/v1/classes", json=class_body(), headers=headers)
    assert suspended.status_code == 403 and suspended.json()["type"].endswith(
        "/institution-inactive"
    )
    await env.client.patch(
        f"/v1/institutions/{institution_id}", json={"status": "active"}, headers=env.admin
    )
    assert (
        await env.client.post("/v1/classes", json=class_body(), headers=headers)
    ).status_code == 201


async def test_class_idempotency_key(env, institution) -> None:
    _, headers = institution
    keyed = {**headers, "Idempotency-Key": "class-key-0001"}
    first = await env.client.post("/v1/classes", json=class_body(), headers=keyed)
    again = await env.client.post("/v1/classes", json=class_body(), headers=keyed)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["id"] == again.json()["id"]
    other = await env.client.post("/v1/classes", json=class_body(title="别的班"), headers=keyed)
    assert other.status_code == 422 and other.json()["type"].endswith("/idempotency-key-reused")
    listing = await env.client.get("/v1/classes", headers=headers)
    assert len(listing.json()["items"]) == 1


async def test_class_listing_and_reading_scope(env, institution) -> None:
    _, headers = institution
    _, other_headers = await env.new_institution("另一所学校")
    mine = (await env.client.post("/v1/classes", json=class_body(), headers=headers)).json()
    theirs = (
        await env.client.post("/v1/classes", json=class_body(town="jintang"), headers=other_headers)
    ).json()
    own_list = await env.client.get("/v1/classes", headers=headers)
    assert [c["id"] for c in own_list.json()["items"]] == [mine["id"]]
    everyone = await env.client.get("/v1/classes", headers=env.citizen(env.person(1)))
    assert {c["id"] for c in everyone.json()["items"]} == {mine["id"], theirs["id"]}
    town = await env.client.get("/v1/classes", headers=env.town_officer("jintang"))
    assert [c["id"] for c in town.json()["items"]] == [theirs["id"]]
    forced = await env.client.get(
        "/v1/classes", params={"town": "changguo"}, headers=env.town_officer("jintang")
    )
    assert forced.status_code == 403 and forced.json()["type"].endswith("/other-town")
    filtered = await env.client.get(
        "/v1/classes",
        params={"town": "jintang", "domain": "digital_economy", "year": 2025},
        headers=env.admin,
    )
    assert [c["id"] for c in filtered.json()["items"]] == [theirs["id"]]
    assert (await env.client.get(f"/v1/classes/{theirs['id']}", headers=headers)).status_code == 404
    assert (
        await env.client.get(f"/v1/classes/{theirs['id']}", headers=other_headers)
    ).status_code == 200
    assert (
        await env.client.get(f"/v1/classes/{mine['id']}", headers=env.town_officer("jintang"))
    ).status_code == 403
    assert (
        await env.client.get(f"/v1/classes/{mine['id']}", headers=env.citizen(env.person(1)))
    ).status_code == 200
    assert (await env.client.get("/v1/classes/nope", headers=env.admin)).status_code == 404
