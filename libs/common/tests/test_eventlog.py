"""Event pipeline: atomic outbox, exactly-once log, ordered readers, resumable consumers."""

from __future__ import annotations

import asyncio
import random
from dataclasses import FrozenInstanceError, replace
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import make_engine, make_sessionmaker, unit_of_work
from common.eventlog import outbox as outbox_module
from common.eventlog.consumer import Consumer, consumer_tables
from common.eventlog.envelope import RECORD_COLUMNS, Event, EventRecord, LoggedEvent
from common.eventlog.outbox import BATCH_TYPE, Outbox, batch_events, pack, unpack
from common.eventlog.relay import OutboxRelay
from common.eventlog.sql_log import LOG_MIGRATIONS, SqlEventLog, log_head
from common.eventlog.sql_log import event_log as log_table
from common.migrations import downgrade, upgrade
from common.testing.databases import DatabaseFactory

pytestmark = pytest.mark.asyncio


def make_event(n: int) -> Event:
    return Event(
        type="cn.dinghai.skills.test.thing.made.v1", source="/test", subject=str(n), data={"n": n}
    )


async def count(engine: AsyncEngine, table: Table) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_failed_transaction_leaves_neither_row_nor_event(producer_db) -> None:
    engine, things, outbox = producer_db
    box = Outbox(outbox, source="/test")
    with pytest.raises(RuntimeError):
        async with unit_of_work(make_sessionmaker(engine)) as session:
            await session.execute(insert(things).values(id=1, name="a"))
            await box.add(session, make_event(1))
            raise RuntimeError("business rule failed after the writes")
    assert await count(engine, things) == 0
    assert await count(engine, outbox) == 0
    async with unit_of_work(make_sessionmaker(engine)) as session:
        await session.execute(insert(things).values(id=1, name="a"))
        await box.add(session, make_event(1))
    assert await count(engine, things) == 1
    assert await count(engine, outbox) == 1


async def test_relay_twice_gives_one_log_entry(producer_db, event_log, log_engine) -> None:
    engine, _things, outbox = producer_db
    box = Outbox(outbox, source="/test")
    async with unit_of_work(make_sessionmaker(engine)) as session:
        await box.add(session, *[make_event(i) for i in range(5)])
    async with engine.connect() as conn:
        rows = [dict(row._mapping) for row in await conn.execute(outbox.select())]
    relay = OutboxRelay(engine=engine, table=outbox, log=event_log, source="/test")
    assert await relay.drain() == 5
    assert await relay.drain() == 0
    assert await count(engine, outbox) == 0  # relayed rows are deleted: the log keeps them
    # A relay that crashed after appending, before its delete committed, sends them again.
    async with engine.begin() as conn:
        await conn.execute(outbox.insert(), rows)
    assert await relay.drain() == 5
    assert await count(log_engine, log_table) == 5
    assert [e.position for e in await event_log.read(after=0)] == [1, 2, 3, 4, 5]
    assert await event_log.head() == 5


async def test_a_held_relay_claims_nothing_until_the_hold_is_lifted_or_too_long(
    producer_db, event_log, log_engine, monkeypatch
) -> None:
    """The hold is read from the service's database before each claim; a stretch of holding
    ends after `hold_max_seconds` even if the bulk work goes on."""
    engine, things, outbox = producer_db
    async with unit_of_work(make_sessionmaker(engine)) as session:
        await Outbox(outbox, source="/test").add(session, *[make_event(i) for i in range(3)])

    async def bulk_work_running(conn) -> bool:  # a row of `things` named "bulk" stands for it
        found = await conn.execute(select(things.c.id).where(things.c.name == "bulk"))
        return found.first() is not None

    clock = [1000.0]
    monkeypatch.setattr("common.eventlog.relay.time.monotonic", lambda: clock[0])
    relay = OutboxRelay(
        engine=engine,
        table=outbox,
        log=event_log,
        source="/test",
        batch_size=2,
        hold=bulk_work_running,
        hold_max_seconds=30,
    )
    async with engine.begin() as conn:
        await conn.execute(insert(things).values(id=1, name="bulk"))
    assert relay.next_poll(0.2) == 0.2
    assert await relay.drain() == 0 and await relay.held()
    assert relay.next_poll(0.2) == 0.05  # while held, it asks again sooner
    assert await count(engine, outbox) == 3 and await event_log.head() == 0
    clock[0] += 29
    assert await relay.drain() == 0
    clock[0] += 2  # held for 31 s in a row: the relay goes on although the work does
    assert await relay.run_once() == 2
    async with engine.begin() as conn:
        await conn.execute(things.delete())
    assert not await relay.held()
    assert relay.next_poll(0.2) == 0.2
    assert await relay.drain() == 1 and await event_log.head() == 3
    async with engine.begin() as conn:  # new bulk work: a new stretch of holding
        await conn.execute(insert(things).values(id=2, name="bulk"))
    assert await relay.held()
    relay.hold_max_seconds = 0  # 0: never held
    assert not await relay.held()


async def test_a_batch_is_relayed_with_the_collector_paused(
    producer_db, event_log, monkeypatch
) -> None:
    import gc

    engine, _things, outbox = producer_db
    async with unit_of_work(make_sessionmaker(engine)) as session:
        await Outbox(outbox, source="/test").add(session, make_event(1))
    seen: list[bool] = []
    append = event_log.append_records

    async def appending(records):
        seen.append(gc.isenabled())
        return await append(records)

    monkeypatch.setattr(event_log, "append_records", appending)
    relay = OutboxRelay(engine=engine, table=outbox, log=event_log, source="/test")
    assert await relay.drain() == 1
    assert seen == [False] and gc.isenabled()


async def test_two_relays_at_once_give_no_duplicates(producer_db, event_log, log_engine) -> None:
    engine, _things, outbox = producer_db
    box = Outbox(outbox, source="/test")
    async with unit_of_work(make_sessionmaker(engine)) as session:
        await box.add(session, *[make_event(i) for i in range(400)])
    relays = [
        OutboxRelay(engine=engine, table=outbox, log=event_log, source="/test", batch_size=25)
        for _ in range(2)
    ]
    handled = await asyncio.gather(*(r.drain() for r in relays))
    assert sum(handled) >= 400
    logged = await event_log.read(after=0, limit=1000)
    assert len(logged) == 400 == await count(log_engine, log_table)
    assert len({e.event.id for e in logged}) == 400
    assert [e.position for e in logged] == list(range(1, 401))


async def test_append_ignores_known_ids(event_log) -> None:
    events = [make_event(i) for i in range(3)]
    assert await event_log.append(events) == 3
    assert await event_log.append([*events, make_event(9)]) == 1
    assert await event_log.head() == 4


async def test_events_read_back_equal_the_events_appended(event_log) -> None:
    moment = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)
    appended = [
        Event(
            type="cn.dinghai.skills.test.thing.made.v1",
            source="/test",
            subject="s-1",
            data={"n": 1, "nested": {"list": [1, "二"]}, "none": None},
            time=moment,
            personkey="a" * 64,
            town="330902001",
            traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
        make_event(2),  # no extensions: the optional fields come back as None
    ]
    await event_log.append(appended)
    logged = await event_log.read(after=0)
    assert [e.position for e in logged] == [1, 2]
    assert [e.event for e in logged] == appended  # every field, compared as dataclasses
    restored = logged[0].event
    assert restored.time == moment and restored.time.utcoffset() == timedelta(0)
    assert restored.to_cloudevent() == appended[0].to_cloudevent()
    assert logged[0] == LoggedEvent(position=1, event=appended[0])
    with pytest.raises(FrozenInstanceError):  # built without __init__, still frozen
        restored.subject = "changed"  # type: ignore[misc]
    assert replace(restored, subject="s-9").subject == "s-9"


async def test_reader_never_skips_an_event_that_commits_late(databases: DatabaseFactory) -> None:
    """Many writers hold their transactions open for random times; a reader polls throughout.

    Every event must reach the reader exactly once, in position order, with no gaps — even
    though writers start in one order and commit in another.
    """
    url = await databases.create("common.eventlog:migrations")
    engine = make_engine(url, pool_size=20) if not url.startswith("sqlite") else make_engine(url)
    log = SqlEventLog(engine)
    writers, per_writer = 12, 10
    done = asyncio.Event()
    seen: list[LoggedEvent] = []

    async def writer(w: int) -> None:
        for i in range(per_writer):
            # Open a transaction, take a position, then dawdle before committing.
            async with engine.begin() as conn:
                head = (
                    await conn.execute(
                        select(log_head.c.position).where(log_head.c.id == 1).with_for_update()
                    )
                ).scalar_one()
                await asyncio.sleep(random.uniform(0, 0.01))
                event = make_event(w * 1000 + i)
                await conn.execute(
                    insert(log_table).values(
                        position=head + 1,
                        event_id=event.id,
                        type=event.type,
                        source=event.source,
                        subject=event.subject,
                        time=event.time,
                        data=event.data,
                        appended_at=event.time,
                    )
                )
                await conn.execute(log_head.update().values(position=head + 1))
                await asyncio.sleep(random.uniform(0, 0.01))
            await log.append([make_event(w * 1000 + 500 + i)])

    async def reader() -> None:
        checkpoint = 0
        while True:
            finished = done.is_set()
            batch = await log.read(after=checkpoint, limit=7)
            for logged in batch:
                assert logged.position == checkpoint + 1, "a position was skipped"
                checkpoint = logged.position
                seen.append(logged)
            if finished and not batch:
                return
            await asyncio.sleep(0)

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(w) for w in range(writers)))
    done.set()
    await reading
    await engine.dispose()
    total = writers * per_writer * 2
    assert len(seen) == total
    assert len({e.event.id for e in seen}) == total
    assert [e.position for e in seen] == list(range(1, total + 1))


async def _consumer_env(databases: DatabaseFactory):
    metadata = MetaData()
    checkpoints, dead = consumer_tables(metadata)
    totals = Table(
        "totals", metadata, Column("n", Integer, primary_key=True), Column("label", String(20))
    )
    engine = make_engine(await databases.empty())
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return engine, checkpoints, dead, totals


async def test_consumer_resumes_where_it_stopped_and_dead_letters_poison(
    databases: DatabaseFactory, event_log: SqlEventLog
) -> None:
    engine, checkpoints, dead, totals = await _consumer_env(databases)
    await event_log.append([make_event(i) for i in range(10)])
    applied: list[int] = []

    async def handle(session, logged: LoggedEvent) -> None:
        n = logged.event.data["n"]
        if n == 7:
            raise ValueError("poison")
        await session.execute(insert(totals).values(n=n, label="x"))
        applied.append(n)

    def consumer(batch: int) -> Consumer:
        return Consumer(
            name="test",
            log=event_log,
            sessionmaker=make_sessionmaker(engine),
            checkpoints=checkpoints,
            dead_letters=dead,
            handlers={"cn.dinghai.skills.test.thing.made.v1": handle},
            batch_size=batch,
        )

    first = consumer(batch=4)
    assert await first.run_once() == 4  # then the process "dies"
    second = consumer(batch=4)
    assert await second.catch_up() == 6
    assert await count(engine, totals) == 9
    assert sorted(applied) == [0, 1, 2, 3, 4, 5, 6, 8, 9]
    assert await count(engine, dead) == 1
    assert await second.lag() == 0
    await event_log.append([make_event(20)])
    assert await second.lag() == 1
    assert await second.catch_up() == 1
    await engine.dispose()


async def test_consumer_killed_mid_batch_applies_nothing_twice(
    databases: DatabaseFactory, event_log: SqlEventLog
) -> None:
    """A crash inside a batch rolls back both the effects and the checkpoint."""
    engine, checkpoints, dead, totals = await _consumer_env(databases)
    await event_log.append([make_event(i) for i in range(6)])
    crash_at = {3}

    async def handle(session, logged: LoggedEvent) -> None:
        n = logged.event.data["n"]
        await session.execute(insert(totals).values(n=n, label="x"))
        if n in crash_at:
            raise asyncio.CancelledError  # the process is killed: not an ordinary handler error

    consumer = Consumer(
        name="test",
        log=event_log,
        sessionmaker=make_sessionmaker(engine),
        checkpoints=checkpoints,
        dead_letters=dead,
        handlers={"cn.dinghai.skills.test.thing.made.v1": handle},
    )
    with pytest.raises(asyncio.CancelledError):
        await consumer.run_once()
    assert await count(engine, totals) == 0
    crash_at.clear()
    assert await consumer.catch_up() == 6
    assert await count(engine, totals) == 6
    await engine.dispose()


async def add_packed(engine: AsyncEngine, outbox: Table, events: list[Event]) -> None:
    """Write the events into the outbox as batch rows (`pack`), as a bulk producer does."""
    rows = [
        {**dict(zip(RECORD_COLUMNS, record, strict=True)), "data": orjson.loads(record.data_json)}
        for record in pack([EventRecord.of(e) for e in events])
    ]
    async with engine.begin() as conn:
        await conn.execute(outbox.insert(), rows)


async def test_pack_and_unpack_keep_every_event_in_order(monkeypatch) -> None:
    monkeypatch.setattr(outbox_module, "MAX_BATCH_EVENTS", 4)
    events = [
        Event(
            type="cn.dinghai.skills.test.thing.made.v1",
            source="/test",
            subject=f"thing-{n}",
            data={"n": n, "name": "名称", "nested": {"a": [1, None]}},
            personkey=f"{n:064x}",
            town="changguo" if n % 2 else None,
            traceparent="00-abc-def-01" if n == 3 else None,
        )
        for n in range(10)
    ]
    records = [EventRecord.of(e, request_id=f"req-{n}") for n, e in enumerate(events)]
    packed = pack(records)
    assert [r.type for r in packed] == [BATCH_TYPE] * 3
    assert [batch_events(r.type, r.subject) for r in packed] == [4, 4, 2]
    assert all(r.personkey is None and r.town is None for r in packed)
    assert len({r.id for r in packed}) == 3 and not {r.id for r in packed} & {e.id for e in events}
    unpacked = [event for record in packed for event in unpack(record)]
    assert unpacked == records
    assert unpack(records[0]) == [records[0]]
    assert batch_events(records[0].type, records[0].subject) == 1


async def test_relay_logs_batch_rows_whole_and_readers_see_their_events(
    producer_db, event_log, log_engine
) -> None:
    engine, _things, outbox = producer_db
    box = Outbox(outbox, source="/test")
    events = [make_event(i) for i in range(7)]
    async with unit_of_work(make_sessionmaker(engine)) as session:
        await box.add(session, events[0])
    await add_packed(engine, outbox, events[1:6])
    async with unit_of_work(make_sessionmaker(engine)) as session:
        await box.add(session, events[6])
    async with engine.connect() as conn:
        rows = [dict(row._mapping) for row in await conn.execute(outbox.select())]
    assert len(rows) == 3
    relay = OutboxRelay(engine=engine, table=outbox, log=event_log, source="/test", batch_size=2)
    # A batch row counts as its events: the first claim takes the plain row and the batch
    # (1, then 6 events), the second the last row.
    assert await relay.run_once() == 6
    assert await relay.run_once() == 1
    assert await relay.run_once() == 0
    # Three rows; each at the position of its last event, the batch's five at 2 to 6.
    async with log_engine.connect() as conn:
        stored = (
            await conn.execute(
                select(log_table.c.position, log_table.c.count, log_table.c.type).order_by(
                    log_table.c.position
                )
            )
        ).all()
    assert [(p, c) for p, c, _ in stored] == [(1, 1), (6, 5), (7, 1)]
    assert stored[1].type == BATCH_TYPE
    assert await event_log.head() == 7
    logged = await event_log.read(after=0)
    assert [e.position for e in logged] == list(range(1, 8))
    assert [e.event for e in logged] == events
    # A read may start and stop inside the batch row.
    for after, limit in [(0, 3), (2, 2), (3, 10), (5, 1), (6, 5), (1, 5), (0, 7)]:
        part = await event_log.read(after=after, limit=limit)
        expected = list(range(after + 1, min(after + limit, 7) + 1))
        assert [e.position for e in part] == expected, (after, limit)
        assert [e.event for e in part] == [events[p - 1] for p in expected]
    assert await event_log.read(after=7) == []
    # Sent again after a crash before the delete committed: the log keeps one of each.
    async with engine.begin() as conn:
        await conn.execute(outbox.insert(), rows)
    assert await relay.drain() == 7
    assert await count(log_engine, log_table) == 3
    assert await event_log.head() == 7


async def test_a_batch_record_must_hold_the_events_it_names(event_log) -> None:
    records = pack([EventRecord.of(make_event(i)) for i in range(3)])
    lying = records[0]._replace(subject="4")  # names four events, holds three
    with pytest.raises(ValueError, match="does not hold"):
        await event_log.append_records([lying])
    assert await event_log.head() == 0
    assert await event_log.append_records(records) == 3
    assert await event_log.head() == 3


async def test_reads_of_many_batch_rows_return_at_most_limit_events(event_log, monkeypatch) -> None:
    """Rows of up to `MAX_BATCH_EVENTS` events between single events: every window of the log
    reads back the same events, in order, as one full read does."""
    monkeypatch.setattr(outbox_module, "MAX_BATCH_EVENTS", 4)  # batches of 4 from `pack`
    events = [make_event(i) for i in range(23)]
    records = [EventRecord.of(e) for e in events]
    mixed = [records[0], *pack(records[1:10]), records[10], *pack(records[11:22]), records[22]]
    assert await event_log.append_records(mixed) == 23
    whole = await event_log.read(after=0, limit=1000)
    assert [e.event for e in whole] == events
    assert [e.position for e in whole] == list(range(1, 24))
    for after in range(0, 24):
        for limit in (1, 2, 3, 5, 8, 13):
            part = await event_log.read(after=after, limit=limit)
            assert part == whole[after : after + limit], (after, limit)


async def test_batch_rows_split_into_events_on_downgrade_and_read_the_same_after(
    databases: DatabaseFactory, monkeypatch
) -> None:
    """Revision 0003 down turns every batch row into rows of its events, at their positions;
    up again, the log reads back the same events."""
    monkeypatch.setattr(outbox_module, "MAX_BATCH_EVENTS", 4)
    url = await databases.empty()
    await upgrade(url, LOG_MIGRATIONS)
    engine = make_engine(url)
    log = SqlEventLog(engine)
    try:
        events = [make_event(i) for i in range(11)]
        records = [EventRecord.of(e, request_id=f"req-{i}") for i, e in enumerate(events)]
        await log.append_records([records[0], *pack(records[1:10]), records[10]])
        before = await log.read(after=0, limit=100)
        assert await count(engine, log_table) == 5
        await downgrade(url, LOG_MIGRATIONS, "0002")
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        log_table.c.position, log_table.c.event_id, log_table.c.request_id
                    ).order_by(log_table.c.position)
                )
            ).all()
        assert [tuple(r) for r in rows] == [(n + 1, e.id, f"req-{n}") for n, e in enumerate(events)]
        await upgrade(url, LOG_MIGRATIONS)
        assert await log.read(after=0, limit=100) == before
        assert [e.event for e in before] == events
        assert await log.head() == 11
    finally:
        await engine.dispose()


async def test_batches_packed_with_their_data_as_text_still_read_back(event_log) -> None:
    """Outbox rows packed before the data was spliced in (each event's data a JSON string) may
    still be waiting when the new relay starts: the log reads and unpacks them the same."""
    events = [make_event(i) for i in range(3)]
    records = [EventRecord.of(e) for e in events]
    (batch,) = pack(records)
    old_items = [[*r[:2], *r[3:9], r[9]] for r in records]
    old = batch._replace(data_json=orjson.dumps(old_items).decode())
    assert unpack(old) == unpack(batch) == records
    assert await event_log.append_records([old]) == 3
    assert [e.event for e in await event_log.read(after=0)] == events


async def test_time_after_is_the_first_unread_events_time(event_log) -> None:
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    events = [replace(make_event(n), time=start + timedelta(minutes=n)) for n in range(6)]
    records = [EventRecord.of(e) for e in events]
    await event_log.append_records([records[0], *pack(records[1:5]), records[5]])
    assert await event_log.time_after(0) == start
    assert await event_log.time_after(1) == start + timedelta(minutes=1)  # a batch's first
    # Inside the batch row: its first event's time, read without its data.
    assert await event_log.time_after(3) == start + timedelta(minutes=1)
    assert await event_log.time_after(5) == start + timedelta(minutes=5)
    assert await event_log.time_after(6) is None
