"""Breakdowns and rankings, trend, baselines, exports, lag and the dashboard's files."""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import yaml

from common.testing.plugin import AuthKit, running_app
from indicators.exports import safe, safe_text
from indicators.main import create_app
from indicators.synthetic import completion, issued, person_key

ROOT = Path(__file__).resolve().parents[3]
P = [person_key(n) for n in range(10)]


async def _towns(env) -> None:
    await env.publish(
        issued(person=P[0], certificate="c0", level="senior", town="jintang", on="2025-02-01"),
        issued(person=P[1], certificate="c1", level="junior", town="jintang", on="2025-03-01"),
        issued(person=P[2], certificate="c2", level="senior", town="maao", on="2025-04-01"),
        issued(person=P[3], certificate="c3", level="junior", town="maao", on="2025-05-01"),
        issued(person=P[4], certificate="c4", level="junior", town="changguo", on="2025-06-01"),
        issued(person=P[5], certificate="c5", level="junior", town="outside", on="2025-06-01"),
        completion(person=P[6], completion_id="t1", domain="manufacturing", on="2025-03-01"),
        completion(person=P[7], completion_id="t2", domain="modern_services", on="2025-03-01"),
        completion(person=P[8], completion_id="t3", domain="modern_services", on="2025-04-01"),
    )


async def test_town_breakdown_is_ranked_with_ties_and_chinese_names(env) -> None:
    await _towns(env)
    body = await env.get("/v1/indicators/breakdown", code="skilled_talents", year=2025)
    assert body["total"] == 6 and body["unassigned"] == 1 and body["by"] == "town"
    rows = body["rows"]
    assert len(rows) == 13
    top = [(r["key"], r["name_zh"], r["value"], r["rank"]) for r in rows[:3]]
    assert top == [
        ("jintang", "金塘镇", 2, 1),
        ("maao", "马岙街道", 2, 1),
        ("changguo", "昌国街道", 1, 3),
    ]
    assert rows[3]["rank"] == 4 and rows[3]["value"] == 0
    share = await env.get("/v1/indicators/breakdown", code="high_skilled_share", year=2025)
    assert [(r["key"], r["value"]) for r in share["rows"][:2]] == [
        ("jintang", 50.0),
        ("maao", 50.0),
    ]
    early = await env.get(
        "/v1/indicators/breakdown", code="skilled_talents", year=2025, as_of="2025-03-31"
    )
    assert early["rows"][0]["key"] == "jintang" and early["rows"][0]["value"] == 2
    assert early["total"] == 2


async def test_domain_breakdown_with_targets(env) -> None:
    await _towns(env)
    await env.publish(
        completion(person=P[9], completion_id="t4", domain="key_groups", on="2025-05-01"),
        completion(
            person=P[9],
            completion_id="t5",
            domain="digital_economy",
            on="2025-05-02",
            key_groups=["veterans"],
        ),
    )
    body = await env.get(
        "/v1/indicators/breakdown", code="training_person_times", by="domain", year=2025
    )
    assert body["total"] == 5  # each completion once, although key_groups overlaps
    by_key = {r["key"]: r["value"] for r in body["rows"]}
    assert by_key["key_groups"] == 2 and by_key["digital_economy"] == 1
    services = next(r for r in body["rows"] if r["key"] == "modern_services")
    assert (services["value"], services["rank"], services["target"]) == (2, 1, 1500)
    assert services["progress_percent"] == 0.1
    assert [r["rank"] for r in body["rows"][:4]] == [1, 1, 3, 3]
    assert len(body["rows"]) == 7


async def test_breakdown_and_trend_validation(env) -> None:
    breakdown, trend = "/v1/indicators/breakdown", "/v1/indicators/trend"
    skilled = {"code": "skilled_talents"}
    for path, params, field in [
        (breakdown, {"code": "nope"}, "code"),
        (breakdown, {**skilled, "by": "sex"}, "by"),
        (breakdown, {**skilled, "by": "domain"}, "code"),
        (breakdown, {**skilled, "town": "jintang"}, "town"),
        (trend, {**skilled, "from": "2026-02-01", "to": "2026-01-01"}, "from"),
        (trend, {**skilled, "interval": "day", "from": "2025-01-01", "to": "2026-06-01"}, "to"),
        (trend, {**skilled, "town": "atlantis"}, "town"),
        (trend, {"code": "nope"}, "code"),
    ]:
        response = await env.client.get(path, params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == field, params


async def test_trend_by_month_and_day(env) -> None:
    await _towns(env)
    body = await env.get(
        "/v1/indicators/trend", code="skilled_talents", **{"from": "2025-01-01", "to": "2025-06-15"}
    )
    points = [(p["date"], p["value"]) for p in body["points"]]
    assert points == [
        ("2025-01-31", 0),
        ("2025-02-28", 1),
        ("2025-03-31", 2),
        ("2025-04-30", 3),
        ("2025-05-31", 4),
        ("2025-06-15", 6),
    ]
    flows = await env.get(
        "/v1/indicators/trend",
        code="training_person_times.modern_services",
        **{"from": "2025-03-30", "to": "2025-04-02"},
        interval="day",
    )
    assert [p["value"] for p in flows["points"]] == [1, 1, 2, 2]
    town = await env.get(
        "/v1/indicators/trend", code="skilled_talents", town="maao", **{"from": "2025-11-01"}
    )
    assert town["points"][0]["value"] == 2 and town["points"][-1]["date"] <= "2026-12-31"
    every = await env.get("/v1/indicators/trend", code="skilled_talents")
    assert every["points"][0]["date"] == "2025-01-31"
    for point in every["points"]:  # the trend agrees with the point reads
        values = await env.values(year=point["year"], as_of=point["date"])
        assert values["skilled_talents"] == point["value"], point
    daily = await env.get(
        "/v1/indicators/trend",
        code="skilled_talents",
        **{"from": "2025-05-29", "to": "2025-06-16"},
        interval="day",
    )
    assert len(daily["points"]) == 19
    for point in daily["points"]:  # within a month too (its running day sums)
        values = await env.values(year=point["year"], as_of=point["date"])
        assert values["skilled_talents"] == point["value"], point


async def test_baselines_need_a_district_admin_and_are_audited(env, auth: AuthKit) -> None:
    url = "/v1/baselines/2025"
    body = {"employed_persons": 300000}
    assert (await env.client.put(url, json=body)).status_code == 401
    town_officer = auth.headers("official", "officer-1", role="town_officer", town="jintang")
    assert (await env.client.put(url, json=body, headers=town_officer)).status_code == 403
    admin = auth.headers("official", "admin-1", role="district_admin")
    bad = await env.client.put(url, json={"employed_persons": -1}, headers=admin)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "employed_persons"
    first = await env.client.put(url, json=body, headers=admin)
    assert first.status_code == 200, first.text
    assert first.json()["employed_persons"] == 300000 and first.headers["etag"] == '"1"'
    stale = await env.client.put(
        url, json={"employed_persons": 310000}, headers={**admin, "If-Match": '"7"'}
    )
    assert stale.status_code == 412
    second = await env.client.put(
        url, json={"employed_persons": 320000}, headers={**admin, "If-Match": '"1"'}
    )
    assert second.status_code == 200 and second.json()["version"] == 2
    await env.publish(
        issued(person=P[0], certificate="c0", level="senior", on="2025-02-01"),
        issued(person=P[1], certificate="c1", level="junior", on="2025-02-01"),
    )
    report = await env.get("/v1/indicators", year=2025)
    share = next(i for i in report["indicators"] if i["code"] == "skilled_talent_share")
    assert (share["value"], share["numerator"], share["denominator"]) == (0.0, 2, 320000)
    assert share["on_track"] is False and share["target"] == 35
    auditor = auth.headers("official", "audit-1", role="auditor")
    history = await env.client.get(f"{url}/changes", headers=auditor)
    assert [(c["employed_persons"], c["previous"], c["changed_by"]) for c in history.json()] == [
        (300000, None, "official:admin-1"),
        (320000, 300000, "official:admin-1"),
    ]
    assert (await env.client.get(f"{url}/changes")).status_code == 401
    assert (await env.client.put("/v1/baselines/2019", json=body, headers=admin)).status_code == 422
    assert (await env.client.get("/v1/baselines")).status_code == 401
    listed = (await env.client.get("/v1/baselines", headers=town_officer)).json()
    assert [(b["year"], b["employed_persons"]) for b in listed] == [(2025, 320000)]
    one = await env.client.get(url, headers=admin)
    assert one.headers["etag"] == '"2"' and one.json()["updated_by"] == "official:admin-1"
    missing = await env.client.get("/v1/baselines/2026", headers=admin)
    assert missing.status_code == 404


async def test_csv_export_has_bom_chinese_headers_and_breakdowns(env) -> None:
    await _towns(env)
    response = await env.client.get("/v1/exports/indicators.csv", params={"year": 2025})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "filename*=UTF-8''" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header = rows.index(["指标代码", "中文名称", "单位", "数值", "目标", "进度%", "是否达标"])
    skilled = next(r for r in rows[header:] if r and r[0] == "skilled_talents")
    assert skilled == ["skilled_talents", "技能人才总量", "人", "6", "111000", "0.0", "否"]
    town_header = next(r for r in rows if r[:2] == ["镇街代码", "镇街名称"])
    column = town_header.index("技能人才总量（人）")
    jintang = next(r for r in rows if r[:2] == ["jintang", "金塘镇"])
    assert jintang[column] == "2"
    assert ["【培训领域】"] in rows


async def test_xlsx_export_reads_back_with_three_sheets(env) -> None:
    await _towns(env)
    response = await env.client.get("/v1/exports/indicators.xlsx", params={"year": 2025})
    assert response.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["指标", "镇街分解", "培训领域"]
    sheet = workbook["指标"]
    header = [c.value for c in sheet[4]]
    assert header == ["指标代码", "中文名称", "单位", "数值", "目标", "进度%", "是否达标"]
    rows = {row[0]: row for row in sheet.iter_rows(min_row=5, values_only=True)}
    assert rows["skilled_talents"][3] == 6 and rows["skilled_talents"][4] == 111000
    towns = {row[0]: row for row in workbook["镇街分解"].iter_rows(min_row=5, values_only=True)}
    assert towns["maao"][1] == "马岙街道" and towns["maao"][2] == 2
    domains = {row[0]: row for row in workbook["培训领域"].iter_rows(min_row=5, values_only=True)}
    assert domains["modern_services"][2:4] == (2, 1500)


def test_formula_injection_is_neutralised() -> None:
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert safe_text(text) == "'" + text
    assert safe("技能人才") == "技能人才" and safe(-5) == -5 and safe(None) is None


async def test_exports_neutralise_formulas_from_policy_data(
    settings_factory, tmp_path: Path
) -> None:
    policy_dir = tmp_path / "policy"
    shutil.copytree(ROOT / "policy", policy_dir)
    path = policy_dir / "versions" / "2025.1.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["towns"][0]["name_zh"] = '=HYPERLINK("http://evil","昌国")'
    data["indicators"][0]["name_zh"] = "@cmd|' /C calc'!A0"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    app = create_app(await settings_factory(policy_dir=str(policy_dir)))
    async with running_app(app) as client:
        text = (await client.get("/v1/exports/indicators.csv?year=2025")).content.decode(
            "utf-8-sig"
        )
        workbook = openpyxl.load_workbook(
            io.BytesIO((await client.get("/v1/exports/indicators.xlsx?year=2025")).content)
        )
    assert "'=HYPERLINK" in text and "'@cmd" in text
    assert not any(line.startswith(("=", "@")) for line in text.splitlines())
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows(values_only=True):
            for cell in row:
                if isinstance(cell, str):
                    assert not cell.startswith(("=", "+", "-", "@")), cell
    assert workbook["镇街分解"]["B5"].value == "'" + data["towns"][0]["name_zh"]
    assert workbook["镇街分解"]["B5"].data_type == "s"


async def test_lag_is_reported_and_exported_as_a_metric(env) -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    await env.log.append(
        [
            replace(issued(person=P[0], certificate="c0", on="2025-02-01"), time=an_hour_ago),
            issued(person=P[1], certificate="c1"),
        ]
    )
    report = await env.get("/v1/indicators", year=2025)
    assert report["lag_events"] == 2 and report["log_head"] == 2
    assert report["applied_position"] == 0
    assert 3600 <= report["lag_seconds"] < 3660  # the oldest unapplied event's age
    metrics = (await env.client.get("/metrics")).text
    assert 'eventlog_consumer_lag_events{consumer="indicators.rollups"} 2.0' in metrics
    await env.consumer.catch_up()
    report = await env.get("/v1/indicators", year=2025)
    assert report["lag_events"] == 0 and report["applied_position"] == 2
    metrics = (await env.client.get("/metrics")).text
    assert 'eventlog_consumer_lag_events{consumer="indicators.rollups"} 0.0' in metrics


async def test_catalogue_lists_every_indicator_town_and_domain(env) -> None:
    body = await env.get("/v1/indicators/catalogue")
    codes = [i["code"] for i in body["indicators"]]
    assert len(codes) == len(set(codes)) == 18 + 7 + 7
    assert len(body["towns"]) == 13 and body["years"][0] == 2025
    assert {d["code"] for d in body["domains"]} >= {"manufacturing", "key_groups"}


async def test_dashboard_page_and_assets(env) -> None:
    redirect = await env.client.get("/dashboard", follow_redirects=False)
    assert redirect.status_code == 307 and redirect.headers["location"] == "/dashboard/"
    page = await env.client.get("/dashboard/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "指标晾晒" in page.text and "static/dashboard.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http://" not in page.text and "https://" not in page.text
    for name in ("dashboard.js", "dashboard.css"):
        asset = await env.client.get(f"/dashboard/static/{name}")
        assert asset.status_code == 200 and "https://" not in asset.text
    assert (await env.client.get("/dashboard/static/../main.py")).status_code == 404
    assert (await env.client.get("/dashboard/static/secret.py")).status_code == 404
    schema = (await env.client.get("/openapi.json")).json()
    assert not any(path.startswith("/dashboard") for path in schema["paths"])
