"""Minimal proxies used to choose the gateway's upstream client (run via bench/gateway_hop.py).

Each factory builds an app that answers `/healthz` itself and forwards `/api/training/<rest>` to
`$GATEWAY_TRAINING_URL/<rest>`, with one shared client opened in the lifespan. No header hygiene,
no auth, no logging: this isolates the cost of the HTTP client. Example:
`uv run python bench/gateway_hop.py --gateway-app bench.apps.proxy_variants:httpx_asgi --output -`
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import httpx
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from httpx_aiohttp import AiohttpTransport
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.types import Receive, Scope, Send

from gateway.main import create_app
from gateway.proxy import is_proxied

PREFIX = "/api/training"
_DROP = frozenset({b"date", b"server", b"connection", b"keep-alive", b"transfer-encoding"})
Handler = Callable[[str], Awaitable[tuple[int, list[tuple[bytes, bytes]], bytes]]]


def _upstream() -> str:
    return os.environ.get("GATEWAY_TRAINING_URL", "http://127.0.0.1:8101")


class _AsgiProxy:
    """A bare ASGI proxy around one `fetch(path)` coroutine."""

    def __init__(
        self, *, opener: Callable[[], Awaitable[Handler]], closer: Callable[[], Awaitable[None]]
    ) -> None:
        self.opener = opener
        self.closer = closer
        self.fetch: Handler | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Lifespan and HTTP."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.fetch = await self.opener()
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await self.closer()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] == "/healthz":
            status, headers, body = 200, [(b"content-type", b"application/json")], b'{"ok":1}'
        else:
            assert self.fetch is not None
            status, headers, body = await self.fetch(scope["path"][len(PREFIX) :])
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def aiohttp_asgi() -> _AsgiProxy:
    """Bare ASGI + one shared aiohttp.ClientSession (keep-alive TCPConnector)."""
    holder: dict[str, aiohttp.ClientSession] = {}

    async def opener() -> Handler:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(keepalive_timeout=4), auto_decompress=False
        )
        holder["session"] = session
        base = _upstream()

        async def fetch(path: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            async with session.get(base + path) as resp:
                body = await resp.read()
                headers = [(k.lower(), v) for k, v in resp.raw_headers if k.lower() not in _DROP]
                return resp.status, headers, body

        return fetch

    async def closer() -> None:
        await holder["session"].close()

    return _AsgiProxy(opener=opener, closer=closer)


def _httpx_asgi(make: Callable[[], httpx.AsyncClient]) -> _AsgiProxy:
    holder: dict[str, httpx.AsyncClient] = {}

    async def opener() -> Handler:
        client = make()
        holder["client"] = client
        base = _upstream()

        async def fetch(path: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            response = await client.send(client.build_request("GET", base + path), stream=True)
            try:
                body = b"".join([chunk async for chunk in response.aiter_raw()])
            finally:
                await response.aclose()
            headers = [(k.lower(), v) for k, v in response.headers.raw if k.lower() not in _DROP]
            return response.status_code, headers, body

        return fetch

    async def closer() -> None:
        await holder["client"].aclose()

    return _AsgiProxy(opener=opener, closer=closer)


def httpx_aiohttp_asgi() -> _AsgiProxy:
    """Bare ASGI + one shared httpx.AsyncClient on the httpx-aiohttp transport."""
    return _httpx_asgi(lambda: httpx.AsyncClient(transport=AiohttpTransport()))


def httpx_asgi() -> _AsgiProxy:
    """Bare ASGI + one shared plain httpx.AsyncClient."""
    return _httpx_asgi(httpx.AsyncClient)


def httpx_fastapi_route() -> FastAPI:
    """The textbook pattern: a FastAPI catch-all route streaming through a shared httpx client."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=_upstream()) as client:
            state["client"] = client
            yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, int]:
        return {"ok": 1}

    @app.api_route(PREFIX + "/{rest:path}", methods=["GET", "POST"])
    async def proxy(rest: str, request: Request) -> StreamingResponse:
        client: httpx.AsyncClient = state["client"]
        upstream = client.build_request(request.method, "/" + rest, content=request.stream())
        response = await client.send(upstream, stream=True)
        headers = {k: v for k, v in response.headers.items() if k.lower().encode() not in _DROP}
        return StreamingResponse(
            response.aiter_raw(),
            status_code=response.status_code,
            headers=headers,
            background=BackgroundTask(response.aclose),
        )

    return app


class _ProxyInsideStack:
    """Middleware form of the gateway's proxy layer (for the variant below)."""

    def __init__(self, app: Any, *, proxy: Any) -> None:
        self.app = app
        self.proxy = proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Proxied paths to the proxy layer, the rest to the app."""
        if scope["type"] == "http" and is_proxied(scope["path"]):
            await self.proxy(scope, receive, send)
            return
        await self.app(scope, receive, send)


def gateway_in_fastapi_stack() -> FastAPI:
    """The real gateway with its proxy inside FastAPI's stack, behind RequestContextMiddleware."""
    app = create_app()
    proxy, app.proxy = app.proxy, None
    app.user_middleware.append(Middleware(_ProxyInsideStack, proxy=proxy))
    return app
