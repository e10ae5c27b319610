"""The frame of every service: lifespan (db, identity, workers), middleware, health, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from common.auth import TokenVerifier
from common.db import make_engine, make_sessionmaker
from common.errors import install_problem_handlers, problem_response
from common.eventlog.sql_log import SqlEventLog
from common.migrations import migration_state
from common.observability import RequestContextMiddleware, configure_logging, metrics_payload
from common.pii import FieldCipher
from common.settings import BaseServiceSettings

logger = logging.getLogger("common.app")
# A worker is a long-running coroutine factory started in embedded mode: (app, stop) -> awaitable.
Worker = Callable[[FastAPI, asyncio.Event], Coroutine[Any, Any, None]]


@dataclass
class ServiceSpec:
    """What a service declares; `create_service_app` builds the rest."""

    name: str
    title: str
    description: str
    settings: BaseServiceSettings
    migrations: str
    routers: Sequence[APIRouter] = ()
    workers: Sequence[Worker] = ()
    state: dict[str, Any] = field(default_factory=dict)
    version: str = "0.1.0"
    reads_eventlog: bool = False


def create_service_app(spec: ServiceSpec) -> FastAPI:
    """A FastAPI app wired with problem+json errors, request ids, health, metrics and workers."""
    settings = spec.settings
    configure_logging(service=spec.name, level=settings.log_level, json_output=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.eventlog = None
        app.state.eventlog_engine = None
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        run_workers = settings.embedded_workers and bool(spec.workers)
        if run_workers or spec.reads_eventlog:
            app.state.eventlog_engine = make_engine(settings.eventlog_url)
            app.state.eventlog = SqlEventLog(app.state.eventlog_engine)
        if run_workers:
            tasks = [asyncio.create_task(worker(app, stop)) for worker in spec.workers]
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if app.state.eventlog_engine is not None:
                await app.state.eventlog.close()
                await app.state.eventlog_engine.dispose()
            await engine.dispose()

    app = FastAPI(
        title=spec.title,
        description=spec.description,
        version=spec.version,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.service_name = spec.name
    app.state.token_verifier = TokenVerifier(
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        jwks_path=settings.auth_jwks_path,
        jwks_url=settings.auth_jwks_url,
    )
    app.state.field_cipher = FieldCipher(settings.pii_field_key.get_secret_value())
    app.state.pepper = settings.pii_pepper.get_secret_value()
    for key, value in spec.state.items():
        setattr(app.state, key, value)
    install_problem_handlers(app)
    app.add_middleware(RequestContextMiddleware, service=spec.name)
    app.include_router(health_router(spec.migrations))
    for router in spec.routers:
        app.include_router(router)
    return app


def health_router(migrations: str) -> APIRouter:
    """`/healthz` (alive), `/readyz` (database reachable, migrations at head), `/metrics`."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: database reachable and migrated")
    async def readyz(request: Request) -> JSONResponse:
        engine = request.app.state.engine
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            state = await migration_state(engine, migrations)
        except Exception:
            logger.exception("readiness check failed")
            return problem_response(status=503, title="Database unreachable", slug="not-ready")
        if not state["at_head"]:
            return problem_response(
                status=503,
                title="Database migrations are not at head",
                slug="not-ready",
                migrations=state,
            )
        return JSONResponse({"status": "ready", "migrations": state})

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        payload, content_type = metrics_payload()
        return Response(payload, media_type=content_type)

    return router
