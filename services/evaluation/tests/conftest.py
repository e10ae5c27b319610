"""Fixtures: the evaluation app on a migrated database, with an event log beside it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import make_engine
from common.eventlog.sql_log import LOG_MIGRATIONS, SqlEventLog
from common.testing.databases import DatabaseFactory
from common.testing.plugin import AuthKit, running_app
from evaluation.db import MIGRATIONS
from evaluation.main import create_app
from evaluation.models import Certificate, outbox
from evaluation.settings import EvaluationSettings


@dataclass
class EvaluationEnv:
    client: httpx.AsyncClient
    engine: AsyncEngine
    log: SqlEventLog
    headers: dict[str, str]

    async def counts(self) -> tuple[int, int]:
        """(certificates, outbox rows)."""
        async with self.engine.connect() as conn:
            certs = (await conn.execute(select(func.count()).select_from(Certificate))).scalar_one()
            events = (await conn.execute(select(func.count()).select_from(outbox))).scalar_one()
        return int(certs), int(events)


@pytest.fixture
async def env(databases: DatabaseFactory, auth: AuthKit) -> AsyncIterator[EvaluationEnv]:
    settings = EvaluationSettings(
        database_url=await databases.create(MIGRATIONS),
        eventlog_url=await databases.create(LOG_MIGRATIONS),
        auth_jwks_path=auth.jwks_path,
        environment="test",
        embedded_workers=False,
    )
    app = create_app(settings)
    async with running_app(app) as client:
        log_engine = make_engine(settings.eventlog_url)
        yield EvaluationEnv(
            client=client,
            engine=app.state.engine,
            log=SqlEventLog(log_engine),
            headers=auth.headers("evaluation_body", "S0001"),
        )
        await log_engine.dispose()
