"""Indicator definitions and targets from policy data; pure functions over counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class IndicatorDefinition(_Tolerant):
    """One indicator of POLICY.md §9 with its yearly targets."""

    code: str
    name_zh: str
    unit: str
    comparison: str = ">="
    targets: dict[str, int | float | None] = {}


class LevelRank(_Tolerant):
    """A level code and its rank on the ladder."""

    code: str
    rank: int


class TrainingDomain(_Tolerant):
    """A training domain with its annual quota (person-times) and talent target."""

    code: str
    name_zh: str
    person_times_quota: int | None = None
    talents_target: int | None = None


@dataclass(frozen=True)
class IndicatorPolicy:
    """The policy sections the indicators read."""

    version: str
    indicators: tuple[IndicatorDefinition, ...]
    levels: dict[str, int]
    high_skilled_rank: int
    domains: tuple[TrainingDomain, ...]

    @classmethod
    def from_data(cls, *, version: str, data: dict[str, Any]) -> IndicatorPolicy:
        """Read the sections from a policy version's data."""
        levels = {lv["code"]: int(lv["rank"]) for lv in data["levels"]}
        return cls(
            version=version,
            indicators=tuple(IndicatorDefinition.model_validate(i) for i in data["indicators"]),
            levels=levels,
            high_skilled_rank=levels[data["high_skilled_from"]],
            domains=tuple(TrainingDomain.model_validate(d) for d in data["training"]["domains"]),
        )

    def level_rank(self, level: str) -> int:
        """The rank of a level code (0 for a code this policy does not know)."""
        return self.levels.get(level, 0)

    def all_definitions(self) -> list[IndicatorDefinition]:
        """Every indicator: the headline ones, then per-domain training person-times."""
        extra = [
            IndicatorDefinition(
                code=f"training_person_times.{d.code}",
                name_zh=f"培训人次·{d.name_zh}",
                unit="person_times",
                targets={"2025": d.person_times_quota, "2026": d.person_times_quota},
            )
            for d in self.domains
        ]
        return [*self.indicators, *extra]


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
