"""Per-person timelines: what one person contributes to each rollup component, day by day.

A person's facts (certificates, training completions, key-group memberships) define step
functions of the date: "is a skilled talent in town T", "is high-skilled", "is a willing key-group
person", "was trained this year", "was cultivated in domain d this year". This module turns them
into *deltas* ``(component, town, day) -> ±n`` whose running sum gives the value on any date:

- stock components (skilled, high-skilled, willing) are summed over every day up to the date;
- flow components are summed from 1 January of the year up to the date. A per-year flow of distinct
  persons (talents cultivated, key-group persons trained) is a 0/1 step function inside that year,
  so its deltas within the year sum to its value on any day of that year.

When an event changes a person, the consumer computes the person's contributions before and
after and writes only the difference (see `indicators.handlers`). Pure functions, no I/O; the
reconcile command recounts the same definitions independently (`indicators.reconcile`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from indicators.rules import (
    CULTIVATED,
    HIGH_SKILLED,
    KEY_GROUP_TRAINED,
    KEY_GROUP_WILLING,
    KEY_GROUPS_DOMAIN,
    PERSON_TIMES,
    SKILLED,
    UNASSIGNED,
)

DeltaKey = tuple[str, str, date]  # (component, town, day)


@dataclass
class Certificate:
    """One certificate as the indicators know it (a revocation may arrive before the issue)."""

    certificate_id: str
    person_key: str
    level: str | None = None
    level_rank: int = 0
    town: str | None = None
    occupation_code: str | None = None
    issued_on: date | None = None
    revoked_on: date | None = None
    flagged_on: date | None = None


@dataclass
class Completion:
    """One recorded training completion (passed or failed)."""

    completion_id: str
    person_key: str
    domain: str
    town: str
    completed_on: date
    key_group: bool = False
    result: str = ""


@dataclass
class Membership:
    """One key-group membership record; the latest per person and group is in force."""

    membership_id: str
    person_key: str
    group: str
    town: str
    willing: bool
    recorded_on: date
    position: int


@dataclass
class Person:
    """Everything the indicators know about one person_key."""

    person_key: str
    certificates: dict[str, Certificate] = field(default_factory=dict)
    completions: dict[str, Completion] = field(default_factory=dict)
    memberships: dict[str, Membership] = field(default_factory=dict)


@dataclass(frozen=True)
class TimelineRules:
    """The policy facts a timeline needs."""

    high_skilled_rank: int
    towns: frozenset[str]
    domains: frozenset[str]

    def town(self, code: str | None) -> str:
        """A policy town code, or the unassigned bucket."""
        return code if code in self.towns else UNASSIGNED


def contributions(person: Person, rules: TimelineRules) -> dict[DeltaKey, int]:
    """Every delta this person contributes, zero entries left out."""
    out: defaultdict[DeltaKey, int] = defaultdict(int)
    add_contributions(person, rules, out)
    return {key: value for key, value in out.items() if value}


def add_contributions(
    person: Person, rules: TimelineRules, out: defaultdict[DeltaKey, int]
) -> None:
    """Add every delta this person contributes to `out` (which may be left with zero entries)."""
    certificates = [c for c in person.certificates.values() if c.issued_on is not None]
    _talents(certificates, rules, out)
    if person.completions:  # each part below contributes nothing without completions
        _person_times(person.completions.values(), rules, out)
        _cultivated(list(person.completions.values()), certificates, rules, out)
    if person.memberships:
        _key_groups(person, rules, out)


def _step(
    out: defaultdict[DeltaKey, int],
    codes: Iterable[tuple[str, str | None, str | None]],
    day: date,
) -> None:
    """Move one person from the old town to the new town (None = not counted) for each code."""
    for code, old, new in codes:
        if old == new:
            continue
        if old is not None:
            out[(code, old, day)] -= 1
        if new is not None:
            out[(code, new, day)] += 1


def primary_certificate(valid: list[Certificate]) -> Certificate:
    """The certificate that places a person: highest level, then latest issue, then id."""
    return max(valid, key=lambda c: (c.level_rank, c.issued_on, c.certificate_id))


def _talents(
    certificates: list[Certificate], rules: TimelineRules, out: defaultdict[DeltaKey, int]
) -> None:
    if len(certificates) == 1:  # most persons: no walk over change points needed
        _one_talent(certificates[0], rules, out)
    else:
        _talents_walk(certificates, rules, out)


def _talents_walk(
    certificates: list[Certificate], rules: TimelineRules, out: defaultdict[DeltaKey, int]
) -> None:
    """Skilled and high-skilled steps at every issue and revocation date, from the primary
    certificate valid on that day."""
    points = sorted(
        {c.issued_on for c in certificates if c.issued_on}
        | {c.revoked_on for c in certificates if c.revoked_on}
    )
    skilled: str | None = None
    high: str | None = None
    for day in points:
        valid = [c for c in certificates if is_valid(c, day)]
        new_skilled = new_high = None
        if valid:
            primary = primary_certificate(valid)
            new_skilled = rules.town(primary.town)
            if primary.level_rank >= rules.high_skilled_rank:
                new_high = new_skilled
        _step(out, [(SKILLED, skilled, new_skilled), (HIGH_SKILLED, high, new_high)], day)
        skilled, high = new_skilled, new_high


def _one_talent(
    certificate: Certificate, rules: TimelineRules, out: defaultdict[DeltaKey, int]
) -> None:
    """`_talents_walk` of one issued certificate: counted from its issue until its revocation
    (never, if revoked on or before its issue day)."""
    issued, revoked = certificate.issued_on, certificate.revoked_on
    assert issued is not None
    if revoked is not None and revoked <= issued:
        return
    town = rules.town(certificate.town)
    codes = (
        (SKILLED, HIGH_SKILLED) if certificate.level_rank >= rules.high_skilled_rank else (SKILLED,)
    )
    for code in codes:
        out[(code, town, issued)] += 1
        if revoked is not None:
            out[(code, town, revoked)] -= 1


def is_valid(certificate: Certificate, day: date) -> bool:
    """Issued on or before the day and not revoked with effect on or before it."""
    return (
        certificate.issued_on is not None
        and certificate.issued_on <= day
        and (certificate.revoked_on is None or certificate.revoked_on > day)
    )


def _person_times(
    completions: Iterable[Completion], rules: TimelineRules, out: defaultdict[DeltaKey, int]
) -> None:
    for completion in completions:
        town = rules.town(completion.town)
        if completion.domain in rules.domains:
            out[(f"{PERSON_TIMES}.{completion.domain}", town, completion.completed_on)] += 1
            out[(PERSON_TIMES, town, completion.completed_on)] += 1  # all domains, once each
        if (
            completion.key_group
            and completion.domain != KEY_GROUPS_DOMAIN
            and KEY_GROUPS_DOMAIN in rules.domains
        ):
            out[(f"{PERSON_TIMES}.{KEY_GROUPS_DOMAIN}", town, completion.completed_on)] += 1


def _cultivated(
    completions: list[Completion],
    certificates: list[Certificate],
    rules: TimelineRules,
    out: defaultdict[DeltaKey, int],
) -> None:
    if not completions or not certificates:
        return
    by_domain_year: defaultdict[tuple[str, int], list[Completion]] = defaultdict(list)
    for completion in completions:
        if completion.domain in rules.domains:
            by_domain_year[(completion.domain, completion.completed_on.year)].append(completion)
    for (domain, year), trained in by_domain_year.items():
        trained.sort(key=lambda c: (c.completed_on, c.completion_id))
        points = sorted(
            {c.completed_on for c in trained}
            | {c.issued_on for c in certificates if c.issued_on and c.issued_on.year == year}
            | {c.revoked_on for c in certificates if c.revoked_on and c.revoked_on.year == year}
        )
        town: str | None = None
        for day in points:
            new_town = None
            for completion in trained:
                if completion.completed_on > day:
                    break
                if any(
                    c.issued_on is not None
                    and completion.completed_on <= c.issued_on
                    and is_valid(c, day)
                    for c in certificates
                ):
                    new_town = rules.town(completion.town)
                    break
            _step(out, [(f"{CULTIVATED}.{domain}", town, new_town)], day)
            town = new_town


def willing_town(memberships: list[Membership], day: date, rules: TimelineRules) -> str | None:
    """The town a person counts in as a willing key-group person on a day (None = not willing).

    `memberships` must be sorted by (recorded_on, position): the latest record per group wins,
    and the person counts in the town of their latest willing record.
    """
    latest: dict[str, Membership] = {}
    for membership in memberships:
        if membership.recorded_on > day:
            break
        latest[membership.group] = membership
    willing = [m for m in latest.values() if m.willing]
    if not willing:
        return None
    return rules.town(max(willing, key=lambda m: (m.recorded_on, m.position)).town)


def _key_groups(person: Person, rules: TimelineRules, out: defaultdict[DeltaKey, int]) -> None:
    memberships = sorted(person.memberships.values(), key=lambda m: (m.recorded_on, m.position))
    if not memberships:
        return
    town: str | None = None
    for day in sorted({m.recorded_on for m in memberships}):
        new_town = willing_town(memberships, day, rules)
        _step(out, [(KEY_GROUP_WILLING, town, new_town)], day)
        town = new_town
    first_training: dict[int, date] = {}
    for completion in person.completions.values():
        year = completion.completed_on.year
        if year not in first_training or completion.completed_on < first_training[year]:
            first_training[year] = completion.completed_on
    for year, first in first_training.items():
        points = sorted(
            {first, date(year, 1, 1)}
            | {m.recorded_on for m in memberships if m.recorded_on.year == year}
        )
        trained: str | None = None
        for day in points:
            new_trained = willing_town(memberships, day, rules) if first <= day else None
            _step(out, [(KEY_GROUP_TRAINED, trained, new_trained)], day)
            trained = new_trained
