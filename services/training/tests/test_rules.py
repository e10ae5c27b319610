"""Pure rules: distances, travel time, dates, the order of completion refusals."""

from __future__ import annotations

from datetime import date

from training.completions.service import ClassFacts, refusal
from training.rules import (
    bounding_box,
    citizen_may_enrol,
    great_circle_km,
    institution_may_enrol,
    reach_km,
    submission_deadline,
    travel_minutes,
)

FACTS = ClassFacts(
    id="c",
    domain="manufacturing",
    town="changguo",
    starts_on=date(2025, 6, 1),
    ends_on=date(2025, 6, 30),
    deadline=date(2025, 7, 28),
    policy_version="2025.1",
)


def test_great_circle_distance() -> None:
    assert great_circle_km(30, 122, 30, 122) == 0
    one_degree_lat = great_circle_km(30, 122, 31, 122)
    assert 111.0 < one_degree_lat < 111.4


def test_travel_minutes_and_reach_are_inverse() -> None:
    assert travel_minutes(10, 20) == 10 * 1.3 / 20 * 60
    assert abs(travel_minutes(reach_km(30, 20), 20) - 30) < 1e-9


def test_bounding_box_contains_the_circle() -> None:
    min_lat, max_lat, min_lon, max_lon = bounding_box(30, 122, 10)
    assert great_circle_km(30, 122, max_lat, 122) <= 10.0001
    assert great_circle_km(30, 122, 30, max_lon) <= 10.0001
    assert min_lat < 30 < max_lat and min_lon < 122 < max_lon


def test_enrolment_windows_and_deadline() -> None:
    assert citizen_may_enrol(starts_on=date(2025, 6, 10), today=date(2025, 6, 9))
    assert not citizen_may_enrol(starts_on=date(2025, 6, 10), today=date(2025, 6, 10))
    assert institution_may_enrol(ends_on=date(2025, 6, 30), today=date(2025, 6, 30))
    assert not institution_may_enrol(ends_on=date(2025, 6, 30), today=date(2025, 7, 1))
    assert submission_deadline(date(2025, 6, 30), 28) == date(2025, 7, 28)


def test_refusal_order() -> None:
    ok = {
        "id_ok": True,
        "facts": FACTS,
        "enrolled": True,
        "recorded": False,
        "today": date(2025, 7, 1),
    }
    assert refusal(**ok, completed_on=date(2025, 6, 30)) is None
    assert (
        refusal(**{**ok, "id_ok": False, "facts": None}, completed_on=date(2099, 1, 1))
        == "invalid_id_number"
    )
    assert (
        refusal(**{**ok, "facts": None, "enrolled": False}, completed_on=date(2025, 6, 30))
        == "class_not_found"
    )
    assert (
        refusal(**{**ok, "enrolled": False, "recorded": True}, completed_on=date(2025, 6, 30))
        == "not_enrolled"
    )
    assert refusal(**{**ok, "recorded": True}, completed_on=date(2099, 1, 1)) == "already_recorded"
    assert refusal(**ok, completed_on=date(2025, 7, 2)) == "completed_on_in_future"
    assert refusal(**ok, completed_on=date(2025, 5, 31)) == "completed_on_outside_class"
    late = {**ok, "today": date(2025, 7, 29)}
    assert refusal(**late, completed_on=date(2025, 6, 30)) == "past_submission_deadline"
