"""The training service: programmes and quotas, institutions, classes, enrolment, completions,
key groups and the 30-minute training circle (POLICY.md §2, issue 3)."""

from __future__ import annotations

from fastapi import FastAPI

from common.app import ServiceSpec, create_service_app
from common.clock import today_in_shanghai
from common.eventlog.runner import relay_worker
from common.policy import load_policy_set
from training.api import router
from training.circle.rules import load_town_centres
from training.db import MIGRATIONS
from training.events import SOURCE
from training.models import outbox
from training.rules import TrainingPolicies
from training.settings import TrainingSettings


def create_app(settings: TrainingSettings | None = None) -> FastAPI:
    """Build the app; refuses to start on invalid policy data."""
    settings = settings or TrainingSettings()
    policies = TrainingPolicies.from_set(load_policy_set(settings.policy_dir or None))
    return create_service_app(
        ServiceSpec(
            name="training",
            title="Dinghai training service",
            description=(
                "Programmes and quotas, institutions and classes, enrolment with waiting lists, "
                "completion batches, key groups (愿培全培) and the 30-minute training circle."
            ),
            settings=settings,
            migrations=MIGRATIONS,
            routers=[router],
            workers=[relay_worker(table=outbox, source=SOURCE)],
            state={
                "training_policies": policies,
                "town_centres": load_town_centres(),
                "clock": today_in_shanghai,
            },
        )
    )
