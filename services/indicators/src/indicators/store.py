"""The rollup store: per-person facts and dated delta counters (SQL Core, never commits).

On PostgreSQL the batch paths use one array parameter per lookup and COPY for bulk writes (the
asyncpg connection under the session, inside its transaction); elsewhere chunked IN lists and
executemany.
"""

from __future__ import annotations

import operator
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Column,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import key_array
from indicators.models import (
    THROUGH_COLUMNS,
    CertificateFact,
    CompletionFact,
    MembershipFact,
    RewardFact,
    checkpoints,
    dead_letters,
    indicator_counters,
)
from indicators.rules import DISTRICT
from indicators.timeline import Certificate, Completion, DeltaKey, Membership, Person

CERTIFICATES: Table = CertificateFact.__table__
COMPLETIONS: Table = CompletionFact.__table__
MEMBERSHIPS: Table = MembershipFact.__table__
REWARDS: Table = RewardFact.__table__
COUNTERS: Table = indicator_counters
CHUNK = 1000  # ids per IN (...) list

BucketKey = tuple[str, str, date, str]  # (town, grain, bucket, code)
# A counter's sums: the total, then through each day of the month (all zero in a year's row).
BucketSums = tuple[int, ...]
# (town, grain, bucket, code, total, through01, ..., through31): a row of `indicator_counters`
BucketRow = tuple[Any, ...]


def _postgres(session: AsyncSession) -> bool:
    """Whether the session talks to PostgreSQL (array parameters and COPY in bulk)."""
    return session.get_bind().dialect.name == "postgresql"


# One round trip each: the old `enable_seqscan` is read before it is set (left to right).
_PG_LOOKUPS = text(
    "SELECT current_setting('enable_seqscan'), set_config('enable_seqscan', 'off', true),"
    " set_config('plan_cache_mode', 'force_custom_plan', true)"
)
_PG_SCANS = text("SELECT set_config('enable_seqscan', :scans, true)")


@asynccontextmanager
async def key_lookups(session: AsyncSession) -> AsyncIterator[None]:
    """Plan the lookups inside with their keys and by index (PostgreSQL; a no-op elsewhere).

    A lookup binds thousands of keys as one array. Under a cached generic plan PostgreSQL cannot
    hash that array and compares every scanned row with every key (a rebuild of a 100,000-event
    log spent 16 s in its lookups instead of 1 s, measured); and while a table grows from empty
    its statistics lag, so the planner scans it whole instead of using the index. Both settings
    are local to the transaction; scans are allowed again afterwards, as the counters' upsert
    reads its stage by one.
    """
    if not _postgres(session):
        yield
        return
    scans = (await session.execute(_PG_LOOKUPS)).scalar_one()
    yield
    await session.execute(_PG_SCANS, {"scans": scans})


def _chunks(values: Collection[str]) -> Iterable[list[str]]:
    items = sorted(values)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


async def _select_where_in(
    session: AsyncSession, columns: Sequence[Any], match: Column[Any], values: Collection[str]
) -> list[Any]:
    """Rows whose `match` is one of the values: one array value on PostgreSQL (`key_array`: no
    compiled IN lists, one round trip), chunked IN lists elsewhere."""
    if not values:
        return []
    if _postgres(session):
        wanted = key_array("wanted", values)
        return list((await session.execute(select(*columns).where(match == any_(wanted)))).all())
    rows: list[Any] = []
    for chunk in _chunks(values):
        rows.extend((await session.execute(select(*columns).where(match.in_(chunk)))).all())
    return rows


async def owners(
    session: AsyncSession, table: Table, id_column: str, ids: Collection[str]
) -> dict[str, str]:
    """id -> person_key for the ids already stored in a fact table."""
    key = table.c[id_column]
    rows = await _select_where_in(session, [key, table.c.person_key], key, ids)
    return {row[0]: row[1] for row in rows}


async def load_persons(session: AsyncSession, person_keys: Collection[str]) -> dict[str, Person]:
    """Every stored fact of the given persons; a person with none is left out."""
    persons: dict[str, Person] = {}

    def person(key: str) -> Person:
        found = persons.get(key)
        if found is None:
            found = persons[key] = Person(person_key=key)
        return found

    for row in await _select_where_in(
        session, [CERTIFICATES], CERTIFICATES.c.person_key, person_keys
    ):
        person(row.person_key).certificates[row.certificate_id] = Certificate(
            certificate_id=row.certificate_id,
            person_key=row.person_key,
            level=row.level,
            level_rank=row.level_rank,
            town=row.town,
            occupation_code=row.occupation_code,
            issued_on=row.issued_on,
            revoked_on=row.revoked_on,
            flagged_on=row.flagged_on,
        )
    for row in await _select_where_in(
        session, [COMPLETIONS], COMPLETIONS.c.person_key, person_keys
    ):
        person(row.person_key).completions[row.completion_id] = Completion(
            completion_id=row.completion_id,
            person_key=row.person_key,
            domain=row.domain,
            town=row.town,
            completed_on=row.completed_on,
            key_group=row.key_group,
            result=row.result,
        )
    for row in await _select_where_in(
        session, [MEMBERSHIPS], MEMBERSHIPS.c.person_key, person_keys
    ):
        person(row.person_key).memberships[row.membership_id] = Membership(
            membership_id=row.membership_id,
            person_key=row.person_key,
            group=row.group,
            town=row.town,
            willing=row.willing,
            recorded_on=row.recorded_on,
            position=row.position,
        )
    return persons


async def known_reward_keys(session: AsyncSession, keys: Collection[str]) -> set[str]:
    """The reward fact keys already stored."""
    return {row[0] for row in await _select_where_in(session, [REWARDS.c.key], REWARDS.c.key, keys)}


def certificate_row(certificate: Certificate) -> dict[str, Any]:
    """A certificate as a row of `certificate_facts`."""
    return {
        "certificate_id": certificate.certificate_id,
        "person_key": certificate.person_key,
        "level": certificate.level,
        "level_rank": certificate.level_rank,
        "town": certificate.town,
        "occupation_code": certificate.occupation_code,
        "issued_on": certificate.issued_on,
        "revoked_on": certificate.revoked_on,
        "flagged_on": certificate.flagged_on,
    }


@dataclass
class FactWrites:
    """Rows to insert and certificate rows to update at the end of a batch."""

    certificates: list[dict[str, Any]] = field(default_factory=list)
    certificate_updates: list[dict[str, Any]] = field(default_factory=list)
    completions: list[dict[str, Any]] = field(default_factory=list)
    memberships: list[dict[str, Any]] = field(default_factory=list)
    rewards: list[dict[str, Any]] = field(default_factory=list)


async def _driver(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, inside the session's transaction (begun through
    SQLAlchemy if it has not been yet, so the unit of work still owns it)."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    if not driver.is_in_transaction():
        await connection.execute(select(1))
    return driver


async def _copy(session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows with one COPY (PostgreSQL): no per-row statement and no array parameters."""
    names = list(table.c.keys())
    values = itemgetter(*names)
    driver = await _driver(session)
    await driver.copy_records_to_table(
        table.name,
        schema_name=table.schema,
        columns=names,
        records=[values(row) for row in rows],
    )


async def write_facts(session: AsyncSession, writes: FactWrites) -> None:
    """Insert new facts and update changed certificates, in bulk (COPY on PostgreSQL,
    executemany elsewhere)."""
    postgres = _postgres(session)
    for table, rows in (
        (CERTIFICATES, writes.certificates),
        (COMPLETIONS, writes.completions),
        (MEMBERSHIPS, writes.memberships),
        (REWARDS, writes.rewards),
    ):
        if not rows:
            continue
        if postgres:
            await _copy(session, table, rows)
        else:
            await (await session.connection()).execute(table.insert(), rows)
    if writes.certificate_updates:  # rare: a revocation, flag or late issue of a stored one
        columns = [c for c in CERTIFICATES.c.keys() if c != "certificate_id"]
        statement = (
            CERTIFICATES.update()
            .where(CERTIFICATES.c.certificate_id == bindparam("key_certificate_id"))
            .values({c: bindparam(c) for c in columns})
        )
        rows = [
            {"key_certificate_id": r["certificate_id"], **{c: r[c] for c in columns}}
            for r in writes.certificate_updates
        ]
        await (await session.connection()).execute(statement, rows)


def _bucket_sums(deltas: Mapping[DeltaKey, int]) -> dict[BucketKey, list[int]]:
    """Each delta added to its month's total and running sums and to its year's total, for its
    town and the district: [total, through day 1, ..., through day 31] per counter."""
    months: dict[BucketKey, list[int]] = {}
    starts: dict[date, date] = {}  # day -> its month's first day, computed once
    for (code, town, day), value in deltas.items():
        if not value:
            continue
        month = starts.get(day)
        if month is None:
            month = starts[day] = day.replace(day=1)
        sums = months.get((town, "m", month, code))
        if sums is None:
            sums = months[(town, "m", month, code)] = [0] * 32
        sums[0] += value
        sums[day.day] += value
    # The district's months and every year, from the towns' months: far fewer than the deltas.
    out = dict(months)
    for (town, _, month, code), sums in months.items():
        district = out.get((DISTRICT, "m", month, code))
        if district is None:
            out[(DISTRICT, "m", month, code)] = sums.copy()
        else:
            district[:] = map(operator.add, district, sums)
        year = month.replace(month=1)
        for where in (town, DISTRICT):
            total = out.get((where, "y", year, code))
            if total is None:
                total = out[(where, "y", year, code)] = [0] * 32
            total[0] += sums[0]
    for (_, grain, _, _), sums in out.items():
        if grain == "m":  # each day's sum -> the sum through that day
            sums[1:] = accumulate(sums[1:])
    return out


def buckets(deltas: Mapping[DeltaKey, int]) -> dict[BucketKey, BucketSums]:
    """Each delta into its month (total and running sums) and year (total) counter, for its town
    and the district; counters left all zero are left out."""
    return {key: tuple(sums) for key, sums in _bucket_sums(deltas).items() if any(sums)}


def bucket_rows(deltas: Mapping[DeltaKey, int]) -> list[BucketRow]:
    """The counters of `buckets` as rows of `indicator_counters`, in no particular order."""
    return [(*key, *sums) for key, sums in _bucket_sums(deltas).items() if any(sums)]


# Bucket rows are staged by COPY in a temporary table of the connection, then added to the
# counters by one upsert, and the stage is emptied in the same round trip, so two calls in one
# transaction never add a row twice. The rows go in the stage's order, not sorted by key: the
# consumer's transaction locks its checkpoint row first, so it is the counters' only writer (two
# writers could deadlock on each other's rows). Sorting cost ~10 % of a rebuild (measured).
_SUMMED = ("total", *THROUGH_COLUMNS)
_PG_STAGE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS indicator_counter_rows"
    " (LIKE indicator_counters) ON COMMIT DELETE ROWS"
)
_ADD_SUMS = ", ".join(f"{name} = indicator_counters.{name} + excluded.{name}" for name in _SUMMED)
_PG_ADD_STAGED = (  # the names in it are this module's constants, not input
    "INSERT INTO indicator_counters SELECT * FROM indicator_counter_rows"  # noqa: S608
    f" ON CONFLICT (town, grain, bucket, code) DO UPDATE SET {_ADD_SUMS};"
    " DELETE FROM indicator_counter_rows"
)


async def add_to_buckets(session: AsyncSession, rows: Sequence[BucketRow]) -> int:
    """Add rows of `bucket_rows` to the counters (one upsert; the caller is their only writer);
    returns how many."""
    if rows and _postgres(session):
        await _add_staged(session, rows)
    elif rows:
        insert = sqlite.insert(COUNTERS)
        statement = insert.on_conflict_do_update(
            index_elements=[COUNTERS.c.town, COUNTERS.c.grain, COUNTERS.c.bucket, COUNTERS.c.code],
            set_={name: COUNTERS.c[name] + insert.excluded[name] for name in _SUMMED},
        )
        names = list(COUNTERS.c.keys())
        await (await session.connection()).execute(
            statement, [dict(zip(names, row, strict=True)) for row in sorted(rows)]
        )
    return len(rows)


async def _add_staged(session: AsyncSession, rows: Sequence[BucketRow]) -> None:
    driver = await _driver(session)
    await driver.execute(_PG_STAGE)
    await driver.copy_records_to_table(
        "indicator_counter_rows", columns=list(COUNTERS.c.keys()), records=rows
    )
    await driver.execute(_PG_ADD_STAGED)


@dataclass
class Sums:
    """Component sums of one town as of a date: stocks (all days) and flows (the year)."""

    stock: dict[str, int] = field(default_factory=dict)
    flow: dict[str, int] = field(default_factory=dict)


async def sums(session: AsyncSession, *, towns: Sequence[str], as_of: date) -> dict[str, Sums]:
    """Sums per town as of a date.

    Reads, per component, one row per earlier year, the months of D's year before D's month,
    and D's month through D's day (one column; its total when D ends the month): at most
    years + 12 rows.
    """
    year_start = date(as_of.year, 1, 1)
    month_start = as_of.replace(day=1)
    c = COUNTERS.c
    where_town = c.town == towns[0] if len(towns) == 1 else c.town.in_(towns)

    def part(label: str, value: Any, *conditions: Any) -> Any:
        return (
            select(
                c.town,
                c.code,
                literal_column(f"'{label}'").label("part"),
                func.sum(value).label("total"),
            )
            .where(where_town, *conditions)
            .group_by(c.town, c.code)
        )

    years = part("years", c.total, c.grain == "y", c.bucket < year_start)
    if (as_of + timedelta(days=1)).day == 1:  # D ends its month: its total, one range fewer
        query = union_all(
            years,
            part("months", c.total, c.grain == "m", c.bucket >= year_start, c.bucket <= as_of),
        )
    else:
        query = union_all(
            years,
            part("months", c.total, c.grain == "m", c.bucket >= year_start, c.bucket < month_start),
            part(
                "days", c[THROUGH_COLUMNS[as_of.day - 1]], c.grain == "m", c.bucket == month_start
            ),
        )
    out = {town: Sums() for town in towns}
    for town, code, label, total in (await session.execute(query)).all():
        entry = out[town]
        entry.stock[code] = entry.stock.get(code, 0) + int(total)
        if label != "years":
            entry.flow[code] = entry.flow.get(code, 0) + int(total)
    return out


def _period_conditions(
    *, town: str, codes: Collection[str], grain: str, start: date | None, end: date | None
) -> list[Any]:
    c = COUNTERS.c
    conditions = [c.town == town, c.grain == grain, c.code.in_(codes)]
    if start is not None:
        conditions.append(c.bucket >= start)
    if end is not None:
        conditions.append(c.bucket <= end)
    return conditions


async def bucket_totals(
    session: AsyncSession,
    *,
    town: str,
    codes: Collection[str],
    grain: str,
    start: date | None = None,
    end: date | None = None,
) -> list[tuple[str, date, int]]:
    """(code, bucket, total) of the year (`y`) or month (`m`) counters, for the trend."""
    conditions = _period_conditions(town=town, codes=codes, grain=grain, start=start, end=end)
    result = await session.execute(
        select(COUNTERS.c.code, COUNTERS.c.bucket, COUNTERS.c.total).where(and_(*conditions))
    )
    return [(code, bucket, int(total)) for code, bucket, total in result.all()]


async def month_through(
    session: AsyncSession, *, town: str, codes: Collection[str], start: date, end: date
) -> list[tuple[str, date, BucketSums]]:
    """(code, month, sums through each of its days) of the months from start's to end's, for the
    trend's points that do not end a month."""
    conditions = _period_conditions(
        town=town, codes=codes, grain="m", start=start.replace(day=1), end=end
    )
    columns = [COUNTERS.c[name] for name in THROUGH_COLUMNS]
    result = await session.execute(
        select(COUNTERS.c.code, COUNTERS.c.bucket, *columns).where(and_(*conditions))
    )
    return [(code, month, tuple(int(v) for v in through)) for code, month, *through in result.all()]


async def checkpoint_position(session: AsyncSession, *, consumer: str) -> int:
    """The last log position the rollups applied (0 before the first)."""
    position = (
        await session.execute(
            select(checkpoints.c.position).where(checkpoints.c.consumer == consumer)
        )
    ).scalar_one_or_none()
    return int(position or 0)


async def dead_letter_count(session: AsyncSession, *, consumer: str) -> int:
    """Events the rollups could not apply."""
    return int(
        (
            await session.execute(
                select(func.count())
                .select_from(dead_letters)
                .where(dead_letters.c.consumer == consumer)
            )
        ).scalar_one()
    )


async def reset(session: AsyncSession, *, consumer: str) -> None:
    """Empty every fact and counter and the checkpoint, so the log can be replayed from 0."""
    for table in (CERTIFICATES, COMPLETIONS, MEMBERSHIPS, REWARDS, COUNTERS):
        await session.execute(delete(table))
    await session.execute(delete(dead_letters).where(dead_letters.c.consumer == consumer))
    await session.execute(delete(checkpoints).where(checkpoints.c.consumer == consumer))
