"""Wake-ups: an append starts a waiting consumer, and `wake_relay` a held relay, at once
(PostgreSQL LISTEN/NOTIFY); elsewhere, and as the fallback, the timer alone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import make_engine, make_sessionmaker, new_metadata, unit_of_work
from common.eventlog import relay as relay_module
from common.eventlog import wakeup as wakeup_module
from common.eventlog.consumer import Consumer, consumer_tables
from common.eventlog.envelope import Event, LoggedEvent
from common.eventlog.outbox import Outbox, wake_relay
from common.eventlog.relay import (
    HELD_LISTENING_POLL_SECONDS,
    HELD_POLL_SECONDS,
    OutboxRelay,
)
from common.eventlog.sql_log import SqlEventLog
from common.eventlog.wakeup import Wakeup, notify
from common.testing.databases import DatabaseFactory

pytestmark = pytest.mark.asyncio
# Long enough that only a notification, never the timer, can end a wait within a test.
NEVER = 600.0
# How long a test waits for what a notification starts.
PATIENCE = 30.0


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait until `condition()` holds (polled: the state of a task in this loop)."""
    for _ in range(int(PATIENCE / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within the test's patience")


def counted(monkeypatch, target: object, method: str) -> Callable[[], int]:
    """Count the calls of an async method of `target`; returns how many so far."""
    calls = 0
    original = getattr(target, method)

    async def counting(*args, **kwargs):
        nonlocal calls
        calls += 1
        return await original(*args, **kwargs)

    monkeypatch.setattr(target, method, counting)
    return lambda: calls


def event(n: int) -> Event:
    return Event(
        type="cn.dinghai.skills.test.thing.made.v1", source="/test", subject=str(n), data={"n": n}
    )


async def test_an_append_ends_a_wait_for_appends(
    databases: DatabaseFactory, event_log: SqlEventLog
) -> None:
    """Noticed whether it comes during the wait or between `watch_appends` and the wait."""
    await event_log.watch_appends()
    if databases.backend != "postgresql":
        assert await event_log.wait_for_append(0.01) is False  # the timer alone
        await event_log.close()
        return
    waiting = asyncio.ensure_future(event_log.wait_for_append(NEVER))
    await asyncio.sleep(0)
    await event_log.append([event(1)])
    assert await asyncio.wait_for(waiting, PATIENCE) is True
    await event_log.watch_appends()  # forgets that one
    assert await event_log.wait_for_append(0.01) is False
    await event_log.append([event(2)])  # before the wait: not lost
    assert await asyncio.wait_for(event_log.wait_for_append(NEVER), PATIENCE) is True
    await event_log.close()


async def test_stop_ends_a_wait_for_appends(event_log: SqlEventLog) -> None:
    stop = asyncio.Event()
    await event_log.watch_appends()
    waiting = asyncio.ensure_future(event_log.wait_for_append(NEVER, stop=stop))
    await asyncio.sleep(0)
    stop.set()
    assert await asyncio.wait_for(waiting, PATIENCE) is False
    await event_log.close()


async def test_a_lost_listening_connection_is_opened_again(databases: DatabaseFactory) -> None:
    if databases.backend != "postgresql":
        pytest.skip("notifications are PostgreSQL's")
    engine = make_engine(await databases.empty())
    wakeup = Wakeup(engine, "test_channel")
    assert await wakeup.listen() and wakeup.listening
    await wakeup._driver.close()  # the server or the network dropped it
    assert not wakeup.listening
    await wakeup.watch()
    assert wakeup.listening
    async with engine.begin() as conn:
        await notify(conn, "test_channel")
    assert await asyncio.wait_for(wakeup.wait(NEVER), PATIENCE) is True
    await wakeup.close()
    assert not wakeup.listening
    await engine.dispose()


async def consumer_of_things(
    databases: DatabaseFactory, event_log: SqlEventLog, applied: list[int], seen: asyncio.Event
) -> tuple[Consumer, AsyncEngine]:
    """A consumer of the test's events, with its own database: it records their numbers."""
    metadata = new_metadata()
    checkpoints, dead_letters = consumer_tables(metadata)
    engine = make_engine(await databases.empty())
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)

    async def handle(_session, logged: LoggedEvent) -> None:
        applied.append(logged.event.data["n"])
        seen.set()

    consumer = Consumer(
        name="test",
        log=event_log,
        sessionmaker=make_sessionmaker(engine),
        checkpoints=checkpoints,
        dead_letters=dead_letters,
        handlers={"cn.dinghai.skills.test.thing.made.v1": handle},
    )
    return consumer, engine


async def test_a_waiting_consumer_starts_at_once_on_an_append(
    databases: DatabaseFactory, event_log: SqlEventLog
) -> None:
    """With a polling interval of ten minutes, only the append's notification can start it."""
    if databases.backend != "postgresql":
        pytest.skip("notifications are PostgreSQL's")
    applied: list[int] = []
    seen = asyncio.Event()
    consumer, engine = await consumer_of_things(databases, event_log, applied, seen)
    stop = asyncio.Event()
    running = asyncio.ensure_future(consumer.run_forever(interval=NEVER, stop=stop))
    await eventually(lambda: event_log._appended.listening)  # its first round found nothing
    await event_log.append([event(1)])
    await asyncio.wait_for(seen.wait(), PATIENCE)
    stop.set()
    await asyncio.wait_for(running, PATIENCE)
    assert applied == [1]
    await event_log.close()
    await engine.dispose()


async def test_a_woken_consumer_does_not_poll_at_its_interval(
    databases: DatabaseFactory, event_log: SqlEventLog, monkeypatch
) -> None:
    """While appends wake it, a consumer looks at the log only every `LISTENING_POLL_SECONDS`
    (here ten minutes), whatever its interval; without wake-ups, every interval."""
    applied: list[int] = []
    seen = asyncio.Event()
    consumer, engine = await consumer_of_things(databases, event_log, applied, seen)
    rounds = counted(monkeypatch, consumer, "catch_up")
    if databases.backend != "postgresql":
        assert consumer.next_poll(0.01) == 0.01  # the timer is all it has
        await engine.dispose()
        return
    monkeypatch.setattr(wakeup_module, "LISTENING_POLL_SECONDS", NEVER)
    stop = asyncio.Event()
    running = asyncio.ensure_future(consumer.run_forever(interval=0.01, stop=stop))
    await eventually(lambda: event_log.notices_appends)
    await asyncio.sleep(0.5)  # fifty rounds, were it polling at its interval
    assert rounds() == 1 and consumer.next_poll(0.01) == NEVER
    await event_log.append([event(1)])
    await asyncio.wait_for(seen.wait(), PATIENCE)
    stop.set()
    await asyncio.wait_for(running, PATIENCE)
    assert applied == [1] and rounds() == 2
    await event_log.close()
    await engine.dispose()


async def test_wake_relay_ends_a_held_relays_wait(
    databases: DatabaseFactory, producer_db, event_log: SqlEventLog, monkeypatch
) -> None:
    """A held relay that listens asks again only every `HELD_LISTENING_POLL_SECONDS`, and goes
    on at once when the bulk work lifts its hold and wakes it."""
    engine, things, outbox = producer_db
    async with unit_of_work(make_sessionmaker(engine)) as session:
        await Outbox(outbox, source="/test").add(session, event(1))
        await session.execute(insert(things).values(id=1, name="bulk"))

    async def bulk_work_running(conn) -> bool:
        found = await conn.execute(select(things.c.id).where(things.c.name == "bulk"))
        return found.first() is not None

    relay = OutboxRelay(
        engine=engine,
        table=outbox,
        log=event_log,
        source="/test",
        hold=bulk_work_running,
        hold_max_seconds=NEVER,
    )
    assert await relay.drain() == 0 and await relay.held()
    if databases.backend != "postgresql":
        assert relay.next_poll(0.2) == HELD_POLL_SECONDS  # not listening: it asks often
        return
    monkeypatch.setattr(relay_module, "HELD_LISTENING_POLL_SECONDS", NEVER)
    stop = asyncio.Event()
    running = asyncio.ensure_future(relay.run_forever(interval=NEVER, stop=stop))
    await eventually(lambda: relay.wakeup.listening)
    assert relay.next_poll(0.2) == NEVER
    async with unit_of_work(make_sessionmaker(engine)) as session:
        await session.execute(things.delete())
        await wake_relay(session)
    for _ in range(int(PATIENCE / 0.01)):
        if await event_log.head() == 1:
            break
        await asyncio.sleep(0.01)
    assert await event_log.head() == 1
    stop.set()
    await asyncio.wait_for(running, PATIENCE)
    await relay.close()
    assert not relay.wakeup.listening
    assert HELD_LISTENING_POLL_SECONDS > HELD_POLL_SECONDS


async def test_an_outbox_write_wakes_a_listening_relay(
    databases: DatabaseFactory, producer_db, event_log: SqlEventLog, monkeypatch
) -> None:
    """A listening relay that is not held polls only every `LISTENING_POLL_SECONDS` (here ten
    minutes), whatever its interval, and moves a write of `Outbox.add` when it commits;
    without wake-ups it polls every interval."""
    engine, _things, outbox = producer_db
    relay = OutboxRelay(engine=engine, table=outbox, log=event_log, source="/test")
    rounds = counted(monkeypatch, relay, "drain")
    if databases.backend != "postgresql":
        assert relay.next_poll(0.01) == 0.01  # the timer is all it has
        return
    monkeypatch.setattr(wakeup_module, "LISTENING_POLL_SECONDS", NEVER)
    stop = asyncio.Event()
    running = asyncio.ensure_future(relay.run_forever(interval=0.01, stop=stop))
    await eventually(lambda: relay.wakeup.listening)
    await asyncio.sleep(0.5)  # fifty rounds, were it polling at its interval
    assert rounds() == 1 and relay.next_poll(0.01) == NEVER
    async with unit_of_work(make_sessionmaker(engine)) as session:
        await Outbox(outbox, source="/test").add(session, event(1))
    for _ in range(int(PATIENCE / 0.01)):
        if await event_log.head() == 1:
            break
        await asyncio.sleep(0.01)
    assert await event_log.head() == 1 and rounds() == 2
    stop.set()
    await asyncio.wait_for(running, PATIENCE)
    await relay.close()


async def test_a_woken_relay_moves_a_burst_of_writes_in_one_round(
    databases: DatabaseFactory, producer_db, event_log: SqlEventLog, monkeypatch
) -> None:
    """Twenty transactions, each waking the relay, are moved in a few rounds, not twenty: a
    woken relay starts no sooner than `WAKE_GAP_SECONDS` (here a second) after its previous
    round began."""
    if databases.backend != "postgresql":
        pytest.skip("notifications are PostgreSQL's")
    engine, _things, outbox = producer_db
    relay = OutboxRelay(engine=engine, table=outbox, log=event_log, source="/test")
    rounds = counted(monkeypatch, relay, "drain")
    monkeypatch.setattr(wakeup_module, "LISTENING_POLL_SECONDS", NEVER)
    monkeypatch.setattr(relay_module, "WAKE_GAP_SECONDS", 1.0)
    stop = asyncio.Event()
    running = asyncio.ensure_future(relay.run_forever(interval=0.01, stop=stop))
    await eventually(lambda: relay.wakeup.listening)
    sessionmaker = make_sessionmaker(engine)
    for n in range(20):  # over a second or more: one round each, were each write to start one
        async with unit_of_work(sessionmaker) as session:
            await Outbox(outbox, source="/test").add(session, event(n))
        await asyncio.sleep(0.05)
    for _ in range(int(PATIENCE / 0.01)):
        if await event_log.head() == 20:
            break
        await asyncio.sleep(0.01)
    assert await event_log.head() == 20
    assert rounds() <= 5  # the first round, then one a second at most while the writes go on
    stop.set()
    await asyncio.wait_for(running, PATIENCE)
    await relay.close()
