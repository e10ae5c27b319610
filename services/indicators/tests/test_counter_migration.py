"""Revision 0005 carries the day/week/month/year counters over to month and year rows, and back.

The old rows are built here the way the consumer built them before 0005 (every delta in its day,
seven-day block, month and year, for its town and the district); after the upgrade the counters
equal `store.buckets` of the same deltas and every as-of read equals a direct sum of the deltas.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import sqlalchemy as sa

from common.db import make_engine, make_sessionmaker
from common.migrations import downgrade, upgrade
from common.testing.databases import DatabaseFactory
from indicators import store
from indicators.db import MIGRATIONS
from indicators.rules import DISTRICT, HIGH_SKILLED, SKILLED
from indicators.timeline import DeltaKey

OLD = sa.table(
    "indicator_deltas",
    sa.column("town"),
    sa.column("grain"),
    sa.column("bucket", sa.Date()),
    sa.column("code"),
    sa.column("delta"),
)


def deltas() -> dict[DeltaKey, int]:
    """Deltas over three years, two towns and two codes, some negative, some cancelling out."""
    out: defaultdict[DeltaKey, int] = defaultdict(int)
    for n in range(900):
        day = date(2024, 1, 1) + timedelta(days=(n * 37) % 1000)
        out[((SKILLED, HIGH_SKILLED)[n % 2], ("maao", "jintang")[n % 3 % 2], day)] += (
            1 if n % 7 else -3
        )
    return dict(out)


def old_rows(changes: dict[DeltaKey, int]) -> dict[tuple[str, str, date, str], int]:
    """The counters as revisions 0002–0004 kept them."""
    out: defaultdict[tuple[str, str, date, str], int] = defaultdict(int)
    for (code, town, day), value in changes.items():
        for where in (town, DISTRICT):
            out[(where, "d", day, code)] += value
            out[(where, "w", day.replace(day=(day.day - 1) // 7 * 7 + 1), code)] += value
            out[(where, "m", day.replace(day=1), code)] += value
            out[(where, "y", date(day.year, 1, 1), code)] += value
    return {key: value for key, value in out.items() if value}


def expected(changes: dict[DeltaKey, int], *, town: str, as_of: date) -> store.Sums:
    """The stock (all days up to the date) and flow (its year up to it) of each code."""
    sums = store.Sums()
    for (code, where, day), value in changes.items():
        if (where != town and town != DISTRICT) or day > as_of:
            continue
        sums.stock[code] = sums.stock.get(code, 0) + value
        if day.year == as_of.year:
            sums.flow[code] = sums.flow.get(code, 0) + value
    return sums


async def test_counters_carried_over_and_back(databases: DatabaseFactory) -> None:
    url = await databases.empty()
    await upgrade(url, MIGRATIONS, "0004")
    changes = deltas()
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                OLD.insert(),
                [
                    {"town": t, "grain": g, "bucket": b, "code": c, "delta": v}
                    for (t, g, b, c), v in old_rows(changes).items()
                ],
            )
        await upgrade(url, MIGRATIONS)
        async with make_sessionmaker(engine)() as session:
            rows = await session.execute(sa.select(store.COUNTERS))
            assert {tuple(r[:4]): tuple(r[4:]) for r in rows} == store.buckets(changes)
            for as_of in (
                date(2024, 2, 29),
                date(2025, 6, 14),
                date(2025, 12, 31),
                date(2026, 9, 26),
            ):
                towns = ["maao", "jintang", DISTRICT]
                found = await store.sums(session, towns=towns, as_of=as_of)
                for town in towns:
                    want = expected(changes, town=town, as_of=as_of)
                    assert {c: v for c, v in found[town].stock.items() if v} == {
                        c: v for c, v in want.stock.items() if v
                    }, (town, as_of)
                    assert {c: v for c, v in found[town].flow.items() if v} == {
                        c: v for c, v in want.flow.items() if v
                    }, (town, as_of)
        await engine.dispose()
        await downgrade(url, MIGRATIONS, "0004")
        async with engine.connect() as conn:
            rows = await conn.execute(sa.select(OLD))
            assert {(r.town, r.grain, r.bucket, r.code): r.delta for r in rows} == old_rows(changes)
    finally:
        await engine.dispose()
