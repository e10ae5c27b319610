"""Every migration history goes up, down to base and up again on both databases, and ends where
its models say it should."""

from __future__ import annotations

import importlib

import pytest

from common.db import make_engine
from common.migrations import downgrade, migration_state, schema_drift, upgrade
from common.testing.databases import DatabaseFactory

HISTORIES = [
    "common.eventlog:migrations",
    "training:migrations",
    "evaluation:migrations",
    "finance:migrations",
    "awards:migrations",
    "indicators:migrations",
]
# The metadata each history's env.py migrates towards.
MODELS = {
    "common.eventlog:migrations": "common.eventlog.sql_log:log_metadata",
    "training:migrations": "training.models:Base.metadata",
    "evaluation:migrations": "evaluation.models:Base.metadata",
    "finance:migrations": "finance.models:Base.metadata",
    "awards:migrations": "awards.models:Base.metadata",
    "indicators:migrations": "indicators.models:Base.metadata",
}


@pytest.mark.parametrize("history", HISTORIES)
async def test_round_trip(history: str, databases: DatabaseFactory) -> None:
    url = await databases.empty()
    await upgrade(url, history)
    await downgrade(url, history)
    await upgrade(url, history)
    engine = make_engine(url)
    try:
        state = await migration_state(engine, history)
    finally:
        await engine.dispose()
    assert state["at_head"], state


@pytest.mark.parametrize("history", HISTORIES)
async def test_migrations_build_what_the_models_describe(
    history: str, databases: DatabaseFactory
) -> None:
    module, _, path = MODELS[history].partition(":")
    metadata = importlib.import_module(module)
    for name in path.split("."):
        metadata = getattr(metadata, name)
    engine = make_engine(await databases.create(history))
    try:
        assert await schema_drift(engine, metadata) == []
    finally:
        await engine.dispose()
