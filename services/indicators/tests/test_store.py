"""The rollup store's bulk paths give the same results on both backends.

On PostgreSQL facts go by COPY, counters by a COPY into a temporary stage and one upsert, and
lookups by one array parameter; on SQLite by executemany and chunked IN lists. Run with
`DINGHAI_TEST_POSTGRES_URL` set to cover the PostgreSQL paths.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import date, timedelta
from itertools import product

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import make_engine, make_sessionmaker, unit_of_work
from common.testing.databases import DatabaseFactory
from indicators import store
from indicators.db import MIGRATIONS
from indicators.rules import HIGH_SKILLED, SKILLED
from indicators.timeline import (
    Certificate,
    Completion,
    DeltaKey,
    Membership,
    TimelineRules,
    _one_talent,
    _talents_walk,
)

MANY = 2 * store.CHUNK + 500  # more keys than one IN list holds on SQLite


@pytest.fixture
async def sessions(databases: DatabaseFactory) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(await databases.create(MIGRATIONS))
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


def deltas(seed: int) -> dict[DeltaKey, int]:
    """Deltas over 40 days of two years, three towns and two codes, some negative."""
    out: dict[DeltaKey, int] = {}
    for n in range(400):
        day = date(2025, 12, 1) + timedelta(days=(n * 7 + seed) % 40)
        key = ((SKILLED, HIGH_SKILLED)[n % 2], ("jintang", "maao", "-")[n % 3], day)
        out[key] = out.get(key, 0) + (1 if (n + seed) % 5 else -2)
    return out


async def counters(session: AsyncSession) -> dict[store.BucketKey, store.BucketSums]:
    rows = await session.execute(select(store.COUNTERS))
    return {tuple(row[:4]): tuple(row[4:]) for row in rows if any(row[4:])}


def added(
    into: defaultdict[store.BucketKey, list[int]], sums: dict[store.BucketKey, store.BucketSums]
) -> None:
    for key, values in sums.items():
        into[key] = [a + b for a, b in zip(into[key], values, strict=True)]


async def test_counters_add_up_across_calls_and_transactions(sessions) -> None:
    expected: defaultdict[store.BucketKey, list[int]] = defaultdict(lambda: [0] * 32)
    async with unit_of_work(sessions) as session:
        for seed in (1, 1, 2):  # twice in one transaction: the stage never adds a row twice
            rows = store.bucket_rows(deltas(seed))
            assert await store.add_to_buckets(session, rows) == len(rows)
            added(expected, store.buckets(deltas(seed)))
    async with unit_of_work(sessions) as session:
        await store.add_to_buckets(session, store.bucket_rows(deltas(3)))
        added(expected, store.buckets(deltas(3)))
        assert await store.add_to_buckets(session, []) == 0
    async with sessions() as session:
        assert await counters(session) == {k: tuple(v) for k, v in expected.items() if any(v)}


def test_bucket_rows_are_the_buckets() -> None:
    rows = store.bucket_rows(deltas(4))
    assert {row[:4]: row[4:] for row in rows} == store.buckets(deltas(4))
    assert len(rows) == len({row[:4] for row in rows}) and all(any(row[4:]) for row in rows)


def test_buckets_hold_month_days_and_year_totals() -> None:
    """A delta goes to its month's total and running sums and to its year's total, for its town
    and the district; a month whose days cancel out keeps its running sums (its total is 0)."""
    sums = store.buckets(
        {
            (SKILLED, "maao", date(2025, 3, 31)): 2,
            (SKILLED, "maao", date(2025, 3, 1)): -1,
            (SKILLED, "maao", date(2025, 5, 9)): 1,
            (SKILLED, "maao", date(2025, 5, 10)): -1,
        }
    )
    march = [1] + [-1] * 30 + [1]  # total 1; through the 1st .. 30th -1; through the 31st 1
    may = [0] * 32
    may[9] = 1  # through the 9th 1; from the 10th on 0 again
    year = (1,) + (0,) * 31
    for town in ("maao", "*"):
        assert sums[(town, "m", date(2025, 3, 1), SKILLED)] == tuple(march)
        assert sums[(town, "m", date(2025, 5, 1), SKILLED)] == tuple(may)
        assert sums[(town, "y", date(2025, 1, 1), SKILLED)] == year
    assert len(sums) == 6


def certificate(n: int) -> Certificate:
    return Certificate(
        certificate_id=f"cert-{n}",
        person_key=f"person-{n // 2}",
        level="senior" if n % 3 else None,
        level_rank=n % 5,
        town="maao" if n % 4 else None,
        occupation_code="4-03-02-01" if n % 2 else None,
        issued_on=date(2025, 1, 1) + timedelta(days=n % 300) if n % 7 else None,
        revoked_on=date(2025, 12, 1) if n % 11 == 0 else None,
        flagged_on=date(2025, 11, 1) if n % 13 == 0 else None,
    )


def facts() -> store.FactWrites:
    completion = Completion("done-1", "person-1", "smart_manufacturing", "maao", date(2025, 5, 1))
    membership = Membership(
        "member-1", "person-2", "veterans", "jintang", True, date(2025, 4, 1), 9
    )
    return store.FactWrites(
        certificates=[store.certificate_row(certificate(n)) for n in range(MANY)],
        completions=[vars(completion)],
        memberships=[vars(membership)],
        rewards=[
            {
                "key": "g:e1",
                "entry_id": "e1",
                "amount_fen": 500,
                "effective_on": date(2025, 6, 1),
                "town": None,
            }
        ],
    )


async def test_facts_round_trip_through_bulk_writes_and_lookups(sessions) -> None:
    async with unit_of_work(sessions) as session:
        await store.write_facts(session, facts())
    async with sessions() as session:
        ids = [f"cert-{n}" for n in range(MANY)]
        owners = await store.owners(session, store.CERTIFICATES, "certificate_id", [*ids, "nope"])
        assert owners == {f"cert-{n}": f"person-{n // 2}" for n in range(MANY)}
        keys = {f"person-{n}" for n in range(MANY)}  # half of them have no facts
        persons = await store.load_persons(session, keys)
        assert set(persons) == {f"person-{n // 2}" for n in range(MANY)}
        for n in range(MANY):
            assert persons[f"person-{n // 2}"].certificates[f"cert-{n}"] == certificate(n)
        assert list(persons["person-1"].completions) == ["done-1"]
        assert persons["person-2"].memberships["member-1"].position == 9
        assert await store.known_reward_keys(session, {"g:e1", "g:e2"}) == {"g:e1"}
        assert await store.load_persons(session, set()) == {}


async def test_bulk_writes_roll_back_with_the_batch(sessions) -> None:
    with pytest.raises(RuntimeError):
        async with unit_of_work(sessions) as session:
            await store.write_facts(session, facts())
            await store.add_to_buckets(session, store.bucket_rows(deltas(1)))
            raise RuntimeError("the batch fails after its writes")
    async with sessions() as session:
        assert await store.load_persons(session, {"person-1"}) == {}
        assert await counters(session) == {}
    async with unit_of_work(sessions) as session:  # the stage rolled back with it: made again
        await store.add_to_buckets(session, store.bucket_rows(deltas(1)))
    async with sessions() as session:
        assert await counters(session) == store.buckets(deltas(1))


async def test_overlong_values_are_refused_not_truncated(sessions, databases) -> None:
    if databases.backend != "postgresql":
        pytest.skip("SQLite does not enforce column lengths")
    overlong = store.certificate_row(certificate(1)) | {"town": "t" * 33}
    with pytest.raises(Exception, match="too long"):
        async with unit_of_work(sessions) as session:
            await store.write_facts(session, store.FactWrites(certificates=[overlong]))
    with pytest.raises(Exception, match="too long"):
        async with unit_of_work(sessions) as session:
            await store.add_to_buckets(
                session, [("t" * 33, "y", date(2025, 1, 1), SKILLED, 1, *[0] * 31)]
            )


@pytest.mark.parametrize("table", ["certificate_facts", "completion_facts", "membership_facts"])
async def test_person_lookups_use_the_person_key_index(sessions, databases, table) -> None:
    """As the batch lookups run (`key_lookups`, one array of keys): by the hash index on
    PostgreSQL (migration 0004), by the B-tree on SQLite."""
    postgres = databases.backend == "postgresql"
    where = "person_key = ANY(CAST(:keys AS varchar[]))" if postgres else "person_key IN ('k')"
    explain = "EXPLAIN" if postgres else "EXPLAIN QUERY PLAN"
    async with unit_of_work(sessions) as session:
        async with store.key_lookups(session):
            plan = await session.execute(
                text(f"{explain} SELECT * FROM {table} WHERE {where}"),
                {"keys": ["k1", "k2"]} if postgres else {},
            )
            described = " ".join(str(row) for row in plan)
        assert f"ix_{table}_person_key" in described
        if postgres:
            kind = await session.execute(
                text(
                    "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
                    "WHERE c.relname = :name"
                ),
                {"name": f"ix_{table}_person_key"},
            )
            assert kind.scalar_one() == "hash"


async def test_lookups_use_indexes_and_then_scans_are_allowed_again(sessions, databases) -> None:
    if databases.backend != "postgresql":
        pytest.skip("PostgreSQL planner settings")
    setting = text("SELECT current_setting('enable_seqscan'), current_setting('plan_cache_mode')")
    async with unit_of_work(sessions) as session:
        async with store.key_lookups(session):
            assert tuple((await session.execute(setting)).one()) == ("off", "force_custom_plan")
            assert await store.owners(session, store.CERTIFICATES, "certificate_id", {"x"}) == {}
        assert (await session.execute(setting)).one()[0] == "on"
    async with sessions() as session:  # local to the transaction
        assert tuple((await session.execute(setting)).one()) == ("on", "auto")


def test_one_certificate_counts_as_the_general_walk_would() -> None:
    rules = TimelineRules(high_skilled_rank=3, towns=frozenset({"maao"}), domains=frozenset())
    issued = date(2025, 3, 10)
    revocations = [None, issued - timedelta(days=1), issued, issued + timedelta(days=1)]
    for revoked, rank, town in product(revocations, (0, 3, 5), ("maao", "elsewhere", None)):
        one = Certificate(
            "c", "p", level_rank=rank, town=town, issued_on=issued, revoked_on=revoked
        )
        shortcut: defaultdict[DeltaKey, int] = defaultdict(int)
        walk: defaultdict[DeltaKey, int] = defaultdict(int)
        _one_talent(one, rules, shortcut)
        _talents_walk([one], rules, walk)
        assert {k: v for k, v in shortcut.items() if v} == {k: v for k, v in walk.items() if v}
