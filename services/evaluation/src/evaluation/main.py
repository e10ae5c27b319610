"""The evaluation service: skill certificates (职业技能等级证书) and their events."""

from __future__ import annotations

from fastapi import FastAPI

from common.app import ServiceSpec, create_service_app
from common.eventlog.runner import relay_worker
from common.policy import load_policy_set
from evaluation.api import router
from evaluation.db import MIGRATIONS
from evaluation.events import SOURCE
from evaluation.models import outbox
from evaluation.rules import CertificatePolicy
from evaluation.settings import EvaluationSettings


def create_app(settings: EvaluationSettings | None = None) -> FastAPI:
    """Build the app; refuses to start on invalid policy data."""
    settings = settings or EvaluationSettings()
    policy = load_policy_set(settings.policy_dir or None).latest
    return create_service_app(
        ServiceSpec(
            name="evaluation",
            title="Dinghai evaluation service",
            description="Skill certificates, evaluation bodies, self-assessment rewards.",
            settings=settings,
            migrations=MIGRATIONS,
            routers=[router],
            workers=[relay_worker(table=outbox, source=SOURCE)],
            state={"policy": CertificatePolicy.from_data(version=policy.version, data=policy.data)},
        )
    )
