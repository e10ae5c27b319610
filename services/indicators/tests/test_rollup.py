"""The pipelined catch-up: a batch applied from the previous one's state before it commits, and
the log read one batch ahead."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from indicators import store
from indicators.__main__ import run_reconcile
from indicators.handlers import CONSUMER_NAME, consumer_factory
from indicators.main import load_indicator_policy
from indicators.rollup import RollupConsumer
from indicators.synthetic import issued, person_key, revoked


def _hold_commits_until_the_next_batch_is_applied(consumer: RollupConsumer) -> list[str]:
    """Make each batch's transaction wait until the next batch has been applied in memory
    (or the log is exhausted), so the next one's reads run before the first commits."""
    steps: list[str] = []
    applied_next: dict[int, asyncio.Event] = {}
    apply, commit = consumer._apply_in_memory, consumer._commit

    async def applying(session: Any, read: Any, **kwargs: Any) -> Any:
        ready = await apply(session, read, **kwargs)
        steps.append(f"applied {read.last}")
        applied_next.setdefault(read.first - 1, asyncio.Event()).set()
        return ready

    async def committing(ready: Any, *, after: int) -> int:
        assert not gc.isenabled(), "the collector runs during a catch-up"
        following = applied_next.setdefault(ready.last, asyncio.Event())
        try:
            await asyncio.wait_for(following.wait(), timeout=0.5)
        except TimeoutError:  # the last batch: nothing follows
            pass
        written = await commit(ready, after=after)
        steps.append(f"committed {ready.last}")
        return written

    consumer._apply_in_memory = applying  # type: ignore[method-assign]
    consumer._commit = committing  # type: ignore[method-assign]
    return steps


async def test_a_batch_starts_from_the_state_the_uncommitted_previous_batch_leaves(env) -> None:
    holder = person_key("holder")
    await env.log.append(
        [
            issued(person=holder, certificate="c1", level="junior", on="2025-02-01"),
            # no person key: only the previous batch, not yet committed, knows whose it is
            revoked(person=None, certificate="c1", on="2025-04-01"),
            issued(person=holder, certificate="c2", level="senior", on="2025-06-01"),
            issued(person=person_key("other"), certificate="c3", level="junior"),
        ]
    )
    env.consumer.batch_size = 1
    steps = _hold_commits_until_the_next_batch_is_applied(env.consumer)

    assert await env.consumer.catch_up() == 4

    assert gc.isenabled()
    assert steps[:3] == ["applied 1", "applied 2", "committed 1"]
    async with env.consumer.sessionmaker() as session:
        assert await store.dead_letter_count(session, consumer=CONSUMER_NAME) == 0
        assert await store.checkpoint_position(session, consumer=CONSUMER_NAME) == 4
    values = await env.values(year=2025)
    assert (values["skilled_talents"], values["high_skilled_talents"]) == (2, 1)
    assert (await run_reconcile(env.settings, monthly=True)).differences == []


async def test_a_batch_is_dropped_when_another_consumer_moved_the_checkpoint(env) -> None:
    await env.log.append(
        [
            issued(person=person_key(n), certificate=f"c{n}", level="senior", on="2025-03-01")
            for n in range(6)
        ]
    )
    env.consumer.batch_size = 2
    other = consumer_factory(load_indicator_policy(env.settings))(
        env.consumer.sessionmaker, env.log, 2
    )
    commit = env.consumer._commit

    async def committing(ready: Any, *, after: int) -> int:
        written = await commit(ready, after=after)
        if after == 0:  # a second replica applies the next batch meanwhile
            assert await other.run_once() == 2
        return written

    env.consumer._commit = committing  # type: ignore[method-assign]

    assert await env.consumer.catch_up() == 2  # its second batch found the checkpoint at 4

    async with env.consumer.sessionmaker() as session:
        assert await store.checkpoint_position(session, consumer=CONSUMER_NAME) == 4
    assert (await env.values(year=2025))["skilled_talents"] == 4  # nothing applied twice
    assert await other.catch_up() == 2
    assert (await env.values(year=2025))["skilled_talents"] == 6
    assert (await run_reconcile(env.settings, monthly=True)).differences == []


class _RecordingLog:
    """The real log, its reads recorded (and the third one made to fail, when asked)."""

    def __init__(self, log: Any, steps: list[str], *, fail_on: int = 0) -> None:
        self.log, self.steps, self.fail_on, self.reads = log, steps, fail_on, 0

    async def read(self, *, after: int, limit: int = 500) -> Any:
        self.reads += 1
        self.steps.append(f"read after {after}")
        if self.reads == self.fail_on:
            raise ConnectionError("the log went away")
        return await self.log.read(after=after, limit=limit)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.log, name)


async def test_the_log_is_read_one_batch_ahead_of_the_batch_being_applied(env) -> None:
    await env.log.append(
        [issued(person=person_key(n), certificate=f"c{n}", level="junior") for n in range(6)]
    )
    env.consumer.batch_size = 2
    steps: list[str] = []
    env.consumer.log = _RecordingLog(env.log, steps)
    apply = env.consumer._apply_in_memory

    async def applying(session: Any, read: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0)  # let a read started just before get going
        steps.append(f"apply {read.first}-{read.last}")
        return await apply(session, read, **kwargs)

    env.consumer._apply_in_memory = applying  # type: ignore[method-assign]

    assert await env.consumer.catch_up() == 6

    assert steps == [
        "read after 0",
        "read after 2",  # asked for before the first batch is applied
        "apply 1-2",
        "read after 4",
        "apply 3-4",
        "read after 6",
        "apply 5-6",
    ]
    assert (await env.values(year=2025))["skilled_talents"] == 6


async def test_a_failed_read_ahead_ends_the_catch_up_after_the_batches_before_it(env) -> None:
    await env.log.append(
        [issued(person=person_key(n), certificate=f"c{n}", level="junior") for n in range(6)]
    )
    env.consumer.batch_size = 2
    env.consumer.log = _RecordingLog(env.log, [], fail_on=3)  # the read after position 4

    try:
        await env.consumer.catch_up()
    except ConnectionError:
        pass
    else:
        raise AssertionError("the failed read did not end the catch-up")

    assert gc.isenabled()
    async with env.consumer.sessionmaker() as session:  # the batches read before it stand
        assert await store.checkpoint_position(session, consumer=CONSUMER_NAME) == 4
    env.consumer.log = env.log
    assert await env.consumer.catch_up() == 2
    assert (await env.values(year=2025))["skilled_talents"] == 6


async def test_the_next_batch_is_read_into_changes_while_a_batch_is_looked_up(
    env, monkeypatch
) -> None:
    """A batch's lookups wait for the next batch's events to become changes: that happens
    while they run, or the wait times out and the test fails."""
    from indicators import rollup

    await env.log.append(
        [issued(person=person_key(n), certificate=f"c{n}", level="junior") for n in range(6)]
    )
    env.consumer.batch_size = 2
    read_positions: list[int] = []
    second_batch_read = asyncio.Event()
    read_all, load_batch = env.consumer._read_all, rollup.load_batch
    timed_out: list[bool] = []

    def reading(events: Any) -> Any:
        read_positions.extend(e.position for e in events)
        if 3 in read_positions:
            second_batch_read.set()
        return read_all(events)

    async def looking_up(session: Any, changes: Any, rules: Any, **kwargs: Any) -> Any:
        if not timed_out:  # the first batch
            try:
                await asyncio.wait_for(second_batch_read.wait(), timeout=2)
                timed_out.append(False)
            except TimeoutError:
                timed_out.append(True)
        return await load_batch(session, changes, rules, **kwargs)

    env.consumer._read_all = reading  # type: ignore[method-assign]
    monkeypatch.setattr(rollup, "load_batch", looking_up)

    assert await env.consumer.catch_up() == 6

    assert timed_out == [False]
    assert read_positions == [1, 2, 3, 4, 5, 6]
    assert (await env.values(year=2025))["skilled_talents"] == 6


def test_a_read_batch_crosses_a_process_boundary_unchanged() -> None:
    """Pickled with its issues as columns (`reading._packed`): every change comes back equal,
    in its place, other kinds of change and missing dates included."""
    import pickle
    from datetime import date

    from common.eventlog.consumer import DeadLetter
    from indicators.changes import Flag, Issue, Revoke, Reward
    from indicators.reading import ReadBatch
    from indicators.timeline import Certificate

    def issue(n: int, **dates: date) -> Issue:
        return Issue(
            Certificate(f"c{n}", f"p{n}", "senior", 4, "jintang", None, date(2025, 1, n), **dates)
        )

    changes = [
        Revoke("c0", None, date(2025, 2, 1)),
        issue(1),
        issue(2, revoked_on=date(2025, 3, 1), flagged_on=date(2025, 4, 1)),
        Reward("g:e1", "e1", 50_000, date(2025, 5, 1), "jintang"),
        Issue(Certificate("c3", "p3")),  # no level, town or dates
        issue(4),
        Flag("c4", "p4", date(2025, 6, 1)),
    ]
    letter = DeadLetter(9, "event-9", "cn.dinghai.skills.x.v1", "ValidationError")
    batch = ReadBatch(9, 1, 9, changes, [1, 2, 3, 4, 5, 6, 7], list("abcdefg"), ["t"] * 7, [letter])
    again = pickle.loads(pickle.dumps(batch))  # noqa: S301 (our own bytes)
    assert again == batch and again.changes == changes
    assert [type(c) for c in again.changes] == [type(c) for c in changes]
    empty = ReadBatch(0, 0, 0)
    assert pickle.loads(pickle.dumps(empty)) == empty  # noqa: S301


async def test_a_catch_up_reads_the_log_in_a_process_of_its_own(env) -> None:
    """With the reading process (the services' default), the same rollups and dead letters as
    when the consumer reads the log itself; the process stops with the consumer."""
    from indicators.reading import ReadingProcess
    from indicators.store import dead_letter_count

    bad = issued(person=person_key("bad"), certificate="b1", on="2025-03-01")
    bad.data["issued_on"] = "not a date"
    await env.log.append(
        [
            issued(person=person_key(n), certificate=f"c{n}", level="senior", on="2025-02-01")
            for n in range(7)
        ]
        + [bad, revoked(person=None, certificate="c1", on="2025-04-01")]
        + [revoked(person=None, certificate="nobody", on="2025-04-01")]
    )
    consumer = consumer_factory(
        load_indicator_policy(env.settings), reading_url=env.settings.eventlog_url
    )(env.consumer.sessionmaker, env.log, 3)
    assert isinstance(consumer.reading, ReadingProcess)
    assert await consumer.catch_up() == 10
    values = await env.values(year=2025)
    assert values["skilled_talents"] == 6 and values["high_skilled_talents"] == 6
    async with env.app.state.sessionmaker() as session:
        assert await dead_letter_count(session, consumer=CONSUMER_NAME) == 2
    await consumer.close()
    assert consumer.reading._pool is None


async def test_a_reading_process_that_died_is_started_again(env) -> None:
    """Its catch-up fails (and the consumer's loop retries it); the next one starts a new
    process and applies every event once."""
    import os
    import signal
    from concurrent.futures.process import BrokenProcessPool

    await env.log.append(
        [issued(person=person_key(n), certificate=f"c{n}", level="junior") for n in range(4)]
    )
    consumer = consumer_factory(
        load_indicator_policy(env.settings), reading_url=env.settings.eventlog_url
    )(env.consumer.sessionmaker, env.log, 2)
    await consumer.reading.read(after=0, limit=1)  # started
    [pid] = list(consumer.reading._pool._processes)
    os.kill(pid, signal.SIGKILL)
    try:
        await consumer.catch_up()
    except BrokenProcessPool:
        pass
    else:
        raise AssertionError("the catch-up went on without its reading process")
    assert consumer.reading._pool is None
    assert await consumer.catch_up() == 4
    assert (await env.values(year=2025))["skilled_talents"] == 4
    await consumer.close()
