"""The gateway application: `uvicorn gateway.main:create_app --factory`."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from common.errors import install_problem_handlers
from common.observability import RequestContextMiddleware, configure_logging
from common.settings import Environment
from gateway.api import GatewayState, router
from gateway.openapi import SWAGGER_ASSETS, SWAGGER_DIR, MergedOpenAPI
from gateway.proxy import ProxyLayer, is_proxied
from gateway.service import TownCodes, load_identity, write_jwks
from gateway.settings import GatewaySettings
from gateway.upstreams import Upstreams

TITLE = "Dinghai skills platform API"
VERSION = "0.1.0"


class GatewayApp(FastAPI):
    """FastAPI app whose proxied paths go to the proxy layer before any FastAPI machinery."""

    proxy: ProxyLayer | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch: proxied paths to the proxy layer, the rest to FastAPI."""
        if self.proxy is not None and scope["type"] == "http" and is_proxied(scope["path"]):
            await self.proxy(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def own_openapi(app: FastAPI, *, settings: GatewaySettings) -> dict[str, Any]:
    """The gateway's own document (without the dev token route where it is disabled)."""
    document = app.openapi()
    if settings.dev_tokens_enabled:
        return document
    paths = {k: v for k, v in document["paths"].items() if k != "/auth/dev/token"}
    return {**document, "paths": paths}


def create_app(*, settings: GatewaySettings | None = None) -> GatewayApp:
    """Build the gateway: own routes, the proxy layer in front, one shared upstream client."""
    settings = settings or GatewaySettings()
    configure_logging(service="gateway", level=settings.log_level, json_output=settings.log_json)
    identity = load_identity(settings=settings)
    upstreams = Upstreams(settings=settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.environment is not Environment.PRODUCTION and settings.auth_jwks_path:
            write_jwks(path=Path(settings.auth_jwks_path), jwks=identity.jwks)
        await upstreams.start()
        # Start-up objects (FastAPI, pydantic, aiohttp) leave the GC's view: full collections
        # stop walking them, which took the proxied p99 at c=16 from ~15 ms to ~5 ms here.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await upstreams.close()

    app = GatewayApp(
        title=TITLE,
        version=VERSION,
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.gateway = GatewayState(
        settings=settings,
        identity=identity,
        upstreams=upstreams,
        towns=TownCodes(policy_dir=settings.policy_dir),
        openapi=MergedOpenAPI(
            upstreams=upstreams,
            own=lambda: own_openapi(app, settings=settings),
            timeout=settings.openapi_timeout_seconds,
            ttl=settings.openapi_cache_seconds,
        ),
    )
    install_problem_handlers(app)
    app.include_router(router)
    app.mount(SWAGGER_ASSETS, StaticFiles(directory=SWAGGER_DIR), name="swagger-assets")
    app.add_middleware(RequestContextMiddleware, service="gateway")
    app.proxy = ProxyLayer(
        upstreams=upstreams, verifier=identity.verifier, access_log=settings.proxy_access_log
    )
    return app
