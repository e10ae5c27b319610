"""Pytest plugin shared by every test suite: databases, tokens, and an app client."""

from __future__ import annotations

import json
import tempfile
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from common.auth import OfficialRole, PrincipalKind, TokenIssuer, generate_signing_key, public_jwks
from common.pii import person_key
from common.settings import DEV_PEPPER
from common.testing.databases import DatabaseFactory

TEST_ISSUER = "https://gateway.dinghai.local"
TEST_AUDIENCE = "dinghai-skills"


@dataclass
class AuthKit:
    """A signing key for tests, its JWKS file, and a way to mint tokens."""

    issuer: TokenIssuer
    jwks_path: str

    def token(
        self,
        kind: str,
        subject: str,
        *,
        role: str | None = None,
        town: str | None = None,
        scopes: Iterable[str] = (),
    ) -> str:
        """A valid token. For citizens pass the ID number; the token carries its person_key."""
        principal_kind = PrincipalKind(kind)
        sub = (
            person_key(subject, pepper=DEV_PEPPER)
            if principal_kind is PrincipalKind.CITIZEN
            else subject
        )
        return self.issuer.issue(
            kind=principal_kind,
            subject=sub,
            role=OfficialRole(role) if role else None,
            town=town,
            scopes=scopes,
        )

    def headers(self, kind: str, subject: str, **kwargs: str) -> dict[str, str]:
        """Authorization headers for a principal."""
        return {"Authorization": f"Bearer {self.token(kind, subject, **kwargs)}"}


@pytest.fixture(scope="session")
async def databases() -> AsyncIterator[DatabaseFactory]:
    """The session's database factory (PostgreSQL or SQLite)."""
    factory = DatabaseFactory(workdir=Path(tempfile.mkdtemp(prefix="dinghai-test-")))
    yield factory
    await factory.drop_all()


@pytest.fixture(scope="session")
def auth(tmp_path_factory: pytest.TempPathFactory) -> AuthKit:
    """Test signing key and JWKS file."""
    key = generate_signing_key(kid="test-key")
    path = tmp_path_factory.mktemp("auth") / "jwks.json"
    path.write_text(json.dumps(public_jwks([key])))
    return AuthKit(
        issuer=TokenIssuer(key, issuer=TEST_ISSUER, audience=TEST_AUDIENCE), jwks_path=str(path)
    )


@asynccontextmanager
async def running_app(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and yield an HTTP client talking to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client
