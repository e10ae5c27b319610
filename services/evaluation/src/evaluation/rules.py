"""Pure rules of certificates and the policy sections this service reads (no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict

# 2019-on vocational skill level certificate: Y|S + evaluator(4) + province(2) + site(6)
# + year(2) + level digit (1 = 高级技师 … 5 = 初级工) + serial(6).
SKILL_LEVEL_NUMBER = re.compile(r"^[YS]\d{4}\d{2}\d{6}\d{2}[1-5]\d{6}$")
LEVEL_DIGIT_INDEX = 15
LEGACY_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{5,39}$")
OCCUPATION_CODE = re.compile(r"^\d-\d{2}-\d{2}-\d{2}$")


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LevelPolicy(_Tolerant):
    """One step of the skill ladder as the policy data defines it."""

    code: str
    rank: int
    name_zh: str
    certificate_digit: int | None = None


class TownPolicy(_Tolerant):
    """A town or street of the district, valid over a date range."""

    code: str
    name_zh: str
    valid_from: date
    valid_to: date | None = None


class ModePolicy(_Tolerant):
    """How a certificate was obtained."""

    code: str
    name_zh: str


@dataclass(frozen=True)
class CertificatePolicy:
    """The parts of a policy version that certificates are checked against."""

    version: str
    levels: dict[str, LevelPolicy]
    towns: dict[str, TownPolicy]
    modes: dict[str, ModePolicy]

    @classmethod
    def from_data(cls, *, version: str, data: dict[str, Any]) -> CertificatePolicy:
        """Read the sections from a policy version's data."""
        return cls(
            version=version,
            levels={lv["code"]: LevelPolicy.model_validate(lv) for lv in data["levels"]},
            towns={t["code"]: TownPolicy.model_validate(t) for t in data["towns"]},
            modes={m["code"]: ModePolicy.model_validate(m) for m in data["certificate_modes"]},
        )

    def town_valid_on(self, code: str, day: date) -> bool:
        """True when the town code exists and was valid on `day`."""
        town = self.towns.get(code)
        return (
            town is not None
            and town.valid_from <= day
            and (town.valid_to is None or day <= town.valid_to)
        )


def number_format(number: str) -> str | None:
    """`skill_level_2019`, `legacy`, or None when the number matches no accepted format."""
    if SKILL_LEVEL_NUMBER.match(number):
        return "skill_level_2019"
    if LEGACY_NUMBER.match(number):
        return "legacy"
    return None


def level_digit_matches(number: str, level: LevelPolicy) -> bool:
    """A 2019-format number's level digit must be the level's digit (inverted: 1 = 高级技师)."""
    if not SKILL_LEVEL_NUMBER.match(number):
        return True
    return level.certificate_digit is not None and int(number[LEVEL_DIGIT_INDEX]) == (
        level.certificate_digit
    )
