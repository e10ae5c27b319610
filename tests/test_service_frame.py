"""Every service stands on the same frame: health, readiness, metrics, problem+json, request ids."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from common.settings import BaseServiceSettings
from common.testing.databases import DatabaseFactory
from common.testing.plugin import running_app

SERVICES = ("training", "evaluation", "finance", "awards", "indicators")


def service_modules(name: str) -> tuple[Any, type[BaseServiceSettings]]:
    """A service's `main` module and its settings class."""
    main = importlib.import_module(f"{name}.main")
    module = importlib.import_module(f"{name}.settings")
    settings_class = next(
        getattr(module, attr)
        for attr in dir(module)
        if attr.endswith("Settings") and attr != "BaseServiceSettings"
    )
    return main, settings_class


@pytest.mark.parametrize("name", SERVICES)
async def test_frame(name: str, databases: DatabaseFactory) -> None:
    main, settings_class = service_modules(name)
    settings = settings_class(
        database_url=await databases.create(f"{name}:migrations"),
        eventlog_url=await databases.create("common.eventlog:migrations"),
        environment="test",
        embedded_workers=False,
    )
    async with running_app(main.create_app(settings)) as client:
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["migrations"]["at_head"]
        assert "http_requests_total" in (await client.get("/metrics")).text
        missing = await client.get("/v1/no-such-thing", headers={"X-Request-ID": "req-12345678"})
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.json()["type"].endswith("/not-found")
        assert missing.headers["x-request-id"] == "req-12345678"
        injected = await client.get("/healthz", headers={"X-Request-ID": "bad\tid"})
        assert injected.headers["x-request-id"] != "bad\tid"
        wrong_method = await client.delete("/healthz")
        assert wrong_method.status_code == 405
        assert wrong_method.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("name", SERVICES)
async def test_readiness_fails_before_migrations(name: str, databases: DatabaseFactory) -> None:
    main, settings_class = service_modules(name)
    settings = settings_class(
        database_url=await databases.empty(),
        environment="test",
        embedded_workers=False,
        eventlog_url=await databases.create("common.eventlog:migrations"),
    )
    async with running_app(main.create_app(settings)) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
