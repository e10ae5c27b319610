"""Pure rules of training and the policy sections this service reads (no I/O, no framework).

Quota accounting (decided here, POLICY.md §2 is silent): a programme's annual quota counts
**seats reserved by enrolments** (person-times, 人次) in classes that *start* in that year.
Taking a seat takes one unit of the class's year/domain quota; waiting-listed people hold none;
a cancellation releases both and the first waiting person takes them over. Recording a completion
does not consume another unit (the seat already did).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from common.policy import PolicySet, PolicyVersion

Clock = Callable[[], date]

# Labels shown to citizens and officials (code → Chinese).
CLASS_MODES = {"classroom": "线下课堂", "online": "线上培训", "on_the_job": "在岗培训"}
ENROLMENT_STATUS_ZH = {"enrolled": "已报名", "waiting": "候补", "cancelled": "已取消"}
RESULT_ZH = {"passed": "合格", "failed": "不合格"}
INSTITUTION_STATUS_ZH = {"active": "正常", "suspended": "暂停", "exited": "已退出"}

# The 30-minute circle: road distance is estimated as great-circle distance × DETOUR_FACTOR.
# 1.3 is a common circuity factor for road networks; on Zhoushan's islands a sea crossing
# (e.g. 金塘 by the bridges) can make the real figure much larger. Speeds per mode are policy data.
DETOUR_FACTOR = 1.3
EARTH_RADIUS_KM = 6371.0088


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class DomainPolicy(_Tolerant):
    """A training domain (programme) with its annual quota and talent target."""

    code: str
    name_zh: str
    person_times_quota: int | None = None
    talents_target: int | None = None


class KeyGroupPolicy(_Tolerant):
    """A key group of 愿培全培."""

    code: str
    name_zh: str


class TownPolicy(_Tolerant):
    """A town or street of the district, valid over a date range."""

    code: str
    name_zh: str
    valid_from: date
    valid_to: date | None = None


class LevelPolicy(_Tolerant):
    """A skill level a class can aim at."""

    code: str
    rank: int
    name_zh: str


@dataclass(frozen=True)
class TrainingPolicy:
    """The parts of one policy version that training reads."""

    version: str
    effective_from: date
    effective_to: date | None
    domains: dict[str, DomainPolicy]
    key_groups: dict[str, KeyGroupPolicy]
    towns: dict[str, TownPolicy]
    levels: dict[str, LevelPolicy]
    completion_deadline_days: int
    travel_speeds_kmh: dict[str, float]
    circle_minutes: int

    @classmethod
    def from_version(cls, policy: PolicyVersion) -> TrainingPolicy:
        """Read the sections from a policy version."""
        data: dict[str, Any] = policy.data
        training = data["training"]
        return cls(
            version=policy.version,
            effective_from=policy.effective_from,
            effective_to=policy.effective_to,
            domains={d["code"]: DomainPolicy.model_validate(d) for d in training["domains"]},
            key_groups={
                g["code"]: KeyGroupPolicy.model_validate(g) for g in training["key_groups"]
            },
            towns={t["code"]: TownPolicy.model_validate(t) for t in data["towns"]},
            levels={lv["code"]: LevelPolicy.model_validate(lv) for lv in data["levels"]},
            completion_deadline_days=int(training["completion_deadline_days"]),
            travel_speeds_kmh={k: float(v) for k, v in training["travel_speeds_kmh"].items()},
            circle_minutes=int(training["circle_minutes"]),
        )

    def covers(self, day: date) -> bool:
        """True when this version is in effect on `day`."""
        return self.effective_from <= day and (
            self.effective_to is None or day <= self.effective_to
        )

    def town_valid_on(self, code: str, day: date) -> bool:
        """True when the town code exists and was valid on `day`."""
        town = self.towns.get(code)
        return (
            town is not None
            and town.valid_from <= day
            and (town.valid_to is None or day <= town.valid_to)
        )

    def town_name(self, code: str) -> str:
        """The Chinese name of a town code (the code itself when unknown)."""
        town = self.towns.get(code)
        return town.name_zh if town else code

    def domain_name(self, code: str) -> str:
        """The Chinese name of a domain code (the code itself when unknown)."""
        domain = self.domains.get(code)
        return domain.name_zh if domain else code

    def group_name(self, code: str) -> str:
        """The Chinese name of a key-group code (the code itself when unknown)."""
        group = self.key_groups.get(code)
        return group.name_zh if group else code


@dataclass(frozen=True)
class TrainingPolicies:
    """Every policy version as training reads it, oldest first."""

    versions: tuple[TrainingPolicy, ...]

    @classmethod
    def from_set(cls, policy_set: PolicySet) -> TrainingPolicies:
        """Read every version of a validated policy set."""
        return cls(tuple(TrainingPolicy.from_version(v) for v in policy_set.versions))

    @property
    def latest(self) -> TrainingPolicy:
        """The newest version (labels, reference data)."""
        return self.versions[-1]

    def in_effect(self, day: date) -> TrainingPolicy | None:
        """The version in effect on `day`, if any."""
        for version in reversed(self.versions):
            if version.covers(day):
                return version
        return None

    def for_year(self, year: int) -> TrainingPolicy | None:
        """The version that sets a year's quotas: the one in effect on 1 January."""
        return self.in_effect(date(year, 1, 1))

    def by_version(self, label: str) -> TrainingPolicy:
        """A version by its label; the latest when unknown (a removed file)."""
        for version in self.versions:
            if version.version == label:
                return version
        return self.latest


def submission_deadline(ends_on: date, deadline_days: int) -> date:
    """The last day a completion of a class ending on `ends_on` may be posted."""
    return ends_on + timedelta(days=deadline_days)


def citizen_may_enrol(*, starts_on: date, today: date) -> bool:
    """Citizens enrol themselves until the class starts (not on or after its first day)."""
    return today < starts_on


def institution_may_enrol(*, ends_on: date, today: date) -> bool:
    """An institution adds trainees to its own class until it ends (its last day included)."""
    return today <= ends_on


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def travel_minutes(distance_km: float, speed_kmh: float) -> float:
    """Estimated travel time: distance × detour factor at the mode's speed."""
    return distance_km * DETOUR_FACTOR / speed_kmh * 60


def reach_km(minutes: float, speed_kmh: float) -> float:
    """The great-circle radius reachable within `minutes` (inverse of `travel_minutes`)."""
    return minutes / 60 * speed_kmh / DETOUR_FACTOR


def bounding_box(lat: float, lon: float, radius_km: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) enclosing a circle (for an index-friendly filter)."""
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    cos_lat = max(0.01, math.cos(math.radians(lat)))
    dlon = math.degrees(radius_km / (EARTH_RADIUS_KM * cos_lat))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon
