"""The rollup store: per-person facts and dated delta counters (SQL Core, never commits)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, func, literal_column, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from indicators.models import (
    CertificateFact,
    CompletionFact,
    IndicatorDelta,
    MembershipFact,
    RewardFact,
    checkpoints,
    dead_letters,
)
from indicators.rules import DISTRICT
from indicators.timeline import Certificate, Completion, DeltaKey, Membership, Person

CERTIFICATES: Table = CertificateFact.__table__
COMPLETIONS: Table = CompletionFact.__table__
MEMBERSHIPS: Table = MembershipFact.__table__
REWARDS: Table = RewardFact.__table__
DELTAS: Table = IndicatorDelta.__table__
CHUNK = 1000  # ids per IN (...) list

BucketKey = tuple[str, str, date, str]  # (town, grain, bucket, code)


def _chunks(values: Collection[str]) -> Iterable[list[str]]:
    items = sorted(values)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


async def _select_in(
    session: AsyncSession, table: Table, column: str, values: Collection[str]
) -> list[Any]:
    rows: list[Any] = []
    for chunk in _chunks(values):
        result = await session.execute(select(table).where(table.c[column].in_(chunk)))
        rows.extend(result.all())
    return rows


async def owners(
    session: AsyncSession, table: Table, id_column: str, ids: Collection[str]
) -> dict[str, str]:
    """id -> person_key for the ids already stored in a fact table."""
    found: dict[str, str] = {}
    for chunk in _chunks(ids):
        result = await session.execute(
            select(table.c[id_column], table.c.person_key).where(table.c[id_column].in_(chunk))
        )
        found.update({row[0]: row[1] for row in result.all()})
    return found


async def load_persons(session: AsyncSession, person_keys: Collection[str]) -> dict[str, Person]:
    """Every fact of the given persons."""
    persons = {key: Person(person_key=key) for key in person_keys}
    for row in await _select_in(session, CERTIFICATES, "person_key", person_keys):
        persons[row.person_key].certificates[row.certificate_id] = Certificate(
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
    for row in await _select_in(session, COMPLETIONS, "person_key", person_keys):
        persons[row.person_key].completions[row.completion_id] = Completion(
            completion_id=row.completion_id,
            person_key=row.person_key,
            domain=row.domain,
            town=row.town,
            completed_on=row.completed_on,
            key_group=row.key_group,
            result=row.result,
        )
    for row in await _select_in(session, MEMBERSHIPS, "person_key", person_keys):
        persons[row.person_key].memberships[row.membership_id] = Membership(
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
    found: set[str] = set()
    for chunk in _chunks(keys):
        result = await session.execute(select(REWARDS.c.key).where(REWARDS.c.key.in_(chunk)))
        found.update(result.scalars())
    return found


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


async def write_facts(session: AsyncSession, writes: FactWrites) -> None:
    """Insert new facts and update changed certificates, in bulk."""
    connection = await session.connection()
    for table, rows in (
        (CERTIFICATES, writes.certificates),
        (COMPLETIONS, writes.completions),
        (MEMBERSHIPS, writes.memberships),
        (REWARDS, writes.rewards),
    ):
        if rows:
            await connection.execute(table.insert(), rows)
    if writes.certificate_updates:
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
        await connection.execute(statement, rows)


def week_start(day: date) -> date:
    """First day of the day's seven-day block of its month: the 1st, 8th, 15th, 22nd or 29th."""
    return day.replace(day=(day.day - 1) // 7 * 7 + 1)


def buckets(deltas: Mapping[DeltaKey, int]) -> dict[BucketKey, int]:
    """Each delta into its day, week-of-month, month and year bucket, for its town and the
    district."""
    out: defaultdict[BucketKey, int] = defaultdict(int)
    for (code, town, day), value in deltas.items():
        if not value:
            continue
        week = week_start(day)
        month = day.replace(day=1)
        year = month.replace(month=1)
        for where in (town, DISTRICT):
            out[(where, "d", day, code)] += value
            out[(where, "w", week, code)] += value
            out[(where, "m", month, code)] += value
            out[(where, "y", year, code)] += value
    return {key: value for key, value in out.items() if value}


async def add_deltas(session: AsyncSession, deltas: Mapping[DeltaKey, int]) -> int:
    """Add deltas to the counters (upsert); returns the number of bucket rows touched."""
    rows = [
        {"town": town, "grain": grain, "bucket": bucket, "code": code, "delta": value}
        for (town, grain, bucket, code), value in sorted(buckets(deltas).items())
    ]
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert(DELTAS) if dialect == "postgresql" else sqlite.insert(DELTAS)
    statement = insert.on_conflict_do_update(
        index_elements=[DELTAS.c.town, DELTAS.c.grain, DELTAS.c.bucket, DELTAS.c.code],
        set_={"delta": DELTAS.c.delta + insert.excluded.delta},
    )
    await (await session.connection()).execute(statement, rows)
    return len(rows)


@dataclass
class Sums:
    """Component sums of one town as of a date: stocks (all days) and flows (the year)."""

    stock: dict[str, int] = field(default_factory=dict)
    flow: dict[str, int] = field(default_factory=dict)


async def sums(session: AsyncSession, *, towns: Sequence[str], as_of: date) -> dict[str, Sums]:
    """Sums per town as of a date.

    Reads, per component, at most: one row per earlier year, the months of the year before
    D's month (D's month too when D is its last day), the seven-day blocks of D's month before
    D's block, and the days of D's block up to D — at most years + 11 + 4 + 7 rows.
    """
    year_start = date(as_of.year, 1, 1)
    month_start = as_of.replace(day=1)
    block_start = week_start(as_of)
    month_end = (as_of + timedelta(days=1)).day == 1
    where_town = DELTAS.c.town == towns[0] if len(towns) == 1 else DELTAS.c.town.in_(towns)

    def part(grain: str, *conditions: Any) -> Any:
        return (
            select(
                DELTAS.c.town,
                DELTAS.c.code,
                literal_column(f"'{grain}'").label("grain"),
                func.sum(DELTAS.c.delta).label("total"),
            )
            .where(where_town, DELTAS.c.grain == grain, *conditions)
            .group_by(DELTAS.c.town, DELTAS.c.code)
        )

    bucket = DELTAS.c.bucket
    if month_end:
        query = union_all(
            part("y", bucket < year_start),
            part("m", bucket >= year_start, bucket <= month_start),
        )
    else:
        query = union_all(
            part("y", bucket < year_start),
            part("m", bucket >= year_start, bucket < month_start),
            part("w", bucket >= month_start, bucket < block_start),
            part("d", bucket >= block_start, bucket <= as_of),
        )
    out = {town: Sums() for town in towns}
    for town, code, grain, total in (await session.execute(query)).all():
        entry = out[town]
        entry.stock[code] = entry.stock.get(code, 0) + int(total)
        if grain != "y":
            entry.flow[code] = entry.flow.get(code, 0) + int(total)
    return out


async def bucket_totals(
    session: AsyncSession,
    *,
    town: str,
    codes: Collection[str],
    grain: str,
    start: date | None = None,
    end: date | None = None,
) -> list[tuple[str, date, int]]:
    """(code, bucket, sum) rows of one grain, for the trend."""
    conditions = [DELTAS.c.town == town, DELTAS.c.grain == grain, DELTAS.c.code.in_(codes)]
    if start is not None:
        conditions.append(DELTAS.c.bucket >= start)
    if end is not None:
        conditions.append(DELTAS.c.bucket <= end)
    result = await session.execute(
        select(DELTAS.c.code, DELTAS.c.bucket, DELTAS.c.delta).where(and_(*conditions))
    )
    return [(code, bucket, int(delta)) for code, bucket, delta in result.all()]


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
    for table in (CERTIFICATES, COMPLETIONS, MEMBERSHIPS, REWARDS, DELTAS):
        await session.execute(delete(table))
    await session.execute(delete(dead_letters).where(dead_letters.c.consumer == consumer))
    await session.execute(delete(checkpoints).where(checkpoints.c.consumer == consumer))
