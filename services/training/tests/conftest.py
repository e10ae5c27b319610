"""Fixtures: the training app on a migrated database (SQLite or PostgreSQL), a fixed clock,
and helpers that set up institutions, classes and enrolments through the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from common.testing.databases import DatabaseFactory
from common.testing.plugin import AuthKit, running_app
from training.db import MIGRATIONS
from training.main import create_app
from training.models import (
    Completion,
    Enrolment,
    KeyGroupMembership,
    ProgrammeQuota,
    TrainingClass,
    outbox,
)
from training.settings import TrainingSettings

TODAY = date(2025, 6, 2)
PROBLEM = "application/problem+json"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def make_id(n: int, *, area: str = "330902") -> str:
    """A synthetic resident ID number with a valid check character (distinct for each n)."""
    born = date(1960, 1, 1) + timedelta(days=n // 500)
    body = f"{area}{born:%Y%m%d}{n % 500 * 2 + 1:03d}"
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]
    return body + check


def uscc(n: int) -> str:
    """A synthetic, checksum-valid unified social credit code."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    body = f"52330902MJ{n:07d}"
    total = sum(alphabet.index(c) * w for c, w in zip(body, weights, strict=True))
    return body + alphabet[(31 - total % 31) % 31]


@dataclass
class TrainingEnv:
    client: httpx.AsyncClient
    engine: AsyncEngine
    app: Any
    auth: AuthKit
    backend: str
    _institutions: int = field(default=0)

    @staticmethod
    def person(n: int) -> str:
        """A synthetic valid ID number, distinct for each n."""
        return make_id(n)

    @property
    def admin(self) -> dict[str, str]:
        """A district official."""
        return self.auth.headers("official", "staff-admin", role="district_admin")

    def town_officer(self, town: str) -> dict[str, str]:
        return self.auth.headers("official", f"staff-{town}", role="town_officer", town=town)

    def institution(self, institution_id: str) -> dict[str, str]:
        return self.auth.headers("institution", institution_id)

    def citizen(self, id_number: str) -> dict[str, str]:
        return self.auth.headers("citizen", id_number)

    def set_today(self, day: date) -> None:
        self.app.state.clock = lambda: day

    async def new_institution(self, name: str | None = None) -> tuple[str, dict[str, str]]:
        """Register an institution; returns (id, its headers)."""
        self._institutions += 1
        response = await self.client.post(
            "/v1/institutions",
            json={
                "name": name or f"定海培训学校{self._institutions}",
                "uscc": uscc(self._institutions),
            },
            headers=self.admin,
        )
        assert response.status_code == 201, response.text
        institution_id = response.json()["id"]
        return institution_id, self.institution(institution_id)

    async def new_class(self, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
        """Create a class (default: manufacturing, 10 seats, 2025-06-10 → 2025-06-30, changguo)."""
        body: dict[str, Any] = {
            "domain": "manufacturing",
            "title": "焊工（中级）培训班",
            "capacity": 10,
            "starts_on": "2025-06-10",
            "ends_on": "2025-06-30",
            "town": "changguo",
        }
        body.update(overrides)
        response = await self.client.post("/v1/classes", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def enrol_citizen(self, class_id: str, id_number: str) -> httpx.Response:
        return await self.client.post(
            f"/v1/classes/{class_id}/enrolments", headers=self.citizen(id_number)
        )

    async def enrol_trainee(
        self, class_id: str, headers: dict[str, str], id_number: str, name: str = "张三"
    ) -> httpx.Response:
        return await self.client.post(
            f"/v1/classes/{class_id}/enrolments",
            json={"id_number": id_number, "name": name},
            headers=headers,
        )

    async def count(self, table: Any, *where: Any) -> int:
        async with self.engine.connect() as conn:
            query = select(func.count()).select_from(table)
            if where:
                query = query.where(*where)
            return int((await conn.execute(query)).scalar_one())

    async def counts(self) -> dict[str, int]:
        """Rows in the tables that refusals must leave alone."""
        return {
            "enrolments": await self.count(Enrolment),
            "completions": await self.count(Completion),
            "memberships": await self.count(KeyGroupMembership),
            "outbox": await self.count(outbox),
        }

    async def seats(self, class_id: str) -> int:
        async with self.engine.connect() as conn:
            query = select(TrainingClass.seats_taken).where(TrainingClass.id == class_id)
            return int((await conn.execute(query)).scalar_one())

    async def quota(self, year: int, domain: str) -> tuple[int | None, int]:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(ProgrammeQuota.quota, ProgrammeQuota.used).where(
                        ProgrammeQuota.year == year, ProgrammeQuota.domain == domain
                    )
                )
            ).one()
            return row.quota, row.used


@pytest.fixture
async def env(
    databases: DatabaseFactory, auth: AuthKit, tmp_path: Path
) -> AsyncIterator[TrainingEnv]:
    settings = TrainingSettings(
        database_url=await databases.create(MIGRATIONS),
        # Workers are off, so the service never opens the log; tests that relay create their own.
        eventlog_url=f"sqlite+aiosqlite:///{tmp_path / 'unused-eventlog.db'}",
        auth_jwks_path=auth.jwks_path,
        environment="test",
        embedded_workers=False,
    )
    app = create_app(settings)
    app.state.clock = lambda: TODAY
    async with running_app(app) as client:
        yield TrainingEnv(
            client=client,
            engine=app.state.engine,
            app=app,
            auth=auth,
            backend=databases.backend,
        )


@pytest.fixture
async def institution(env: TrainingEnv) -> tuple[str, dict[str, str]]:
    """A registered, active institution: (id, headers)."""
    return await env.new_institution()
