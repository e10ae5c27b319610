"""The finance service. Skills-credit loan and insurance eligibility for partner banks."""

from __future__ import annotations

from fastapi import FastAPI

from common.app import ServiceSpec, create_service_app
from common.eventlog.runner import relay_worker
from finance.api import router
from finance.db import MIGRATIONS
from finance.events import SOURCE
from finance.models import outbox
from finance.settings import FinanceSettings


def create_app(settings: FinanceSettings | None = None) -> FastAPI:
    """Build the app."""
    settings = settings or FinanceSettings()
    return create_service_app(
        ServiceSpec(
            name="finance",
            title="Dinghai finance service",
            description="Skills-credit loan and insurance eligibility for partner banks.",
            settings=settings,
            migrations=MIGRATIONS,
            routers=[router],
            workers=[relay_worker(table=outbox, source=SOURCE)],
        )
    )
