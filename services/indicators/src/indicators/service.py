"""Indicator values, breakdowns, rankings and trends from the rollups; baselines. Never commits.

Every read goes to the delta counters (`indicators.store.sums`), never to the facts, so its cost
depends on the calendar (years, months, days of the month) and the number of towns, not on the
number of certificates or events.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from common.eventlog.backend import EventLog
from common.eventlog.consumer import LAG
from indicators import store
from indicators.exceptions import BaselineVersionMismatch
from indicators.models import BaselineChange, EmployedBaseline
from indicators.rules import (
    BASELINE,
    DISTRICT,
    PERSON_TIMES,
    UNASSIGNED,
    UNIT_ZH,
    IndicatorDefinition,
    IndicatorPolicy,
    Measure,
    fen_to_yuan,
    is_stock,
    measure_of,
    meets,
    progress_percent,
    share_percent,
    year_end,
)
from indicators.schemas import BreakdownRow, IndicatorValue, TrendPoint


@dataclass(frozen=True)
class Computed:
    """A value with its parts (for shares) and, for money, the amount in fen."""

    value: int | float | None
    numerator: int | None = None
    denominator: int | None = None
    value_fen: int | None = None


def compute(measure: Measure, sums: store.Sums, *, baseline: int | None) -> Computed:
    """An indicator's value from the component sums of one town."""

    def component(code: str) -> int:
        return (sums.stock if is_stock(code) else sums.flow).get(code, 0)

    if measure.kind == "awaited" or measure.component is None:
        return Computed(0)
    part = component(measure.component)
    if measure.kind == "money":
        return Computed(fen_to_yuan(part), value_fen=part)
    if measure.kind == "share":
        denominator = measure.denominator or ""
        whole = baseline if denominator == BASELINE else component(denominator)
        return Computed(share_percent(part, whole), numerator=part, denominator=whole)
    return Computed(part)


def target_of(definition: IndicatorDefinition, year: int, town: str | None) -> int | float | None:
    """The district target of the year (towns have none)."""
    return definition.targets.get(str(year)) if town is None else None


def indicator_value(
    definition: IndicatorDefinition,
    computed: Computed,
    *,
    year: int,
    town: str | None,
) -> IndicatorValue:
    """One indicator of the report."""
    measure = measure_of(definition.code)
    target = target_of(definition, year, town)
    return IndicatorValue(
        code=definition.code,
        name_zh=definition.name_zh,
        unit=definition.unit,
        unit_zh=UNIT_ZH.get(definition.unit, definition.unit),
        value=computed.value,
        target=target,
        progress_percent=progress_percent(computed.value, target),
        on_track=meets(computed.value, target, definition.comparison),
        comparison=definition.comparison,
        targets=dict(definition.targets),
        kind="stock" if measure.component and is_stock(measure.component) else "flow",
        measure=measure.kind,
        source_available=measure.kind != "awaited",
        numerator=computed.numerator,
        denominator=computed.denominator,
        value_fen=computed.value_fen,
    )


async def read_sums(
    session: AsyncSession, *, towns: list[str], year: int, as_of: date
) -> dict[str, store.Sums]:
    """Component sums per town; flows are empty when the year has not begun on `as_of`."""
    out = await store.sums(session, towns=towns, as_of=as_of)
    if as_of.year < year:
        for sums in out.values():
            sums.flow = {}
    return out


async def baseline_of(session: AsyncSession, year: int) -> int | None:
    """Employed persons entered for the year."""
    row = await session.get(EmployedBaseline, year)
    return row.persons if row else None


async def indicator_values(
    session: AsyncSession, *, policy: IndicatorPolicy, year: int, as_of: date, town: str | None
) -> list[IndicatorValue]:
    """Every indicator of the policy, zero until its source events exist."""
    where = town or DISTRICT
    sums = (await read_sums(session, towns=[where], year=year, as_of=as_of))[where]
    baseline = await baseline_of(session, year) if town is None else None
    return [
        indicator_value(
            definition,
            compute(measure_of(definition.code), sums, baseline=baseline),
            year=year,
            town=town,
        )
        for definition in policy.all_definitions()
    ]


async def town_values(
    session: AsyncSession, *, policy: IndicatorPolicy, year: int, as_of: date
) -> list[tuple[str, list[IndicatorValue]]]:
    """Every indicator in each of the 13 towns (one read for all towns), in policy order."""
    all_sums = await read_sums(session, towns=list(policy.town_codes), year=year, as_of=as_of)
    definitions = policy.all_definitions()
    return [
        (
            town,
            [
                indicator_value(
                    d,
                    compute(measure_of(d.code), all_sums[town], baseline=None),
                    year=year,
                    town=town,
                )
                for d in definitions
            ],
        )
        for town in policy.town_codes
    ]


def rank(rows: list[BreakdownRow]) -> list[BreakdownRow]:
    """Sort by value (highest first, no value last) and number them 1, 2, 2, 4 …"""
    ordered = sorted(rows, key=lambda r: (r.value is None, -(r.value or 0), r.key))
    previous: int | float | None = None
    current = 0
    for index, row in enumerate(ordered, start=1):
        if row.value is None:
            row.rank = None
            continue
        if row.value != previous:
            current, previous = index, row.value
        row.rank = current
    return ordered


async def town_breakdown(
    session: AsyncSession, *, policy: IndicatorPolicy, code: str, year: int, as_of: date
) -> tuple[list[BreakdownRow], int | float | None]:
    """The indicator in each of the 13 towns, ranked, and in the unassigned bucket."""
    definition = policy.definition(code)
    assert definition is not None
    measure = measure_of(code)
    towns = [*policy.town_codes, UNASSIGNED]
    all_sums = await read_sums(session, towns=towns, year=year, as_of=as_of)
    rows = []
    for town in policy.town_codes:
        computed = compute(measure, all_sums[town], baseline=None)
        rows.append(
            BreakdownRow(
                key=town,
                name_zh=policy.town_name(town),
                value=computed.value,
                numerator=computed.numerator,
                denominator=computed.denominator,
            )
        )
    unassigned = compute(measure, all_sums[UNASSIGNED], baseline=None).value
    return rank(rows), unassigned


async def domain_breakdown(
    session: AsyncSession,
    *,
    policy: IndicatorPolicy,
    family: str,
    year: int,
    as_of: date,
    town: str | None,
) -> list[BreakdownRow]:
    """A per-domain family (person-times, talents cultivated) by training domain, ranked."""
    where = town or DISTRICT
    sums = (await read_sums(session, towns=[where], year=year, as_of=as_of))[where]
    rows = []
    for domain in policy.domains:
        definition = policy.definition(f"{family}.{domain.code}")
        assert definition is not None
        computed = compute(measure_of(definition.code), sums, baseline=None)
        target = target_of(definition, year, town)
        rows.append(
            BreakdownRow(
                key=domain.code,
                name_zh=domain.name_zh,
                value=computed.value,
                target=target,
                progress_percent=progress_percent(computed.value, target),
                on_track=meets(computed.value, target, definition.comparison),
            )
        )
    return rank(rows)


async def person_times_total(
    session: AsyncSession, *, year: int, as_of: date, town: str | None
) -> int:
    """Completions in every known domain, each once (the domain rows overlap at key_groups)."""
    where = town or DISTRICT
    sums = (await read_sums(session, towns=[where], year=year, as_of=as_of))[where]
    return sums.flow.get(PERSON_TIMES, 0)


def month_ends(start: date, end: date) -> list[date]:
    """The last day of every month from start to end; the last point is `end` itself."""
    points = []
    year, month = start.year, start.month
    while True:
        last = date(year, month, calendar.monthrange(year, month)[1])
        if last >= end:
            points.append(end)
            return points
        points.append(last)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


async def trend(
    session: AsyncSession,
    *,
    policy: IndicatorPolicy,
    code: str,
    start: date,
    end: date,
    interval: str,
    town: str | None,
) -> list[TrendPoint]:
    """The indicator at each month end (or each day) from start to end.

    Each point is the value as of that date for that date's year: stocks as of the date, flows
    from 1 January of its year. Built from month and year counters (plus the running day sums of
    the months whose point is not a month end), not from one query per point.
    """
    measure = measure_of(code)
    where = town or DISTRICT
    points = month_ends(start, end) if interval == "month" else _days(start, end)
    codes = measure.components
    years: dict[tuple[str, int], int] = {}
    months: dict[tuple[str, int, int], int] = {}
    through: dict[tuple[str, date], store.BucketSums] = {}  # (code, month) -> through each day
    if codes:
        for c, bucket, value in await store.bucket_totals(
            session, town=where, codes=codes, grain="y", end=end
        ):
            years[(c, bucket.year)] = value
        for c, bucket, value in await store.bucket_totals(
            session, town=where, codes=codes, grain="m", start=date(start.year, 1, 1), end=end
        ):
            months[(c, bucket.year, bucket.month)] = value
        partial = [p for p in points if not _is_month_end(p)]
        if partial:
            for c, month, sums in await store.month_through(
                session, town=where, codes=codes, start=min(partial), end=max(partial)
            ):
                through[(c, month)] = sums
    baselines: dict[int, int | None] = {}
    out = []
    for point in points:
        sums = store.Sums()
        for c in codes:
            flow = sum(months.get((c, point.year, m), 0) for m in range(1, point.month))
            if _is_month_end(point):
                flow += months.get((c, point.year, point.month), 0)
            else:
                month = through.get((c, point.replace(day=1)))
                flow += month[point.day - 1] if month else 0
            before = sum(v for (cc, y), v in years.items() if cc == c and y < point.year)
            sums.flow[c] = flow
            sums.stock[c] = before + flow
        baseline = None
        if measure.denominator == BASELINE and town is None:
            if point.year not in baselines:
                baselines[point.year] = await baseline_of(session, point.year)
            baseline = baselines[point.year]
        computed = compute(measure, sums, baseline=baseline)
        out.append(TrendPoint(date=point, year=point.year, value=computed.value))
    return out


def _is_month_end(day: date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def _days(start: date, end: date) -> list[date]:
    return [date.fromordinal(o) for o in range(start.toordinal(), end.toordinal() + 1)]


@dataclass(frozen=True)
class LagInfo:
    """How far the rollups are behind the log."""

    events: int
    log_head: int
    applied_position: int
    seconds: float


async def lag(session: AsyncSession, *, log: EventLog, consumer: str) -> LagInfo:
    """Events (and seconds since the oldest) the rollups have not applied; updates the gauge."""
    position = await store.checkpoint_position(session, consumer=consumer)
    head = await log.head()
    behind = max(0, head - position)
    seconds = 0.0
    if behind:
        oldest = await log.time_after(position)
        if oldest is not None:
            seconds = max(0.0, (datetime.now(UTC) - oldest).total_seconds())
    LAG.labels(consumer).set(behind)
    return LagInfo(events=behind, log_head=head, applied_position=position, seconds=seconds)


async def reset_rollups(session: AsyncSession, *, consumer: str) -> None:
    """Empty every reader model and the checkpoint, so the log can be replayed from the start."""
    await store.reset(session, consumer=consumer)


async def set_baseline(
    session: AsyncSession,
    *,
    year: int,
    persons: int,
    changed_by: str,
    request_id: str | None,
    expected_version: int | None,
) -> EmployedBaseline:
    """Enter the employed-persons baseline of a year, with an audit row; checks If-Match."""
    row = await session.get(EmployedBaseline, year, with_for_update=True)
    current = row.version if row else 0
    if expected_version is not None and expected_version != current:
        raise BaselineVersionMismatch(
            "The baseline was changed by someone else; reload it", current_version=current
        )
    now = datetime.now(UTC)
    previous = row.persons if row else None
    if row is None:
        row = EmployedBaseline(year=year, persons=persons, version=1)
        session.add(row)
    else:
        row.persons = persons
        row.version = current + 1
    row.updated_by = changed_by
    row.updated_at = now
    session.add(
        BaselineChange(
            year=year,
            persons=persons,
            previous=previous,
            changed_by=changed_by,
            changed_at=now,
            request_id=request_id,
        )
    )
    await session.flush()
    return row


async def baselines(session: AsyncSession) -> Sequence[EmployedBaseline]:
    """Every year's baseline."""
    return (
        (await session.execute(select(EmployedBaseline).order_by(EmployedBaseline.year)))
        .scalars()
        .all()
    )


async def baseline_changes(session: AsyncSession, year: int) -> Sequence[BaselineChange]:
    """The audit trail of one year's baseline, oldest first."""
    return (
        (
            await session.execute(
                select(BaselineChange)
                .where(BaselineChange.year == year)
                .order_by(BaselineChange.id)
            )
        )
        .scalars()
        .all()
    )


def resolve_year(year: int, today: date) -> date:
    """The as-of date of `year=Y`: 31 December, or today for the current year."""
    return min(year_end(year), today)
