"""Recount every indicator from the log, independently of the rollups, and list the differences.

The rollups are maintained incrementally: per-person timelines turned into dated deltas, summed
over calendar buckets in SQL. This module does none of that. It reads every event up to the
rollups' checkpoint into plain dictionaries (the same fact rules: first issue wins, the earliest
revocation date wins, ids deduplicate), then for each as-of date evaluates every definition
directly on every person, and compares the result with what the rollups return for the district,
each of the 13 towns and the unassigned bucket. Only the tolerant event readers are shared.

The checkpoint and the rollup values are read in one transaction (REPEATABLE READ on PostgreSQL,
the write lock on SQLite), so a consumer running at the same time cannot make them disagree.
"""

from __future__ import annotations

import calendar
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.eventlog.backend import EventLog
from indicators import store
from indicators.changes import Issue, Join, Revoke, Reward, Train
from indicators.handlers import CONSUMER_NAME, read_change
from indicators.rules import (
    CULTIVATED,
    DISTRICT,
    HIGH_SKILLED,
    KEY_GROUP_TRAINED,
    KEY_GROUP_WILLING,
    KEY_GROUPS_DOMAIN,
    PERSON_TIMES,
    REWARDS_FEN,
    SKILLED,
    UNASSIGNED,
    IndicatorPolicy,
    is_stock,
)

PAGE = 5000


@dataclass
class LogFacts:
    """The facts of the whole log, as plain values."""

    certificates: dict[str, dict[str, Any]] = field(default_factory=dict)
    completions: dict[str, dict[str, Any]] = field(default_factory=dict)
    memberships: dict[str, dict[str, Any]] = field(default_factory=dict)
    rewards: dict[str, tuple[int, date, str | None]] = field(default_factory=dict)
    events: int = 0
    unreadable: int = 0


def collect(events: Iterable[Any], policy: IndicatorPolicy, facts: LogFacts) -> None:
    """Fold logged events into facts."""
    for logged in events:
        facts.events += 1
        try:
            change = read_change(logged, policy)
        except Exception:
            facts.unreadable += 1
            continue
        if isinstance(change, Issue):
            c = change.certificate
            known = facts.certificates.get(c.certificate_id)
            if known is not None and known["issued_on"] is not None:
                continue
            facts.certificates[c.certificate_id] = {
                "person": c.person_key,
                "rank": c.level_rank,
                "town": c.town,
                "issued_on": c.issued_on,
                "revoked_on": known["revoked_on"] if known else None,
            }
        elif isinstance(change, Revoke):
            known = facts.certificates.get(change.certificate_id)
            if known is None:
                if change.person_key is None:
                    facts.unreadable += 1  # dead-lettered by the consumer as well
                    continue
                known = {
                    "person": change.person_key,
                    "rank": 0,
                    "town": None,
                    "issued_on": None,
                    "revoked_on": None,
                }
                facts.certificates[change.certificate_id] = known
            if known["revoked_on"] is None or change.revoked_on < known["revoked_on"]:
                known["revoked_on"] = change.revoked_on
        elif isinstance(change, Train):
            c2 = change.completion
            facts.completions.setdefault(c2.completion_id, vars(c2).copy())
        elif isinstance(change, Join):
            m = change.membership
            facts.memberships.setdefault(m.membership_id, vars(m).copy())
        elif isinstance(change, Reward):
            facts.rewards.setdefault(
                change.key, (change.amount_fen, change.effective_on, change.town)
            )


def recount(facts: LogFacts, policy: IndicatorPolicy, *, as_of: date) -> dict[str, Counter[str]]:
    """Every component in each area (towns, unassigned, district) as of a date, by brute force."""
    towns = set(policy.town_codes)
    domains = set(policy.domain_codes)
    year_start = date(as_of.year, 1, 1)

    def area(town: str | None) -> str:
        return town if town is not None and town in towns else UNASSIGNED

    counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    certificates_of: defaultdict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for certificate_id, c in facts.certificates.items():
        if c["issued_on"] is not None:
            certificates_of[c["person"]].append((certificate_id, c))

    def valid(c: dict[str, Any]) -> bool:
        return c["issued_on"] <= as_of and (c["revoked_on"] is None or c["revoked_on"] > as_of)

    for held in certificates_of.values():
        now_valid = [(cid, c) for cid, c in held if valid(c)]
        if not now_valid:
            continue
        _best_id, best = max(
            now_valid, key=lambda item: (item[1]["rank"], item[1]["issued_on"], item[0])
        )
        where = area(best["town"])
        counts[where][SKILLED] += 1
        if best["rank"] >= policy.high_skilled_rank:
            counts[where][HIGH_SKILLED] += 1

    trained_in_year: set[str] = set()
    by_person_domain: defaultdict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for c in facts.completions.values():
        if not year_start <= c["completed_on"] <= as_of:
            continue
        trained_in_year.add(c["person_key"])
        if c["domain"] in domains:
            counts[area(c["town"])][f"{PERSON_TIMES}.{c['domain']}"] += 1
            counts[area(c["town"])][PERSON_TIMES] += 1
            by_person_domain[(c["person_key"], c["domain"])].append(c)
        if c["key_group"] and c["domain"] != KEY_GROUPS_DOMAIN and KEY_GROUPS_DOMAIN in domains:
            counts[area(c["town"])][f"{PERSON_TIMES}.{KEY_GROUPS_DOMAIN}"] += 1

    for (person, domain), trainings in by_person_domain.items():
        held_valid = [c for _, c in certificates_of.get(person, []) if valid(c)]
        for training in sorted(trainings, key=lambda t: (t["completed_on"], t["completion_id"])):
            if any(training["completed_on"] <= c["issued_on"] for c in held_valid):
                counts[area(training["town"])][f"{CULTIVATED}.{domain}"] += 1
                break

    records_of: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in facts.memberships.values():
        if m["recorded_on"] <= as_of:
            records_of[m["person_key"]].append(m)
    for person, records in records_of.items():
        latest: dict[str, dict[str, Any]] = {}
        for m in sorted(records, key=lambda r: (r["recorded_on"], r["position"])):
            latest[m["group"]] = m
        willing = [m for m in latest.values() if m["willing"]]
        if not willing:
            continue
        where = area(max(willing, key=lambda r: (r["recorded_on"], r["position"]))["town"])
        counts[where][KEY_GROUP_WILLING] += 1
        if person in trained_in_year:
            counts[where][KEY_GROUP_TRAINED] += 1

    for amount, effective_on, town in facts.rewards.values():
        if year_start <= effective_on <= as_of:
            counts[area(town)][REWARDS_FEN] += amount

    district: Counter[str] = Counter()
    for per_area in counts.values():
        district.update(per_area)
    counts[DISTRICT] = district
    return dict(counts)


def default_dates(today: date, *, first_year: int, monthly: bool) -> list[date]:
    """Year ends from the first year (today for the current year), or every month end."""
    dates = []
    for year in range(first_year, today.year + 1):
        if monthly:
            for month in range(1, 13):
                end = date(year, month, calendar.monthrange(year, month)[1])
                dates.append(min(end, today))
                if end >= today:
                    break
        else:
            dates.append(min(date(year, 12, 31), today))
    return sorted(set(dates))


@dataclass
class ReconcileReport:
    """What was compared and every difference found."""

    position: int
    log_head: int
    events: int
    unreadable: int
    dead_letters: int
    dates: list[date]
    comparisons: int
    differences: list[str]


async def _rollup_snapshot(
    session: AsyncSession, *, areas: list[str], dates: list[date]
) -> tuple[int, int, dict[date, dict[str, store.Sums]]]:
    if session.get_bind().dialect.name == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    position = await store.checkpoint_position(session, consumer=CONSUMER_NAME)
    dead = await store.dead_letter_count(session, consumer=CONSUMER_NAME)
    values = {day: await store.sums(session, towns=areas, as_of=day) for day in dates}
    return position, dead, values


async def reconcile(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    log: EventLog,
    policy: IndicatorPolicy,
    dates: list[date],
) -> ReconcileReport:
    """Compare the rollups with a recount of the log up to their checkpoint, on each date."""
    areas = [DISTRICT, *policy.town_codes, UNASSIGNED]
    async with sessionmaker() as session:
        position, dead, rollups = await _rollup_snapshot(session, areas=areas, dates=dates)
        await session.rollback()
    facts = LogFacts()
    after = 0
    while after < position:
        page = [e for e in await log.read(after=after, limit=PAGE) if e.position <= position]
        if not page:
            break
        collect(page, policy, facts)
        after = page[-1].position
    differences: list[str] = []
    comparisons = 0
    for day in dates:
        expected = recount(facts, policy, as_of=day)
        for where in areas:
            want = expected.get(where, Counter())
            got = rollups[day][where]
            codes = set(want) | set(got.stock)
            for code in sorted(codes):
                comparisons += 1
                have = got.stock.get(code, 0) if is_stock(code) else got.flow.get(code, 0)
                if have != want.get(code, 0):
                    differences.append(
                        f"as_of={day.isoformat()} town={where} {code}: "
                        f"rollups {have}, recount {want.get(code, 0)}"
                    )
    return ReconcileReport(
        position=position,
        log_head=await log.head(),
        events=facts.events,
        unreadable=facts.unreadable,
        dead_letters=dead,
        dates=dates,
        comparisons=comparisons,
        differences=differences,
    )
