"""Relay and consumer processes killed with SIGKILL mid-stream: none lost, none counted twice."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from common.db import make_engine, make_sessionmaker, unit_of_work
from common.eventlog.envelope import Event
from common.eventlog.outbox import Outbox
from common.eventlog.sql_log import event_log
from common.testing.databases import DatabaseFactory
from indicators.handlers import CERTIFICATE_ISSUED
from indicators.models import CertificateFact, checkpoints

ROOT = Path(__file__).resolve().parents[1]
EVENTS = 4000
KILLS = 8
PERSONS = 1700


def certificate_event(n: int) -> Event:
    person = f"{n % PERSONS:064d}"
    return Event(
        type=CERTIFICATE_ISSUED,
        source="/services/evaluation",
        subject=f"cert-{n}",
        personkey=person,
        town="changguo",
        time=datetime.now(UTC),
        data={
            "certificate_id": f"cert-{n}",
            "level": "senior" if n % 3 == 0 else "junior",
            "occupation_code": "6-04-02-05",
            "occupation_edition": "2022",
            "mode": "social_evaluation",
            "body_code": "S0001",
            "employer_uscc": None,
            "town": "changguo",
            "issued_on": "2025-03-01",
            "policy_version": "2025.1",
        },
    )


async def poll_until(condition: Callable[[], Awaitable[bool]], *, seconds: float) -> None:
    """Poll a database condition every 10 ms until it holds or the timeout passes."""
    deadline = time.monotonic() + seconds
    for _ in range(int(seconds * 100)):
        if await condition() or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.01)


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_kill_nine_relay_and_consumer(databases: DatabaseFactory) -> None:
    from evaluation.models import outbox

    evaluation_url = await databases.create("evaluation:migrations")
    log_url = await databases.create("common.eventlog:migrations")
    indicators_url = await databases.create("indicators:migrations")
    producer = make_engine(evaluation_url)
    box = Outbox(outbox, source="/services/evaluation")
    async with unit_of_work(make_sessionmaker(producer)) as session:
        await box.add(session, *[certificate_event(n) for n in range(EVENTS)])

    env = {k: v for k, v in os.environ.items() if not k.startswith("DINGHAI_")}
    env.update(
        {
            "EVALUATION_DATABASE_URL": evaluation_url,
            "INDICATORS_DATABASE_URL": indicators_url,
            "DINGHAI_EVENTLOG_URL": log_url,
            "DINGHAI_RELAY_BATCH_SIZE": "10",
            "DINGHAI_CONSUMER_BATCH_SIZE": "10",
            "DINGHAI_RELAY_INTERVAL_SECONDS": "0.05",
            "DINGHAI_ENVIRONMENT": "test",
            "DINGHAI_POLICY_DIR": str(ROOT / "policy"),
        }
    )
    relay = spawn(["evaluation", "relay"], env)
    consumer = spawn(["indicators", "consume"], env)
    rng = random.Random(20251231)
    kills = 0
    mid_stream = 0  # kills that hit a process with work both done and still to do
    log_engine, rollup_engine = make_engine(log_url), make_engine(indicators_url)

    async def progress(victim: str) -> int:
        if victim == "relay":
            async with log_engine.connect() as conn:
                return int(
                    (await conn.execute(select(func.count()).select_from(event_log))).scalar_one()
                )
        async with rollup_engine.connect() as conn:
            return int((await conn.execute(select(checkpoints.c.position))).scalar() or 0)

    async def progress_beyond(victim: str, mark: int) -> bool:
        return await progress(victim) > mark

    try:
        for round_ in range(KILLS):
            victim = ("relay", "consumer")[round_ % 2]
            before = await progress(victim)
            # Kill only once the victim has done some work since it (re)started.
            await poll_until(lambda v=victim, b=before: progress_beyond(v, b), seconds=10)
            await asyncio.sleep(rng.uniform(0, 0.03))
            process = relay if victim == "relay" else consumer
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            after = await progress(victim)
            mid_stream += int(0 < after < EVENTS)
            if victim == "relay":
                relay = spawn(["evaluation", "relay"], env)
            else:
                consumer = spawn(["indicators", "consume"], env)
        await poll_until(lambda: progress_beyond("consumer", EVENTS - 1), seconds=90)
    finally:
        for process in (relay, consumer):
            process.terminate()
            process.wait(timeout=20)

    async with log_engine.connect() as conn:
        logged = (await conn.execute(select(event_log.c.position, event_log.c.event_id))).all()
    async with producer.connect() as conn:
        unpublished = (
            await conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            )
        ).scalar_one()
    async with rollup_engine.connect() as conn:
        facts = (await conn.execute(select(func.count()).select_from(CertificateFact))).scalar_one()
        persons = (
            await conn.execute(select(func.count(func.distinct(CertificateFact.person_key))))
        ).scalar_one()
        position = (await conn.execute(select(checkpoints.c.position))).scalar()
    for engine in (producer, log_engine, rollup_engine):
        await engine.dispose()

    assert kills == KILLS
    assert mid_stream >= KILLS - 2, "the kills did not land while work was in progress"
    assert unpublished == 0
    assert len(logged) == EVENTS, "lost or duplicated in the log"
    assert len({row.event_id for row in logged}) == EVENTS
    assert sorted(row.position for row in logged) == list(range(1, EVENTS + 1))
    assert position == EVENTS
    assert facts == EVENTS  # every certificate applied exactly once
    assert persons == PERSONS  # recount from the source data
