"""Fixtures: the evaluation app on a migrated database, with an event log beside it.

`env` is the app with body S0001 registered (active); `make_env(...)` builds one with other
policy numbers or settings. Helpers make valid ID numbers, certificate numbers and postings.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import make_engine
from common.eventlog.sql_log import LOG_MIGRATIONS, SqlEventLog
from common.testing.databases import DatabaseFactory
from common.testing.outbox import outbox_events
from common.testing.plugin import AuthKit, running_app
from evaluation.db import MIGRATIONS
from evaluation.main import create_app
from evaluation.models import Certificate, outbox
from evaluation.settings import EvaluationSettings

POLICY = Path(__file__).resolve().parents[3] / "policy"
VALID_ID = "11010519491231002X"
EMPLOYER = "91110000600037341L"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
LEVEL_DIGITS = {"junior": 5, "intermediate": 4, "senior": 3, "technician": 2,
                "senior_technician": 1}  # fmt: skip
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def id_number(n: int) -> str:
    """A valid resident ID number, different for every n (< 3,650,000)."""
    born = date(1970, 1, 1) + timedelta(days=n % 10_000)
    body = f"330902{born:%Y%m%d}{n // 10_000 % 1000:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def uscc(n: int) -> str:
    """A valid unified social credit code, different for every n."""
    body = f"91330902{n:09d}"
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body, USCC_WEIGHTS, strict=True))
    return body + USCC_ALPHABET[(31 - total % 31) % 31]


def cert_number(
    serial: int, *, body: str = "S0001", level: str = "senior", year: int = 2025
) -> str:
    """A 2019-format number of `body` with the level's digit."""
    middle = "33000001" if len(body) == 5 else ""
    return f"{body}{middle}{year % 100:02d}{LEVEL_DIGITS[level]}{serial:06d}"


def certificate_body(**overrides: Any) -> dict[str, Any]:
    """A valid certificate posting of body S0001; override any field."""
    body = {
        "number": "S000133000001253000001",
        "level": "senior",
        "occupation_code": "6-04-02-05",
        "occupation_name": "焊工",
        "holder_id_number": VALID_ID,
        "holder_name": "张三",
        "issued_on": "2025-03-01",
        "employer_uscc": EMPLOYER,
        "mode": "social_evaluation",
        "town": "changguo",
    }
    body.update(overrides)
    return body


@dataclass
class EvaluationEnv:
    client: httpx.AsyncClient
    engine: AsyncEngine
    log: SqlEventLog
    headers: dict[str, str]
    auth: AuthKit
    app: Any

    @property
    def admin(self) -> dict[str, str]:
        return self.auth.headers("official", "admin-1", role="district_admin")

    def body_headers(self, code: str) -> dict[str, str]:
        return self.auth.headers("evaluation_body", code)

    async def counts(self) -> tuple[int, int]:
        """(certificates, outbox events)."""
        async with self.engine.connect() as conn:
            certs = (await conn.execute(select(func.count()).select_from(Certificate))).scalar_one()
        return int(certs), len(await outbox_events(self.engine, outbox))

    async def events(self, type_suffix: str = "") -> list[Any]:
        """Outbox events (of types ending with the suffix), oldest first; batch rows split."""
        events = await outbox_events(self.engine, outbox)
        return [e for e in events if e.type.endswith(type_suffix)]

    async def register(
        self, code: str, *, uscc: str | None = None, filed_on: str | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {"code": code, "type": code[0], "name": f"机构{code}"}
        if uscc is not None:
            body["uscc"] = uscc
        if filed_on is not None:
            body["filed_on"] = filed_on
        response = await self.client.post("/v1/bodies", json=body, headers=self.admin)
        assert response.status_code in (200, 201), response.text
        return response

    async def set_status(
        self, code: str, status: str, effective_on: str, reason: str = "检查结果"
    ) -> httpx.Response:
        return await self.client.post(
            f"/v1/bodies/{code}/status",
            json={"status": status, "effective_on": effective_on, "reason": reason},
            headers=self.admin,
        )

    async def issue(self, code: str = "S0001", **overrides: Any) -> httpx.Response:
        return await self.client.post(
            "/v1/certificates", json=certificate_body(**overrides), headers=self.body_headers(code)
        )


EnvFactory = Callable[..., Awaitable[EvaluationEnv]]


def policy_copy(tmp: Path, *, per_person_fen: int, annual_cap_fen: int) -> str:
    """The policy folder with other reward numbers."""
    target = tmp / "policy"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(POLICY, target)
    version = target / "versions" / "2025.1.yaml"
    text = version.read_text(encoding="utf-8")
    text = text.replace("per_person_fen: 50000", f"per_person_fen: {per_person_fen}")
    text = text.replace("annual_cap_fen: 5000000", f"annual_cap_fen: {annual_cap_fen}")
    version.write_text(text, encoding="utf-8")
    return str(target)


@pytest.fixture
async def make_env(
    databases: DatabaseFactory, auth: AuthKit, tmp_path: Path
) -> AsyncIterator[EnvFactory]:
    stack: list[Any] = []

    async def build(
        *, reward: tuple[int, int] | None = None, with_log: bool = False, **settings: Any
    ) -> EvaluationEnv:
        """An app on a fresh database; `with_log`: a migrated event-log database beside it
        (otherwise the log's URL names a file nothing opens: workers are off in tests)."""
        # Import worker processes start on a test's first import, not with every app.
        settings.setdefault("import_prestart", False)
        if reward is not None:
            settings["policy_dir"] = policy_copy(
                tmp_path, per_person_fen=reward[0], annual_cap_fen=reward[1]
            )
        config = EvaluationSettings(
            database_url=await databases.create(MIGRATIONS),
            eventlog_url=(
                await databases.create(LOG_MIGRATIONS)
                if with_log
                else f"sqlite+aiosqlite:///{tmp_path / 'unused-log.db'}"
            ),
            auth_jwks_path=auth.jwks_path,
            environment="test",
            embedded_workers=False,
            import_dir=str(tmp_path / "imports"),
            **settings,
        )
        app = create_app(config)
        context = running_app(app)
        client = await context.__aenter__()
        log_engine = make_engine(config.eventlog_url)
        stack.append((context, log_engine))
        env = EvaluationEnv(
            client=client,
            engine=app.state.engine,
            log=SqlEventLog(log_engine),
            headers=auth.headers("evaluation_body", "S0001"),
            auth=auth,
            app=app,
        )
        await env.register("S0001")
        return env

    yield build
    for context, log_engine in reversed(stack):
        await context.__aexit__(None, None, None)
        await log_engine.dispose()


@pytest.fixture
async def env(make_env: EnvFactory) -> EvaluationEnv:
    return await make_env()


@pytest.fixture
async def reward_env(make_env: EnvFactory) -> EvaluationEnv:
    """An app whose reward is 500 yuan a person with a cap of 1,200 yuan (not a multiple)."""
    return await make_env(reward=(50_000, 120_000))
