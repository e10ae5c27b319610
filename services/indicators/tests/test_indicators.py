"""Indicators from the log: distinct persons, high-skilled, dates, towns, replay."""

from __future__ import annotations

from datetime import UTC, datetime

from common.eventlog.envelope import Event
from common.testing.databases import DatabaseFactory
from common.testing.plugin import running_app
from indicators.__main__ import rebuild
from indicators.db import MIGRATIONS
from indicators.handlers import CERTIFICATE_ISSUED
from indicators.main import create_app
from indicators.rules import meets, progress_percent, share_percent
from indicators.settings import IndicatorsSettings


def issued(
    *,
    person: str,
    level: str = "junior",
    town: str = "changguo",
    on: str = "2025-03-01",
    certificate: str | None = None,
) -> Event:
    """A `certificate.issued.v1` event as evaluation publishes it."""
    certificate = certificate or f"cert-{person}-{level}-{on}"
    return Event(
        type=CERTIFICATE_ISSUED,
        source="/services/evaluation",
        subject=certificate,
        personkey=person.ljust(64, "0"),
        town=town,
        time=datetime.now(UTC),
        data={
            "certificate_id": certificate,
            "level": level,
            "occupation_code": "6-04-02-05",
            "occupation_edition": "2022",
            "mode": "social_evaluation",
            "body_code": "S0001",
            "employer_uscc": None,
            "town": town,
            "issued_on": on,
            "policy_version": "2025.1",
        },
    )


async def test_counts_distinct_persons_and_high_skilled(env) -> None:
    await env.log.append(
        [
            issued(person="a", level="junior"),
            issued(person="a", level="senior", on="2025-05-01"),  # same person, two certificates
            issued(person="b", level="intermediate", town="jintang"),
            issued(person="c", level="technician", on="2025-11-30", town="jintang"),
        ]
    )
    assert await env.consumer.catch_up() == 4
    values = await env.values(year=2025)
    assert values["skilled_talents"] == 3
    assert values["high_skilled_talents"] == 2
    assert values["high_skilled_share"] == 66.67
    assert values["skilled_talent_share"] is None  # no employed-persons baseline entered yet
    assert values["insured_talents"] == 0  # defined, no source events yet
    town = await env.values(year=2025, town="jintang")
    assert (town["skilled_talents"], town["high_skilled_talents"]) == (2, 1)
    earlier = await env.values(year=2025, as_of="2025-04-30")
    assert (earlier["skilled_talents"], earlier["high_skilled_talents"]) == (2, 0)


async def test_report_has_targets_progress_and_lag(env) -> None:
    await env.log.append([issued(person="a", level="senior")])
    before = (await env.client.get("/v1/indicators", params={"year": 2025})).json()
    assert before["lag_events"] == 1
    await env.consumer.catch_up()
    report = (await env.client.get("/v1/indicators", params={"year": 2025})).json()
    assert report["lag_events"] == 0 and report["as_of"] == "2025-12-31"
    skilled = next(i for i in report["indicators"] if i["code"] == "skilled_talents")
    assert skilled["target"] == 111000 and skilled["value"] == 1
    assert isinstance(skilled["value"], int) and isinstance(skilled["target"], int)
    assert skilled["on_track"] is False and skilled["progress_percent"] == 0.0
    codes = {i["code"] for i in report["indicators"]}
    assert {
        "high_skilled_talents",
        "dinghai_craftsmen",
        "training_person_times.manufacturing",
    } <= codes
    next_year = (await env.client.get("/v1/indicators", params={"year": 2026})).json()
    assert (
        next(i for i in next_year["indicators"] if i["code"] == "skilled_talents")["target"]
        == 112700
    )


async def test_events_applied_twice_count_once(env) -> None:
    event = issued(person="a", level="senior")
    await env.log.append([event])
    await env.consumer.catch_up()
    # The same certificate arriving under a new event id (a producer retry) is still one fact.
    again = issued(person="a", level="senior")
    await env.log.append([again])
    await env.consumer.catch_up()
    assert (await env.values(year=2025))["skilled_talents"] == 1


async def test_bad_queries_are_problems(env) -> None:
    for params, field in [
        ({"year": 2019}, "year"),
        ({"town": "atlantis"}, "town"),
        ({"year": 2025, "as_of": "2026-01-01"}, "as_of"),
        ({"year": "abc"}, "year"),
    ]:
        response = await env.client.get("/v1/indicators", params=params)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == field


async def test_replay_into_an_empty_database_gives_the_same_numbers(
    env, databases: DatabaseFactory
) -> None:
    await env.log.append(
        [
            issued(person=p, level=lv, town=t)
            for p, lv, t in [
                ("a", "senior", "changguo"),
                ("b", "junior", "jintang"),
                ("c", "chief_technician", "maao"),
                ("a", "technician", "changguo"),
            ]
        ]
    )
    await env.consumer.catch_up()
    live = await env.values(year=2025)
    fresh = IndicatorsSettings(
        database_url=await databases.create(MIGRATIONS),
        eventlog_url=env.settings.eventlog_url,
        environment="test",
        embedded_workers=False,
    )
    assert await rebuild(fresh) == 4
    async with running_app(create_app(fresh)) as client:
        replayed = await client.get("/v1/indicators", params={"year": 2025})
    assert {i["code"]: i["value"] for i in replayed.json()["indicators"]} == live
    assert live["skilled_talents"] == 3 and live["high_skilled_talents"] == 2
    assert await rebuild(env.settings) == 4  # rebuilding in place gives the same too
    assert await env.values(year=2025) == live


def test_pure_rules() -> None:
    assert share_percent(2, 3) == 66.67 and share_percent(1, 0) is None
    assert progress_percent(55500, 111000) == 50.0 and progress_percent(1, None) is None
    assert meets(36.0, 36.0, ">") is False and meets(36.0, 36.0, ">=") is True
    assert meets(None, 1, ">=") is None
