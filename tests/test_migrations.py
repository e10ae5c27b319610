"""Every migration history goes up, down to base and up again on both databases."""

from __future__ import annotations

import pytest

from common.db import make_engine
from common.migrations import downgrade, migration_state, upgrade
from common.testing.databases import DatabaseFactory

HISTORIES = [
    "common.eventlog:migrations",
    "training:migrations",
    "evaluation:migrations",
    "finance:migrations",
    "awards:migrations",
    "indicators:migrations",
]


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
