"""Synthetic events in the shapes of the producers' contracts, for tests and benchmarks.

`district_log` makes a deterministic, district-like stream: certificates over several years in
the 13 towns (a few in an unknown town), people holding two or three certificates, revocations
(some effective before they are published, a few published before their certificate), flags,
self-assessment rewards and reversals, training completions (some failed, some of key-group
members) and key-group memberships whose willingness changes.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta

from common.eventlog.envelope import Event
from indicators.handlers import (
    CERTIFICATE_FLAGGED,
    CERTIFICATE_ISSUED,
    CERTIFICATE_REVOKED,
    COMPLETION_RECORDED,
    MEMBERSHIP_RECORDED,
    REWARD_GRANTED,
    REWARD_REVERSED,
)

EVALUATION = "/services/evaluation"
TRAINING = "/services/training"
POLICY_VERSION = "2025.1"
TOWNS = (
    "changguo",
    "huannan",
    "chengdong",
    "yancang",
    "lincheng",
    "cengang",
    "maao",
    "shuangqiao",
    "xiaosha",
    "qiandao",
    "jintang",
    "baiquan",
    "ganlan",
)
LEVELS = (
    ("apprentice", 2),
    ("junior", 30),
    ("intermediate", 30),
    ("senior", 22),
    ("technician", 10),
    ("senior_technician", 4),
    ("special_technician", 1),
    ("chief_technician", 1),
)
DOMAINS = (
    "manufacturing",
    "digital_economy",
    "elderly_infant_care",
    "modern_services",
    "common_prosperity_workshops",
    "apprenticeship",
    "key_groups",
)
GROUPS = ("rural_transfer", "unemployed", "new_graduates", "disabled", "veterans", "low_income")


def person_key(label: object) -> str:
    """A 64-hex person key for a label (stands for the HMAC of an ID number)."""
    return hashlib.sha256(f"synthetic-person-{label}".encode()).hexdigest()


def _day(value: date | str) -> str:
    return value if isinstance(value, str) else value.isoformat()


def issued(
    *,
    person: str,
    certificate: str,
    level: str = "junior",
    town: str = "changguo",
    on: date | str = "2025-03-01",
    occupation: str = "6-04-02-05",
    mode: str = "social_evaluation",
) -> Event:
    """`certificate.issued.v1`."""
    return Event(
        type=CERTIFICATE_ISSUED,
        source=EVALUATION,
        subject=certificate,
        personkey=person,
        town=town,
        time=datetime.now(UTC),
        data={
            "certificate_id": certificate,
            "level": level,
            "occupation_code": occupation,
            "occupation_edition": "2022",
            "mode": mode,
            "body_code": "S0001",
            "employer_uscc": None,
            "town": town,
            "issued_on": _day(on),
            "policy_version": POLICY_VERSION,
        },
    )


def revoked(
    *,
    person: str | None,
    certificate: str,
    on: date | str,
    level: str = "junior",
    town: str = "changguo",
) -> Event:
    """`certificate.revoked.v1` (effective on `on`)."""
    return Event(
        type=CERTIFICATE_REVOKED,
        source=EVALUATION,
        subject=certificate,
        personkey=person,
        town=town,
        data={
            "certificate_id": certificate,
            "level": level,
            "town": town,
            "revoked_on": _day(on),
            "reason": "fraudulent_application",
            "body_code": "S0001",
            "policy_version": POLICY_VERSION,
        },
    )


def flagged(*, certificate: str, on: date | str, person: str | None = None) -> Event:
    """`certificate.flagged.v1`."""
    return Event(
        type=CERTIFICATE_FLAGGED,
        source=EVALUATION,
        subject=certificate,
        personkey=person,
        data={
            "certificate_id": certificate,
            "reason": "issued_after_body_exit",
            "body_code": "S0001",
            "flagged_on": _day(on),
        },
    )


def reward(
    *,
    entry: str,
    amount_fen: int,
    on: date | str,
    reversed_: bool = False,
    certificate: str = "c-0",
    year: int | None = None,
    town: str | None = None,
    person: str | None = None,
) -> Event:
    """`reward.granted.v1`, or `reward.reversed.v1` with `reversed_=True`."""
    day = _day(on)
    data: dict[str, object] = {
        "entry_id": entry,
        "enterprise_uscc": "91330902MA2A1B2C3D",
        "year": year or int(day[:4]),
        "amount_fen": amount_fen,
        "certificate_id": certificate,
        "policy_version": POLICY_VERSION,
    }
    data["reversed_on" if reversed_ else "granted_on"] = day
    return Event(
        type=REWARD_REVERSED if reversed_ else REWARD_GRANTED,
        source=EVALUATION,
        subject=entry,
        personkey=person,
        town=town,
        data=data,
    )


def completion(
    *,
    person: str,
    completion_id: str,
    domain: str,
    on: date | str,
    town: str = "changguo",
    key_groups: Sequence[str] = (),
    result: str = "passed",
) -> Event:
    """`completion.recorded.v1`."""
    return Event(
        type=COMPLETION_RECORDED,
        source=TRAINING,
        subject=completion_id,
        personkey=person,
        town=town,
        data={
            "completion_id": completion_id,
            "class_id": "class-1",
            "institution_id": "inst-1",
            "domain": domain,
            "town": town,
            "key_groups": list(key_groups),
            "hours": 16,
            "result": result,
            "completed_on": _day(on),
            "policy_version": POLICY_VERSION,
        },
    )


def membership(
    *,
    person: str,
    membership_id: str,
    group: str,
    on: date | str,
    willing: bool = True,
    town: str = "changguo",
) -> Event:
    """`key_group_membership.recorded.v1`."""
    return Event(
        type=MEMBERSHIP_RECORDED,
        source=TRAINING,
        subject=membership_id,
        personkey=person,
        town=town,
        data={
            "membership_id": membership_id,
            "group": group,
            "town": town,
            "willing": willing,
            "recorded_on": _day(on),
            "policy_version": POLICY_VERSION,
        },
    )


def district_log(
    certificates: int,
    *,
    seed: int = 1,
    first: date = date(2015, 1, 1),
    last: date = date(2026, 10, 31),
) -> Iterator[Event]:
    """A deterministic district-like stream with `certificates` certificate issues."""
    rng = random.Random(seed)
    span = (last - first).days
    recent = date(2025, 1, 1)
    recent_span = (last - recent).days
    level_names = [name for name, _ in LEVELS]
    level_weights = [weight for _, weight in LEVELS]
    persons = max(1, int(certificates * 0.8))
    held_back: list[Event] = []
    for index in range(certificates):
        number = rng.randrange(persons)
        person = person_key(f"{seed}-{number}")
        home = TOWNS[number % len(TOWNS)] if rng.random() < 0.9 else rng.choice(TOWNS)
        town = "outside" if rng.random() < 0.005 else home
        recent_issue = rng.random() < 0.35
        on = (
            recent + timedelta(days=rng.randrange(recent_span))
            if recent_issue
            else first + timedelta(days=rng.randrange(span))
        )
        level = rng.choices(level_names, level_weights)[0]
        certificate = f"c-{seed}-{index}"
        mode = "enterprise_assessment" if rng.random() < 0.3 else "social_evaluation"
        if recent_issue and rng.random() < 0.4:
            domain = rng.choice(DOMAINS)
            trained_on = max(recent, on - timedelta(days=rng.randrange(1, 120)))
            groups = [rng.choice(GROUPS)] if rng.random() < 0.2 else []
            yield completion(
                person=person,
                completion_id=f"t-{seed}-{index}",
                domain=domain,
                on=trained_on,
                town=home,
                key_groups=groups,
                result="failed" if rng.random() < 0.1 else "passed",
            )
        issue = issued(
            person=person, certificate=certificate, level=level, town=town, on=on, mode=mode
        )
        if rng.random() < 0.002:
            held_back.append(issue)  # published after its revocation (below)
        else:
            yield issue
        if rng.random() < 0.03:
            revoked_on = on + timedelta(days=rng.randrange(1, 900))
            yield revoked(person=person, certificate=certificate, on=revoked_on, level=level)
        if rng.random() < 0.01:
            yield flagged(certificate=certificate, on=on + timedelta(days=3), person=person)
        if mode == "enterprise_assessment" and on >= recent and rng.random() < 0.5:
            entry = f"r-{seed}-{index}"
            for days, back in ((5, False), (40, True)):
                if back and rng.random() >= 0.05:
                    break
                yield reward(
                    entry=entry,
                    amount_fen=50000,
                    on=on + timedelta(days=days),
                    reversed_=back,
                    certificate=certificate,
                    town=town,
                    person=person,
                )
        if rng.random() < 0.08:
            group = rng.choice(GROUPS)
            joined = recent + timedelta(days=rng.randrange(recent_span))
            yield membership(
                person=person,
                membership_id=f"m-{seed}-{index}",
                group=group,
                on=joined,
                town=home,
            )
            if rng.random() < 0.15:
                yield membership(
                    person=person,
                    membership_id=f"m-{seed}-{index}-b",
                    group=group,
                    on=joined + timedelta(days=rng.randrange(1, 200)),
                    willing=False,
                    town=home,
                )
        if rng.random() < 0.15:
            yield completion(
                person=person_key(f"{seed}-trainee-{index}"),
                completion_id=f"u-{seed}-{index}",
                domain=rng.choice(DOMAINS),
                on=recent + timedelta(days=rng.randrange(recent_span)),
                town=rng.choice(TOWNS),
                result="failed" if rng.random() < 0.2 else "passed",
            )
        if held_back and rng.random() < 0.05:
            yield held_back.pop(0)
    yield from held_back


def batches(events: Iterator[Event], size: int) -> Iterator[list[Event]]:
    """Events in lists of `size` (for `SqlEventLog.append`)."""
    chunk: list[Event] = []
    for event in events:
        chunk.append(event)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
