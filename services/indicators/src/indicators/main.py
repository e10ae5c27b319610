"""The indicators service: the district's targets, rolled up from the shared event log."""

from __future__ import annotations

from fastapi import FastAPI

from common.app import ServiceSpec, create_service_app
from common.eventlog.runner import consumer_worker
from common.policy import load_policy_set
from indicators.api import router
from indicators.dashboard import router as dashboard_router
from indicators.db import MIGRATIONS
from indicators.handlers import consumer_factory
from indicators.rules import IndicatorPolicy
from indicators.settings import IndicatorsSettings


def load_indicator_policy(settings: IndicatorsSettings) -> IndicatorPolicy:
    """The policy version in force, read into this service's own model."""
    version = load_policy_set(settings.policy_dir or None).latest
    return IndicatorPolicy.from_data(version=version.version, data=version.data)


def create_app(settings: IndicatorsSettings | None = None) -> FastAPI:
    """Build the app; refuses to start on invalid policy data."""
    settings = settings or IndicatorsSettings()
    policy = load_indicator_policy(settings)
    town_codes = frozenset(policy.town_codes)
    return create_service_app(
        ServiceSpec(
            name="indicators",
            title="Dinghai indicators service",
            description="The pilot's indicators against their targets, from the shared event log.",
            settings=settings,
            migrations=MIGRATIONS,
            routers=[router, dashboard_router],
            workers=[consumer_worker(consumer_factory(policy, reading_url=settings.reading_url()))],
            state={"policy": policy, "town_codes": town_codes},
            reads_eventlog=True,
        )
    )
