"""The awards service. Craftsman awards, certificate and post subsidies, designations."""

from __future__ import annotations

from fastapi import FastAPI

from awards.api import router
from awards.db import MIGRATIONS
from awards.events import SOURCE
from awards.models import outbox
from awards.settings import AwardsSettings
from common.app import ServiceSpec, create_service_app
from common.eventlog.runner import relay_worker


def create_app(settings: AwardsSettings | None = None) -> FastAPI:
    """Build the app."""
    settings = settings or AwardsSettings()
    return create_service_app(
        ServiceSpec(
            name="awards",
            title="Dinghai awards service",
            description="Craftsman awards, certificate and post subsidies, designations.",
            settings=settings,
            migrations=MIGRATIONS,
            routers=[router],
            workers=[relay_worker(table=outbox, source=SOURCE)],
        )
    )
