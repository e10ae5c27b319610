"""Fixtures: the indicators app on a migrated database, fed from a real event log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest

from common.eventlog.consumer import Consumer
from common.eventlog.envelope import Event
from common.eventlog.sql_log import LOG_MIGRATIONS, SqlEventLog
from common.testing.databases import DatabaseFactory
from common.testing.plugin import AuthKit, running_app
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
    app: Any

    async def values(self, **params: object) -> dict[str, Any]:
        response = await self.client.get("/v1/indicators", params=params)
        assert response.status_code == 200, response.text
        return {i["code"]: i["value"] for i in response.json()["indicators"]}

    async def publish(self, *events: Event) -> int:
        """Append events to the log and let the consumer apply them."""
        await self.log.append(list(events))
        return await self.consumer.catch_up()

    async def get(self, path: str, **params: object) -> Any:
        response = await self.client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


async def make_settings(databases: DatabaseFactory, **extra: Any) -> IndicatorsSettings:
    return IndicatorsSettings(
        database_url=await databases.create(MIGRATIONS),
        eventlog_url=await databases.create(LOG_MIGRATIONS),
        environment="test",
        embedded_workers=False,
        **extra,
    )


@pytest.fixture
def settings_factory(databases: DatabaseFactory) -> Any:
    """`await settings_factory(**extra)`: settings on fresh databases."""

    async def build(**extra: Any) -> IndicatorsSettings:
        return await make_settings(databases, **extra)

    return build


@pytest.fixture
async def env(databases: DatabaseFactory, auth: AuthKit) -> AsyncIterator[IndicatorsEnv]:
    settings = await make_settings(databases, auth_jwks_path=auth.jwks_path)
    app = create_app(settings)
    async with running_app(app) as client:
        log = app.state.eventlog
        consumer = consumer_factory(load_indicator_policy(settings))(app.state.sessionmaker, log)
        yield IndicatorsEnv(client=client, log=log, consumer=consumer, settings=settings, app=app)


def ymd(text: str) -> date:
    return date.fromisoformat(text)
