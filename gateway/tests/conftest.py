"""Fixtures: a real upstream FastAPI app and real gateways, each served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel
from starlette.types import ASGIApp

from gateway.main import create_app
from gateway.settings import GatewaySettings

POLICY_DIR = Path(__file__).parent / "fixtures" / "policy"
CHUNK = 64 * 1024


class _Server(uvicorn.Server):
    """uvicorn without signal handlers (several run at once inside the test loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[str]:
    """Serve an ASGI app on a free 127.0.0.1 port in a background task; yield its base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", proxy_headers=False
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def closed_port() -> int:
    """A port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CertificateCreate(BaseModel):
    """Request body of the upstream's create endpoint."""

    holder: str
    level: int


class Certificate(BaseModel):
    """Response body of the upstream's create endpoint."""

    id: str
    holder: str


def upstream_app() -> FastAPI:
    """A stand-in service: echo, streaming, slow and hop-by-hop endpoints."""
    app = FastAPI(title="test-upstream")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/certificates", status_code=201)
    async def create_certificate(body: CertificateCreate) -> Certificate:
        return Certificate(id="c1", holder=body.holder)

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, Any]:
        digest, size = hashlib.sha256(), 0
        async for chunk in request.stream():
            digest.update(chunk)
            size += len(chunk)
        return {
            "size": size,
            "sha256": digest.hexdigest(),
            "transfer_encoding": request.headers.get("transfer-encoding"),
            "content_length": request.headers.get("content-length"),
        }

    @app.get("/download")
    async def download(size: int) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for offset in range(0, size, CHUNK):
                yield pattern(offset, min(CHUNK, size - offset))

        return StreamingResponse(body(), media_type="application/octet-stream")

    @app.get("/drip")
    async def drip() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"first;"
            await asyncio.sleep(1.0)
            yield b"second"

        return StreamingResponse(body(), media_type="text/plain")

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(3)
        return {"status": "late"}

    @app.get("/hop")
    async def hop() -> Response:
        return Response(
            b"ok",
            headers={
                "Connection": "X-Hop-Resp",
                "X-Hop-Resp": "secret",
                "Keep-Alive": "timeout=5",
                "Proxy-Authenticate": "Basic",
                "Trailer": "X-Sum",
                "X-Kept": "yes",
            },
        )

    @app.api_route(
        "/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
    )
    async def echo(path: str, request: Request) -> dict[str, Any]:
        return {
            "method": request.method,
            "path": request.url.path,
            "query": request.scope["query_string"].decode(),
            "headers": [[k.decode(), v.decode()] for k, v in request.scope["headers"]],
        }

    return app


def pattern(offset: int, length: int) -> bytes:
    """Deterministic bytes of a large body (so both sides can hash it)."""
    block = bytes(range(256)) * (CHUNK // 256)
    start = offset % len(block)
    return (block[start:] + block * (length // len(block) + 1))[:length]


def token_claims(token: str) -> dict[str, Any]:
    """The (unverified) payload of a JWT."""
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


@pytest.fixture(scope="session")
async def upstream() -> AsyncIterator[str]:
    """One upstream service for the whole session."""
    async with serve(upstream_app()) as url:
        yield url


@pytest.fixture
def gateway_settings(upstream: str, tmp_path: Path) -> Callable[..., GatewaySettings]:
    """Settings for a test gateway: finance unreachable, the other services on the upstream."""

    def build(**overrides: Any) -> GatewaySettings:
        values: dict[str, Any] = {
            "environment": "test",
            "log_level": "WARNING",
            "training_url": upstream,
            "evaluation_url": upstream,
            "awards_url": upstream,
            "indicators_url": upstream,
            "finance_url": f"http://127.0.0.1:{closed_port()}",
            "signing_key_path": str(tmp_path / "signing-key.json"),
            "auth_jwks_path": str(tmp_path / "jwks.json"),
            "policy_dir": str(POLICY_DIR),
            "upstream_timeout_seconds": 5.0,
        }
        values.update(overrides)
        return GatewaySettings(**values)

    return build


@pytest.fixture
def start_gateway(
    gateway_settings: Callable[..., GatewaySettings],
) -> Callable[..., contextlib.AbstractAsyncContextManager[str]]:
    """Start a gateway with setting overrides: `async with start_gateway(...) as url`."""

    def start(**overrides: Any) -> contextlib.AbstractAsyncContextManager[str]:
        return serve(create_app(settings=gateway_settings(**overrides)))

    return start


@pytest.fixture
async def client(
    start_gateway: Callable[..., contextlib.AbstractAsyncContextManager[str]],
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on a default test gateway."""
    async with start_gateway() as url, httpx.AsyncClient(base_url=url, timeout=20) as http:
        yield http


@pytest.fixture
def body_pattern() -> Callable[[int, int], bytes]:
    """The bytes the upstream's /download sends at (offset, length)."""
    return pattern


@pytest.fixture
def claims_of() -> Callable[[str], dict[str, Any]]:
    """Decode a JWT's payload without verifying it."""
    return token_claims


@pytest.fixture
def policy_dir() -> Path:
    """The test policy directory (13 town codes)."""
    return POLICY_DIR
