"""Indicator definitions and targets from policy data; pure functions over counts.

Every indicator of POLICY.md §1, §2 and §9 is defined here by a *measure*: which rollup component
it reads (a stock, counted as of a date, or a flow, counted from 1 January of the year up to that
date) and how a value is made of it (a count, a share of two components, an amount of money).
The components themselves are produced per person by `indicators.timeline`; docs/indicators.md
states every definition in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

# Rollup components (the `code` column of the delta counters). Stocks are summed over all days up
# to the as-of date; flows over the days of the requested year up to the as-of date.
SKILLED = "skilled_talents"
HIGH_SKILLED = "high_skilled_talents"
KEY_GROUP_WILLING = "key_group_willing"  # stock: willing key-group persons
KEY_GROUP_TRAINED = "key_group_trained"  # flow: of those, trained at least once in the year
REWARDS_FEN = "self_assessment_rewards"  # flow, in fen
PERSON_TIMES = "training_person_times"  # flow family .<domain>; alone: all domains, once each
CULTIVATED = "talents_cultivated"  # flow family: talents_cultivated.<domain>
KEY_GROUPS_DOMAIN = "key_groups"
STOCK_COMPONENTS = frozenset({SKILLED, HIGH_SKILLED, KEY_GROUP_WILLING})
BASELINE = "employed_persons_baseline"

# Town codes of the rollups besides the 13 of policy data.
DISTRICT = "*"  # the whole district (every person once)
UNASSIGNED = "-"  # counted district-wide but in no town (unknown town code, or no town at all)

UNIT_ZH = {"persons": "人", "percent": "%", "count": "个", "person_times": "人次", "yuan": "元"}

# Indicators whose source service does not publish events yet: the event each will take.
AWAITED_EVENTS: dict[str, str] = {
    "skill_villages": "cn.dinghai.skills.awards.designation.granted.v1 (kind=skill_village)",
    "skill_enterprises": "cn.dinghai.skills.awards.designation.granted.v1 (kind=skill_enterprise)",
    "pay_for_skills_enterprises": (
        "cn.dinghai.skills.awards.designation.granted.v1 (kind=pay_for_skills_enterprise)"
    ),
    "skill_enriching_enterprises": (
        "cn.dinghai.skills.awards.designation.granted.v1 (kind=skill_enriching_enterprise)"
    ),
    "insured_talents": "cn.dinghai.skills.finance.insurance.enrolled.v1 (personkey)",
    "insured_enterprises": "cn.dinghai.skills.finance.insurance_discount.granted.v1",
    "dinghai_craftsmen": "cn.dinghai.skills.awards.craftsman.recognised.v1 (personkey)",
    "craftsman_studios": "cn.dinghai.skills.awards.studio.recognised.v1 (kind=craftsman)",
    "master_studios": "cn.dinghai.skills.awards.studio.recognised.v1 (kind=master|innovation)",
    "competitions": "cn.dinghai.skills.awards.competition.held.v1",
    "certificate_subsidies": "cn.dinghai.skills.awards.subsidy.approved.v1 (kind=certificate)",
    "post_subsidies": "cn.dinghai.skills.awards.subsidy.approved.v1 (kind=post)",
}


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class IndicatorDefinition(_Tolerant):
    """One indicator of POLICY.md §9 with its yearly targets."""

    code: str
    name_zh: str
    unit: str
    comparison: str = ">="
    targets: dict[str, int | float | None] = {}


class TrainingDomain(_Tolerant):
    """A training domain with its annual quota (person-times) and talent target."""

    code: str
    name_zh: str
    person_times_quota: int | None = None
    talents_target: int | None = None


class Town(_Tolerant):
    """A town or street of the district (reference data with a validity range)."""

    code: str
    name_zh: str
    kind: str = "street"


MeasureKind = Literal["count", "share", "money", "awaited"]


@dataclass(frozen=True)
class Measure:
    """How an indicator's value is made of rollup components."""

    kind: MeasureKind
    component: str | None = None
    denominator: str | None = None  # a component, or BASELINE
    source: str = ""  # the service whose events feed it

    @property
    def components(self) -> tuple[str, ...]:
        """The rollup components this measure reads."""
        return tuple(c for c in (self.component, self.denominator) if c and c != BASELINE)


def is_stock(component: str) -> bool:
    """Stocks count as of a date; everything else is a flow within the year."""
    return component in STOCK_COMPONENTS


def measure_of(code: str) -> Measure:
    """The measure of an indicator code (awaited when no source publishes events yet)."""
    fixed = {
        SKILLED: Measure("count", SKILLED, source="evaluation"),
        HIGH_SKILLED: Measure("count", HIGH_SKILLED, source="evaluation"),
        "skilled_talent_share": Measure("share", SKILLED, BASELINE, source="evaluation"),
        "high_skilled_share": Measure("share", HIGH_SKILLED, SKILLED, source="evaluation"),
        "key_group_coverage": Measure(
            "share", KEY_GROUP_TRAINED, KEY_GROUP_WILLING, source="training"
        ),
        REWARDS_FEN: Measure("money", REWARDS_FEN, source="evaluation"),
    }
    if code in fixed:
        return fixed[code]
    if code.startswith((PERSON_TIMES + ".", CULTIVATED + ".")):
        return Measure("count", code, source="training")
    return Measure("awaited", source="awards" if "subsid" in code else "awards/finance")


@dataclass(frozen=True)
class IndicatorPolicy:
    """The policy sections the indicators read."""

    version: str
    indicators: tuple[IndicatorDefinition, ...]
    levels: dict[str, int]
    high_skilled_rank: int
    domains: tuple[TrainingDomain, ...]
    towns: tuple[Town, ...] = ()
    key_groups: tuple[str, ...] = ()

    @classmethod
    def from_data(cls, *, version: str, data: dict[str, Any]) -> IndicatorPolicy:
        """Read the sections from a policy version's data."""
        levels = {lv["code"]: int(lv["rank"]) for lv in data["levels"]}
        training = data.get("training", {})
        return cls(
            version=version,
            indicators=tuple(IndicatorDefinition.model_validate(i) for i in data["indicators"]),
            levels=levels,
            high_skilled_rank=levels[data["high_skilled_from"]],
            domains=tuple(TrainingDomain.model_validate(d) for d in training["domains"]),
            towns=tuple(Town.model_validate(t) for t in data.get("towns", [])),
            key_groups=tuple(g["code"] for g in training.get("key_groups", [])),
        )

    def level_rank(self, level: str) -> int:
        """The rank of a level code (0 for a code this policy does not know)."""
        return self.levels.get(level, 0)

    @property
    def town_codes(self) -> tuple[str, ...]:
        """The 13 town/street codes, in policy order."""
        return tuple(t.code for t in self.towns)

    @property
    def domain_codes(self) -> tuple[str, ...]:
        """Training domain codes, in policy order."""
        return tuple(d.code for d in self.domains)

    def town_name(self, code: str) -> str:
        """Chinese name of a town code (未分配 for the unassigned bucket)."""
        for town in self.towns:
            if town.code == code:
                return town.name_zh
        return "未分配镇街" if code == UNASSIGNED else code

    def all_definitions(self) -> list[IndicatorDefinition]:
        """Every indicator: the headline ones, then per-domain person-times and talents."""
        times = [
            IndicatorDefinition(
                code=f"{PERSON_TIMES}.{d.code}",
                name_zh=f"培训人次·{d.name_zh}",
                unit="person_times",
                targets={"2025": d.person_times_quota, "2026": d.person_times_quota},
            )
            for d in self.domains
        ]
        cultivated = [
            IndicatorDefinition(
                code=f"{CULTIVATED}.{d.code}",
                name_zh=f"培育技能人才·{d.name_zh}",
                unit="persons",
                targets={"2025": d.talents_target, "2026": d.talents_target},
            )
            for d in self.domains
        ]
        return [*self.indicators, *times, *cultivated]

    def definition(self, code: str) -> IndicatorDefinition | None:
        """One indicator by code."""
        return next((d for d in self.all_definitions() if d.code == code), None)


def year_end(year: int) -> date:
    """31 December of a year: the stock date of `year=Y`."""
    return date(year, 12, 31)


def progress_percent(value: float | None, target: float | None) -> float | None:
    """Value as a percentage of target, one decimal."""
    if value is None or not target:
        return None
    return round(value * 100.0 / target, 1)


def meets(value: float | None, target: float | None, comparison: str) -> bool | None:
    """Whether the value meets the target under the indicator's comparison."""
    if value is None or target is None:
        return None
    return value > target if comparison == ">" else value >= target


def share_percent(part: int, whole: int | None) -> float | None:
    """part/whole as a percentage with two decimals; None without a denominator."""
    if not whole:
        return None
    return round(part * 100.0 / whole, 2)


def fen_to_yuan(fen: int) -> int | float:
    """An amount in fen as yuan: an integer when whole, else exact to the fen."""
    whole, cents = divmod(fen, 100)
    if cents == 0:
        return whole
    return float(Decimal(fen) / 100)
