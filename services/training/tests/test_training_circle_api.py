"""The 30-minute training circle: reachable sites, town centres, gaps, validation."""

from __future__ import annotations

from training.circle.rules import load_town_centres
from training.rules import DETOUR_FACTOR, great_circle_km, travel_minutes

URL = "/v1/training-circle"


async def _site(env, institution_id, headers, town, lat, lon, name="培训点"):
    response = await env.client.post(
        f"/v1/institutions/{institution_id}/sites",
        json={
            "name": name,
            "address": f"{town}某路1号",
            "town": town,
            "latitude": lat,
            "longitude": lon,
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_sites_within_thirty_minutes_nearest_first(env, institution) -> None:
    institution_id, headers = institution
    near = await _site(env, institution_id, headers, "changguo", 30.021, 122.105, "昌国点")
    mid = await _site(env, institution_id, headers, "yancang", 30.025, 122.160, "盐仓点")
    await _site(env, institution_id, headers, "lincheng", 29.995, 122.205, "临城点")
    await _site(env, institution_id, headers, "jintang", 30.010, 121.890, "金塘点")
    response = await env.client.get(
        URL, params={"lat": 30.02, "lon": 122.10, "mode": "bus"}, headers=env.citizen(env.person(1))
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["speed_kmh"], body["circle_minutes"], body["detour_factor"]) == (
        20,
        30,
        DETOUR_FACTOR,
    )
    assert [s["site_id"] for s in body["sites"]] == [near["id"], mid["id"]]
    yancang = body["sites"][1]
    expected = travel_minutes(great_circle_km(30.02, 122.10, 30.025, 122.160), 20)
    assert abs(yancang["minutes"] - expected) < 0.1 and yancang["minutes"] <= 30
    walking = await env.client.get(
        URL, params={"lat": 30.02, "lon": 122.10, "mode": "walk"}, headers=env.admin
    )
    assert [s["site_id"] for s in walking.json()["sites"]] == [near["id"]]


async def test_circle_from_a_town_centre(env, institution) -> None:
    institution_id, headers = institution
    site = await _site(env, institution_id, headers, "jintang", 30.012, 121.892)
    response = await env.client.get(URL, params={"town": "jintang"}, headers=env.admin)
    assert response.status_code == 200
    assert response.json()["origin"]["town"] == "jintang"
    assert [s["site_id"] for s in response.json()["sites"]] == [site["id"]]


async def test_gaps_list_towns_without_a_site_in_reach(env, institution) -> None:
    institution_id, headers = institution
    empty = await env.client.get(f"{URL}/gaps", headers=env.admin)
    assert empty.status_code == 200 and len(empty.json()["towns"]) == 13
    assert empty.json()["towns"][0]["nearest_minutes"] is None
    await _site(env, institution_id, headers, "changguo", 30.020, 122.104)
    by_bus = await env.client.get(f"{URL}/gaps", params={"mode": "bus"}, headers=env.admin)
    towns = {t["town"] for t in by_bus.json()["towns"]}
    assert "changguo" not in towns and "huannan" not in towns
    assert {"jintang", "ganlan"} <= towns
    jintang = next(t for t in by_bus.json()["towns"] if t["town"] == "jintang")
    assert jintang["nearest_minutes"] > 30 and jintang["name_zh"] == "金塘镇"
    by_car = await env.client.get(f"{URL}/gaps", params={"mode": "car"}, headers=env.admin)
    assert len(by_car.json()["towns"]) < len(towns)


async def test_sites_of_inactive_institutions_do_not_count(env, institution) -> None:
    institution_id, headers = institution
    await _site(env, institution_id, headers, "changguo", 30.020, 122.104)
    await env.client.patch(
        f"/v1/institutions/{institution_id}", json={"status": "exited"}, headers=env.admin
    )
    response = await env.client.get(URL, params={"town": "changguo"}, headers=env.admin)
    assert response.json()["sites"] == []


async def test_validation(env) -> None:
    for params, field, reason in [
        ({"lat": 91, "lon": 122}, "lat", "less_than_equal"),
        ({"lat": 30, "lon": -181}, "lon", "greater_than_equal"),
        ({"lat": 30}, "lon", "missing"),
        ({}, "lat", "missing"),
        ({"town": "atlantis"}, "town", "unknown_town"),
        ({"town": "jintang", "lat": 30, "lon": 122}, "town", "ambiguous"),
        ({"lat": 30, "lon": 122, "mode": "teleport"}, "mode", "unknown_mode"),
        ({"lat": "north", "lon": 122}, "lat", "float_parsing"),
    ]:
        response = await env.client.get(URL, params=params, headers=env.admin)
        assert response.status_code == 422, params
        assert response.json()["errors"][0]["field"] == field, response.json()
        assert response.json()["errors"][0]["reason"] == reason
    gaps = await env.client.get(f"{URL}/gaps", params={"mode": "teleport"}, headers=env.admin)
    assert gaps.status_code == 422
    assert (await env.client.get(URL, params={"town": "jintang"})).status_code == 401


def test_every_policy_town_has_an_approximate_centre_in_the_district() -> None:
    from common.policy import load_policy_set

    centres = load_town_centres()
    towns = {t["code"] for t in load_policy_set().latest.section("towns")}
    assert set(centres.centres) == towns
    assert centres.precision_km >= 1 and centres.datum == "WGS-84"
    for centre in centres.centres.values():  # Dinghai: about 29.9-30.2 N, 121.8-122.3 E
        assert 29.9 < centre.latitude < 30.2 and 121.8 < centre.longitude < 122.3
    seat = centres.centres["changguo"]
    assert great_circle_km(seat.latitude, seat.longitude, 30.0198, 122.1068) < 1
