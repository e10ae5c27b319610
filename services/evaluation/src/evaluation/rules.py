"""Pure rules of certificates, bodies and rewards, and the policy sections this service reads."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from common.observability import scrub
from common.pii import hmac_sha256_hex
from common.policy import PolicySet

# 2019-on vocational skill level certificate: Y|S + evaluator(4) + province(2) + site(6)
# + year(2) + level digit (1 = 高级技师 … 5 = 初级工) + serial(6).
SKILL_LEVEL_NUMBER = re.compile(r"^[YS]\d{4}\d{2}\d{6}\d{2}[1-5]\d{6}$")
LEVEL_DIGIT_INDEX = 15
YEAR_DIGITS = slice(13, 15)
LEGACY_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{5,39}$")
OCCUPATION_CODE = re.compile(r"^\d-\d{2}-\d{2}-\d{2}$")
# A body's code is the first part of its 2019-format certificate numbers: the type letter and the
# 4-digit evaluator code ("S0001"); bodies filed with the province share evaluator code 0000 and
# are told apart by the province and site digits that follow ("S000033000123", 13 characters).
BODY_CODE = re.compile(r"^[YS]\d{4}(\d{8})?$")
# Legacy stock whose issuing body no longer exists (or was never recorded) is imported under this
# reserved body. It cannot be given a token that issues: only imports use it.
LEGACY_BODY_CODE = "LEGACY"
ENTERPRISE_ASSESSMENT = "enterprise_assessment"
ISSUED_AFTER_BODY_EXIT = "issued_after_body_exit"
EARLIEST_ISSUE_DATE = date(1990, 1, 1)


class BodyType(StrEnum):
    """Y = an employer assessing its own staff; S = a social training evaluation organisation."""

    EMPLOYER = "Y"
    SOCIAL = "S"


class BodyStatus(StrEnum):
    """The dynamic-management states of an evaluation body."""

    ACTIVE = "active"
    WARNED = "warned"
    SUSPENDED = "suspended"
    EXITED = "exited"


ISSUING_STATUSES = frozenset({BodyStatus.ACTIVE, BodyStatus.WARNED})
# The negative list (负面清单): bodies that are suspended or exited today.
NEGATIVE_LIST_STATUSES = frozenset({BodyStatus.SUSPENDED, BodyStatus.EXITED})


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
    high_skilled_from: str = "senior"

    @classmethod
    def from_data(cls, *, version: str, data: dict[str, Any]) -> CertificatePolicy:
        """Read the sections from a policy version's data."""
        return cls(
            version=version,
            levels={lv["code"]: LevelPolicy.model_validate(lv) for lv in data["levels"]},
            towns={t["code"]: TownPolicy.model_validate(t) for t in data["towns"]},
            modes={m["code"]: ModePolicy.model_validate(m) for m in data["certificate_modes"]},
            high_skilled_from=str(data.get("high_skilled_from", "senior")),
        )

    def town_valid_on(self, code: str, day: date) -> bool:
        """True when the town code exists and was valid on `day`."""
        town = self.towns.get(code)
        return (
            town is not None
            and town.valid_from <= day
            and (town.valid_to is None or day <= town.valid_to)
        )

    def is_high_skilled(self, level: str) -> bool:
        """高级工 and above."""
        return self.levels[level].rank >= self.levels[self.high_skilled_from].rank


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


def number_year_matches(number: str, issued_on: date) -> bool:
    """A 2019-format number carries the two-digit year of issue (a mismatch is only a warning:
    a certificate may be issued early in the year after its evaluation)."""
    if not SKILL_LEVEL_NUMBER.match(number):
        return True
    return number[YEAR_DIGITS] == f"{issued_on.year % 100:02d}"


def number_matches_body(number: str, body_code: str) -> bool:
    """A 2019-format number starts with its issuing body's code (type letter, evaluator code and,
    for province-filed bodies, province and site). Older formats carry no body code."""
    if not SKILL_LEVEL_NUMBER.match(number) or body_code == LEGACY_BODY_CODE:
        return True
    return number.startswith(body_code)


def body_code_problem(code: str, body_type: str) -> str | None:
    """Why a body code is unacceptable (a reason code), or None."""
    if not BODY_CODE.match(code):
        return "format"
    if code[0] != body_type:
        return "type_mismatch"
    return None


@dataclass(frozen=True)
class StatusRow:
    """One status-history row as the rules see it."""

    status: BodyStatus
    effective_on: date
    reason: str
    sequence: int = 0


@dataclass(frozen=True)
class BodyState:
    """A registered body with its status history, oldest first."""

    code: str
    type: str
    name: str
    uscc: str | None
    legacy: bool
    history: tuple[StatusRow, ...] = field(default_factory=tuple)

    def status_on(self, day: date) -> StatusRow | None:
        """The latest row effective on or before `day` (None: not yet filed on that day)."""
        current: StatusRow | None = None
        for row in self.history:
            if row.effective_on <= day and (
                current is None
                or (row.effective_on, row.sequence) >= (current.effective_on, current.sequence)
            ):
                current = row
        return current

    def exit_row(self) -> StatusRow | None:
        """The earliest exit recorded, if any (an exit is final)."""
        exits = [r for r in self.history if r.status is BodyStatus.EXITED]
        return min(exits, key=lambda r: (r.effective_on, r.sequence)) if exits else None


def issuing_refusal(body: BodyState, day: date) -> tuple[str, StatusRow | None] | None:
    """Why `body` may not issue a certificate dated `day` — (reason code, status row) — or None.

    Reason codes: `not_filed` (no status row on or before the day), `suspended`, `exited`.
    """
    row = body.status_on(day)
    if row is None:
        return "not_filed", None
    if row.status not in ISSUING_STATUSES:
        return row.status.value, row
    return None


_WHITESPACE = re.compile(r"\s+")
_MIDDLE_DOTS = re.compile(r"[·•・‧∙⋅]")  # middle-dot variants


def normalise_name(name: str) -> str:
    """The form of a name that verification compares: NFKC, no whitespace, one middle dot,
    case-folded (for names in Latin letters)."""
    folded = _WHITESPACE.sub("", unicodedata.normalize("NFKC", name))
    return _MIDDLE_DOTS.sub("·", folded).casefold()


def name_digest(name: str, *, pepper: str) -> str:
    """HMAC-SHA256 of the normalised name, keyed by the pepper and separated from person_key."""
    return hmac_sha256_hex(pepper.encode(), b"holder-name\x00" + normalise_name(name).encode())


def looks_personal(text: str) -> bool:
    """True when free text contains something shaped like an ID or mobile number."""
    return scrub(text) != text


# --- Enterprise self-assessment reward -------------------------------------------------------


@dataclass(frozen=True)
class RewardPolicy:
    """`rewards.self_assessment` of one policy version."""

    version: str
    per_person_fen: int
    annual_cap_fen: int


@dataclass(frozen=True)
class RewardPolicies:
    """The reward rules in effect on a certificate's issue date (none before the pilot)."""

    ranges: tuple[tuple[date, date | None, RewardPolicy], ...]

    @classmethod
    def from_policy_set(cls, policies: PolicySet) -> RewardPolicies:
        """Read `rewards.self_assessment` of every version with its effective range."""
        ranges = []
        for version in policies.versions:
            section = version.section("rewards")["self_assessment"]
            rule = RewardPolicy(
                version=version.version,
                per_person_fen=int(section["per_person_fen"]),
                annual_cap_fen=int(section["annual_cap_fen"]),
            )
            ranges.append((version.effective_from, version.effective_to, rule))
        return cls(tuple(ranges))

    def for_day(self, day: date) -> RewardPolicy | None:
        """The rule in effect on `day`, or None."""
        for start, end, rule in self.ranges:
            if start <= day and (end is None or day <= end):
                return rule
        return None

    def covers_year(self, year: int) -> bool:
        """True when a rule is in effect on some day of the year."""
        first, last = date(year, 1, 1), date(year, 12, 31)
        return any(start <= last and (end is None or end >= first) for start, end, _ in self.ranges)

    def by_version(self, version: str) -> RewardPolicy | None:
        """A rule by its policy version."""
        return next((r for _, _, r in self.ranges if r.version == version), None)


@dataclass(frozen=True)
class EligiblePerson:
    """A person eligible for an enterprise-year's reward, by their first eligible certificate."""

    person_key: str
    certificate_id: str
    town: str
    policy: RewardPolicy


@dataclass(frozen=True)
class GrantedEntry:
    """A granted (not reversed) ledger entry."""

    entry_id: str
    person_key: str
    amount_fen: int
    per_person_fen: int


@dataclass(frozen=True)
class RewardPlan:
    """What to change in one enterprise-year: entries to reverse, then grants to make."""

    reversals: list[tuple[GrantedEntry, str]]
    grants: list[tuple[EligiblePerson, int]]


def plan_rewards(
    *,
    eligible: Sequence[EligiblePerson],
    granted: Sequence[GrantedEntry],
    reason: str,
    held_elsewhere_fen: int = 0,
) -> RewardPlan:
    """Bring an enterprise-year's ledger to min(cap, per_person × eligible persons).

    `eligible` is in the order persons became eligible (first recorded certificate first). Kept
    entries keep their place (a later, earlier-dated certificate never displaces anyone); entries
    of persons no longer eligible are reversed; persons waiting below the cap get entries in
    order. The last entry below the cap may be partial; when room opens up it is reversed and
    granted again in full (reason `regranted`), so that the ledger stays at the formula.

    `held_elsewhere_fen` is the sum of full entries left out of both `eligible` and `granted`
    (their persons still eligible): such a person is passed over and such an entry kept, so
    leaving them out changes nothing but the total, which this adds back.
    """
    eligible_keys = {p.person_key for p in eligible}
    reversals: list[tuple[GrantedEntry, str]] = []
    kept: dict[str, GrantedEntry] = {}
    for entry in granted:
        if entry.person_key in eligible_keys and entry.person_key not in kept:
            kept[entry.person_key] = entry
        else:
            reversals.append((entry, reason))
    total = held_elsewhere_fen + sum(e.amount_fen for e in kept.values())
    grants: list[tuple[EligiblePerson, int]] = []
    for person in eligible:
        held = kept.get(person.person_key)
        cap = person.policy.annual_cap_fen
        if held is not None:
            if held.amount_fen >= held.per_person_fen:
                continue
            room = cap - (total - held.amount_fen)
            amount = min(person.policy.per_person_fen, room)
            if amount <= held.amount_fen:
                continue
            reversals.append((held, "regranted"))
            total += amount - held.amount_fen
            grants.append((person, amount))
            continue
        room = cap - total
        if room <= 0:
            continue
        amount = min(person.policy.per_person_fen, room)
        total += amount
        grants.append((person, amount))
    return RewardPlan(reversals=reversals, grants=grants)
