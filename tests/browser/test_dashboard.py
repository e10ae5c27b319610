"""Indicators through the gateway with exact numbers, and the dashboard in a real Chromium.

The platform starts without demo data. Everything goes through the gateway as partners send it:
six certificates (甲 senior in changguo, 乙 intermediate in jintang and later technician in
changguo, 丙 technician in baiquan, X senior in jintang, Y junior in maao), the revocation of X by
its body effective 2025-11-01, and this year a manufacturing class in maao whose institution enrols
Y and Z and posts their completions (Y passed, Z failed) in an idempotent batch, after which Y gets
an intermediate certificate (a talent cultivated by that training). Training completions are
posted this year because the submission deadline (28 days after a class ends) rules out 2025.

The browser test needs Debian's `chromium` and a CJK font (`apt-get install -y chromium
fonts-wqy-microhei`); without /usr/bin/chromium it is skipped, unless `CI` is set. It saves
`test-artifacts/dashboard.png` (and `dashboard-changguo.png`).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
Stack = Any  # tests/browser/conftest.py: the running platform (gateway URL, databases, helpers)
CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
ARTIFACTS = ROOT / "test-artifacts"
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(first17: str) -> str:
    """A resident ID number with its check character (GB 11643-1999)."""
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


JIA, YI, BING = (id_number(f"3309021985031500{n}") for n in (1, 2, 3))
HOLDER_X = id_number("33090219800101001")
HOLDER_Y = id_number("33090219950505002")
HOLDER_Z = id_number("33090220000101003")
TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()
THIS_YEAR = TODAY.year
CERTIFICATES = {
    "jia": ("S000133000001253000101", "senior", JIA, "changguo", "2025-06-20"),
    "yi": ("S000133000001254000102", "intermediate", YI, "jintang", "2025-06-20"),
    "bing": ("S000133000001252000103", "technician", BING, "baiquan", "2025-06-20"),
    "x": ("S000133000001253000201", "senior", HOLDER_X, "jintang", "2025-03-01"),
    "y": ("S000133000001255000202", "junior", HOLDER_Y, "maao", "2025-09-10"),
    "yi2": ("S000133000001252000203", "technician", YI, "changguo", "2025-10-01"),
}


def certificate(number: str, level: str, holder: str, town: str, on: str) -> dict[str, Any]:
    return {
        "number": number,
        "level": level,
        "occupation_code": "6-04-02-05",
        "occupation_name": "焊工",
        "holder_id_number": holder,
        "holder_name": "测试人员",
        "issued_on": on,
        "employer_uscc": "91330902MA2A1B2C3D",
        "mode": "social_evaluation",
        "town": town,
    }


def register_body(stack: Stack) -> None:
    """Register evaluation body S0001 where evaluation requires registered bodies."""
    response = httpx.post(
        f"{stack.gateway}/api/evaluation/v1/bodies",
        json={"code": "S0001", "type": "S", "name": "定海区测试评价机构"},
        headers=stack.token("official", "test-admin", role="district_admin"),
        timeout=10,
    )
    assert response.status_code in (200, 201, 404, 405), response.text


def post_training(stack: Stack) -> None:
    """An institution, a class running now in maao, Y and Z enrolled, their completions posted."""
    api = f"{stack.gateway}/api/training/v1"
    admin = stack.token("official", "test-admin", role="district_admin")
    institution = httpx.post(
        f"{api}/institutions",
        json={"name": "定海区测试培训学校", "uscc": "52330902MJ00000017"},
        headers=admin,
        timeout=10,
    )
    assert institution.status_code in (200, 201), institution.text
    headers = stack.token("institution", institution.json()["id"])
    created = httpx.post(
        f"{api}/classes",
        json={
            "domain": "manufacturing",
            "title": "焊工（中级）培训班",
            "capacity": 10,
            "starts_on": (TODAY - timedelta(days=20)).isoformat(),
            "ends_on": (TODAY + timedelta(days=5)).isoformat(),
            "town": "maao",
        },
        headers=headers,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    class_id = created.json()["id"]
    for holder in (HOLDER_Y, HOLDER_Z):
        enrolled = httpx.post(
            f"{api}/classes/{class_id}/enrolments",
            json={"id_number": holder, "name": "测试学员"},
            headers=headers,
            timeout=10,
        )
        assert enrolled.status_code == 201, enrolled.text
    finished_on = (TODAY - timedelta(days=1)).isoformat()
    records = [
        {
            "class_id": class_id,
            "id_number": holder,
            "name": "测试学员",
            "result": result,
            "hours": 40,
            "completed_on": finished_on,
        }
        for holder, result in ((HOLDER_Y, "passed"), (HOLDER_Z, "failed"))
    ]
    batch = {"headers": {**headers, "Idempotency-Key": "e2e-batch-0001"}, "timeout": 10}
    posted = httpx.post(f"{api}/completions/batches", json={"records": records}, **batch)
    assert posted.status_code == 200, posted.text
    assert [r["status"] for r in posted.json()["results"]] == ["accepted", "accepted"], posted.text
    replayed = httpx.post(f"{api}/completions/batches", json={"records": records}, **batch)
    assert replayed.status_code == 200 and replayed.json() == posted.json()


@pytest.fixture(scope="module")
def loaded(stack: Stack) -> Stack:
    """Certificates, a revocation, completions and a cultivated talent, all through the gateway."""
    register_body(stack)
    headers = stack.token("evaluation_body", "S0001")
    ids = {}
    for key, row in CERTIFICATES.items():
        response = httpx.post(
            f"{stack.gateway}/api/evaluation/v1/certificates",
            json=certificate(*row),
            headers=headers,
            timeout=10,
        )
        assert response.status_code in (200, 201), response.text
        ids[key] = response.json()["id"]
    revoked = httpx.post(
        f"{stack.gateway}/api/evaluation/v1/certificates/{CERTIFICATES['x'][0]}/revocation",
        json={"reason": "obtained_by_fraud", "effective_on": "2025-11-01"},
        headers=headers,
        timeout=10,
    )
    assert revoked.status_code == 200, revoked.text
    post_training(stack)
    cultivated = certificate(
        "S000133000001264000204", "intermediate", HOLDER_Y, "maao", TODAY.isoformat()
    )
    response = httpx.post(
        f"{stack.gateway}/api/evaluation/v1/certificates",
        json=cultivated,
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    stack.wait_applied()
    return stack


def test_indicators_through_the_gateway_are_exact(loaded: Stack) -> None:
    year_end = loaded.values(year=2025)
    assert year_end["skilled_talents"] == 4  # 甲 乙 丙 Y; X revoked from 2025-11-01
    assert year_end["high_skilled_talents"] == 3  # 甲, 乙 (now technician), 丙
    assert year_end["high_skilled_share"] == 75.0
    assert year_end["training_person_times.manufacturing"] == 0  # trained this year
    assert year_end["insured_talents"] == 0
    this_year = loaded.values(year=THIS_YEAR)
    assert this_year["skilled_talents"] == 4  # Y's new certificate adds no person
    assert this_year["training_person_times.manufacturing"] == 2  # the failed one counts
    assert this_year["talents_cultivated.manufacturing"] == 1  # Y: trained, then certified
    september = loaded.values(year=2025, as_of="2025-09-30")
    assert (september["skilled_talents"], september["high_skilled_talents"]) == (5, 3)
    assert loaded.values(year=2025, as_of="2025-06-30")["skilled_talents"] == 4
    towns = {
        town: loaded.values(year=2025, town=town)
        for town in ("changguo", "jintang", "baiquan", "maao")
    }
    assert [(t, v["skilled_talents"], v["high_skilled_talents"]) for t, v in towns.items()] == [
        ("changguo", 2, 2),  # 甲, and 乙 placed by the technician certificate
        ("jintang", 0, 0),
        ("baiquan", 1, 1),
        ("maao", 1, 0),
    ]
    jintang_september = loaded.values(year=2025, as_of="2025-09-30", town="jintang")
    assert (jintang_september["skilled_talents"], jintang_september["high_skilled_talents"]) == (
        2,
        1,
    )
    ranking = loaded.get(
        "/api/indicators/v1/indicators/breakdown", code="skilled_talents", year=2025
    )
    assert [(r["key"], r["value"], r["rank"]) for r in ranking["rows"][:3]] == [
        ("changguo", 2, 1),
        ("baiquan", 1, 2),
        ("maao", 1, 2),
    ]
    assert ranking["total"] == 4
    csv_export = httpx.get(
        f"{loaded.gateway}/api/indicators/v1/exports/indicators.csv?year=2025", timeout=10
    )
    assert csv_export.status_code == 200 and csv_export.content.startswith(b"\xef\xbb\xbf")
    metrics = httpx.get(f"{loaded.gateway}/api/indicators/metrics", timeout=10).text
    assert 'eventlog_consumer_lag_events{consumer="indicators.rollups"} 0.0' in metrics


def _number_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


async def test_dashboard_renders_numbers_and_charts_in_chromium(loaded: Stack) -> None:
    if not HAVE_CHROMIUM:
        message = (
            "Debian's chromium is not installed (apt-get install -y chromium fonts-wqy-microhei)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.async_api import async_playwright, expect

    reports = {y: loaded.indicators(year=y) for y in (2025, 2026)}
    ranking = loaded.get(
        "/api/indicators/v1/indicators/breakdown", code="skilled_talents", year=2026
    )
    trend = loaded.get("/api/indicators/v1/indicators/trend", code="skilled_talents")
    ARTIFACTS.mkdir(exist_ok=True)
    requests: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        try:
            context = await browser.new_context(
                viewport={"width": 375, "height": 812}, device_scale_factor=2, locale="zh-CN"
            )
            page = await context.new_page()
            page.on("request", lambda request: requests.append(request.url))
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{loaded.gateway}/dashboard/")
            await page.wait_for_selector("body[data-ready=true]", timeout=15000)
            assert errors == []
            assert "指标晾晒" in await page.title()
            # Every card shows the API's value for the selected (current) year and for 2025.
            cards = page.locator("article.card")
            assert await cards.count() == len(reports[2026]["indicators"])
            for item in reports[2026]["indicators"]:
                number = page.locator(f'article.card[data-code="{item["code"]}"] .num')
                assert json.loads(await number.get_attribute("data-value")) == item["value"]
                assert await number.inner_text() == _number_text(item["value"]), item["code"]
            for item in reports[2025]["indicators"]:
                cell = page.locator(
                    f'article.card[data-code="{item["code"]}"] '
                    '.year-row[data-year="2025"] .year-value'
                )
                assert json.loads(await cell.get_attribute("data-value")) == item["value"]
            skilled = page.locator('article.card[data-code="skilled_talents"]')
            assert await skilled.locator("svg.bar rect.bar-fill").count() == 2  # 2025 and 2026
            assert "目标 ≥111,000人" in await skilled.inner_text()
            # The town ranking: 13 bars in the API's order, with the API's numbers.
            rows = page.locator("#ranking-chart g.rank-row")
            assert await rows.count() == 13
            for index, row in enumerate(ranking["rows"]):
                drawn = rows.nth(index)
                assert await drawn.get_attribute("data-town") == row["key"]
                assert json.loads(await drawn.get_attribute("data-value")) == row["value"]
            top_bar = rows.nth(0).locator("rect.bar-fill")
            assert float(await top_bar.get_attribute("width")) > 0
            # The trend: a line through one point per month.
            line = page.locator("#trend-chart path.trend-line")
            assert await line.count() == 1 and (await line.get_attribute("d")).startswith("M")
            points = page.locator("#trend-chart circle.trend-point")
            assert await points.count() == len(trend["points"])
            last = points.nth(len(trend["points"]) - 1)
            assert (
                json.loads(await last.get_attribute("data-value")) == trend["points"][-1]["value"]
            )
            # Phone width: nothing wider than the screen.
            assert await page.evaluate("document.documentElement.scrollWidth") <= 375
            await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            # Choosing another indicator redraws ranking and trend.
            await page.select_option("#code", "high_skilled_talents")
            await expect(page.locator("#ranking-title")).to_contain_text("高技能人才总量")
            high = loaded.get(
                "/api/indicators/v1/indicators/breakdown", code="high_skilled_talents", year=2026
            )
            first = page.locator("#ranking-chart g.rank-row").nth(0)
            assert await first.get_attribute("data-town") == high["rows"][0]["key"]
            await page.select_option("#town", "changguo")
            await expect(page.locator("#progress-note")).to_contain_text("昌国街道")
            changguo = loaded.values(year=2026, town="changguo")
            town_number = page.locator('article.card[data-code="skilled_talents"] .num')
            assert (
                json.loads(await town_number.get_attribute("data-value"))
                == changguo["skilled_talents"]
            )
            await page.screenshot(path=str(ARTIFACTS / "dashboard-changguo.png"), full_page=True)
        finally:
            await browser.close()
    assert requests and all(url.startswith(loaded.gateway) for url in requests), requests
