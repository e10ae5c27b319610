"""The evaluation service: evaluation bodies, certificates, verification, bulk imports and the
enterprise self-assessment reward ledger. Wires the sub-packages' routers into one app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from common.app import ServiceSpec, create_service_app
from common.db import unit_of_work
from common.eventlog.runner import relay_worker
from common.pii import FieldCipher
from common.policy import load_policy_set
from common.ratelimit import RateLimiter
from evaluation.bodies.api import router as bodies_router
from evaluation.certificates.api import router as certificates_router
from evaluation.context import EvaluationContext
from evaluation.db import MIGRATIONS
from evaluation.events import SOURCE
from evaluation.holders.api import router as holders_router
from evaluation.imports.api import router as imports_router
from evaluation.imports.service import import_writing, mark_stale_interrupted
from evaluation.imports.worker import ImportTasks
from evaluation.models import outbox
from evaluation.rewards.api import router as rewards_router
from evaluation.rules import CertificatePolicy, RewardPolicies
from evaluation.settings import EvaluationSettings

logger = logging.getLogger("evaluation")


def create_app(settings: EvaluationSettings | None = None) -> FastAPI:
    """Build the app; refuses to start on invalid policy data."""
    settings = settings or EvaluationSettings()
    policies = load_policy_set(settings.policy_dir or None)
    latest = policies.latest
    context = EvaluationContext(
        policy=CertificatePolicy.from_data(version=latest.version, data=latest.data),
        rewards=RewardPolicies.from_policy_set(policies),
        cipher=FieldCipher(settings.pii_field_key.get_secret_value()),
        pepper=settings.pii_pepper.get_secret_value(),
    )
    app = create_service_app(
        ServiceSpec(
            name="evaluation",
            title="Dinghai evaluation service",
            description="Evaluation bodies, skill certificates, public verification, bulk "
            "imports, and the enterprise self-assessment reward ledger.",
            settings=settings,
            migrations=MIGRATIONS,
            routers=[
                bodies_router,
                certificates_router,
                holders_router,
                imports_router,
                rewards_router,
            ],
            workers=[relay_worker(table=outbox, source=SOURCE, hold=import_writing)],
            state={
                "policy": context.policy,
                "evaluation": context,
                "import_tasks": ImportTasks(processes=settings.import_processes),
                "verification_limiter": RateLimiter(
                    limit=settings.verification_rate_limit,
                    window_seconds=settings.verification_rate_window_seconds,
                ),
            },
        )
    )
    frame_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with frame_lifespan(app):
            try:
                async with unit_of_work(app.state.sessionmaker) as session:
                    await mark_stale_interrupted(session, stale_after=settings.import_stale_seconds)
            except Exception:  # an unmigrated database: readiness reports it
                logger.warning("could not check for interrupted import jobs", exc_info=True)
            if settings.import_prestart:
                app.state.import_tasks.start(
                    app.state.import_tasks.preparer.warm_up(), name="import-warm-up"
                )
            try:
                yield
            finally:
                await app.state.import_tasks.cancel_all()

    app.router.lifespan_context = lifespan
    return app
