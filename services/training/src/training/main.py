"""The training service. Training quotas, classes, enrolment and completions (issue 3)."""

from __future__ import annotations

from fastapi import FastAPI

from common.app import ServiceSpec, create_service_app
from common.eventlog.runner import relay_worker
from training.api import router
from training.db import MIGRATIONS
from training.events import SOURCE
from training.models import outbox
from training.settings import TrainingSettings


def create_app(settings: TrainingSettings | None = None) -> FastAPI:
    """Build the app."""
    settings = settings or TrainingSettings()
    return create_service_app(
        ServiceSpec(
            name="training",
            title="Dinghai training service",
            description="Training quotas, classes, enrolment and completions (issue 3).",
            settings=settings,
            migrations=MIGRATIONS,
            routers=[router],
            workers=[relay_worker(table=outbox, source=SOURCE)],
        )
    )
