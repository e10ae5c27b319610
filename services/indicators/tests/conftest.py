"""Fixtures: the indicators app on a migrated database, fed from a real event log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

import httpx
import pytest

from common.eventlog.consumer import Consumer
from common.eventlog.sql_log import LOG_MIGRATIONS, SqlEventLog
from common.testing.databases import DatabaseFactory
from common.testing.plugin import running_app
from indicators.db import MIGRATIONS
from indicators.handlers import consumer_factory
from indicators.main import create_app, load_indicator_policy
from indicators.settings import IndicatorsSettings


@dataclass
class IndicatorsEnv:
    client: httpx.AsyncClient
    log: SqlEventLog
    consumer: Consumer
    settings: IndicatorsSettings

    async def values(self, **params: object) -> dict[str, float | None]:
        response = await self.client.get("/v1/indicators", params=params)
        assert response.status_code == 200, response.text
        return {i["code"]: i["value"] for i in response.json()["indicators"]}


@pytest.fixture
async def env(databases: DatabaseFactory) -> AsyncIterator[IndicatorsEnv]:
    settings = IndicatorsSettings(
        database_url=await databases.create(MIGRATIONS),
        eventlog_url=await databases.create(LOG_MIGRATIONS),
        environment="test",
        embedded_workers=False,
    )
    app = create_app(settings)
    async with running_app(app) as client:
        log = app.state.eventlog
        consumer = consumer_factory(load_indicator_policy(settings))(app.state.sessionmaker, log)
        yield IndicatorsEnv(client=client, log=log, consumer=consumer, settings=settings)


def ymd(text: str) -> date:
    return date.fromisoformat(text)
