"""Idempotency keys: claim, replay, mismatch, concurrency."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import MetaData

from common.db import make_engine, make_sessionmaker, unit_of_work
from common.idempotency import (
    IdempotencyKeyInvalid,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
    IdempotencyStore,
    fingerprint,
    idempotency_key_header,
    idempotency_table,
)
from common.testing.databases import DatabaseFactory


@pytest.fixture
async def store_env(databases: DatabaseFactory):
    metadata = MetaData()
    table = idempotency_table(metadata)
    engine = make_engine(await databases.empty())
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield IdempotencyStore(table), make_sessionmaker(engine)
    await engine.dispose()


async def test_claim_record_replay_and_mismatch(store_env) -> None:
    store, sessions = store_env
    body = fingerprint(b'{"a":1}')
    async with unit_of_work(sessions) as session:
        assert await store.claim(session, client="c1", key="key-00001", fingerprint=body) is None
        await store.record(session, client="c1", key="key-00001", status_code=201, body={"id": 7})
    async with unit_of_work(sessions) as session:
        replay = await store.claim(session, client="c1", key="key-00001", fingerprint=body)
    assert replay is not None and (replay.status_code, replay.body) == (201, {"id": 7})
    with pytest.raises(IdempotencyKeyReused):
        async with unit_of_work(sessions) as session:
            await store.claim(session, client="c1", key="key-00001", fingerprint="other")
    async with unit_of_work(sessions) as session:  # another client's key space is separate
        assert await store.claim(session, client="c2", key="key-00001", fingerprint=body) is None


async def test_rolled_back_claim_leaves_the_key_free(store_env) -> None:
    store, sessions = store_env
    with pytest.raises(RuntimeError):
        async with unit_of_work(sessions) as session:
            await store.claim(session, client="c1", key="key-00002", fingerprint="f")
            raise RuntimeError("the effect failed")
    async with unit_of_work(sessions) as session:
        assert await store.claim(session, client="c1", key="key-00002", fingerprint="f") is None


async def test_concurrent_requests_with_one_key_do_the_work_once(store_env) -> None:
    store, sessions = store_env
    effects: list[int] = []

    async def request(n: int) -> int:
        async with unit_of_work(sessions) as session:
            stored = await store.claim(session, client="c1", key="key-00003", fingerprint="f")
            if stored is not None:
                return stored.body["n"]
            effects.append(n)
            await asyncio.sleep(0.05)
            await store.record(
                session, client="c1", key="key-00003", status_code=200, body={"n": n}
            )
            return n

    results = await asyncio.gather(*(request(n) for n in range(5)))
    assert len(effects) == 1
    assert set(results) == {effects[0]}


async def test_header_validation() -> None:
    with pytest.raises(IdempotencyKeyMissing):
        await idempotency_key_header(None)
    with pytest.raises(IdempotencyKeyInvalid):
        await idempotency_key_header("short")
    with pytest.raises(IdempotencyKeyInvalid):
        await idempotency_key_header("bad key with spaces")
    assert await idempotency_key_header('"8e03978e-40d5-43e8-bc93-6894a57f9324"') == (
        "8e03978e-40d5-43e8-bc93-6894a57f9324"
    )
