"""Reverse proxy as a pure-ASGI layer before FastAPI: `/api/<service>/...` and `/dashboard/...`.

Why raw aiohttp and not "one shared httpx client": with the same minimal ASGI proxy in front of a
FastAPI endpoint (bench/apps/proxy_variants.py, wrk -t2 -c16 on this 2-core machine), the proxy
process spent 114 µs of CPU per request with one shared `aiohttp.ClientSession`, 304 µs with an
`httpx.AsyncClient` on the `httpx-aiohttp` transport, 1,052 µs with a plain `httpx.AsyncClient`
(1,617 µs as a FastAPI route): 7,814 vs 3,278 vs 947 req/s against ~10,600 req/s direct. Only
aiohttp leaves room for the goal (gateway >= 0.5 x direct), so the proxy uses one aiohttp session
with a keep-alive connector, opened in the app lifespan (bench/README.md, "Gateway hop").
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from starlette.types import Receive, Scope, Send
from yarl import URL

from common.auth import TokenVerifier
from common.errors import Unauthenticated, problem_response
from common.observability import HTTP_LATENCY, HTTP_REQUESTS, accept_request_id, request_id_var
from gateway.hop import (
    CLIENT_CLOSED,
    SMALL_BODY,
    ClientGone,
    next_request_id,
    request_body,
    request_skip,
    response_headers,
)
from gateway.upstreams import UPSTREAM_ERRORS, UPSTREAM_RESPONSES, Upstreams

logger = logging.getLogger("gateway.proxy")


def is_proxied(path: str) -> bool:
    """True for the paths the proxy layer answers: `/api/...` and `/dashboard[/...]`."""
    return path.startswith("/api/") or path == "/dashboard" or path.startswith("/dashboard/")


class ProxyLayer:
    """Pure-ASGI proxy answering `is_proxied` paths before any FastAPI machinery runs."""

    # It does the request-context work of `RequestContextMiddleware` itself (request id in and
    # out, `request_id_var`, the same http_requests_total/http_request_duration_seconds metrics)
    # without that middleware's per-request access-log line, which costs ~50 µs of a ~140 µs hop.
    # Proxied requests are logged when `proxy_access_log` is on; 4xx refusals and upstream
    # failures always (the service behind logs the request under the same X-Request-ID).

    def __init__(self, *, upstreams: Upstreams, verifier: TokenVerifier, access_log: bool) -> None:
        self.upstreams = upstreams
        self.verifier = verifier
        self.access_log = access_log
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._upstream_children: dict[tuple[str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one proxied HTTP request."""
        inbound = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                inbound = value.decode("latin-1")
                break
        request_id = accept_request_id(inbound) if inbound else next_request_id()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        try:
            status = await self._route(scope, receive, send, request_id)
        except Exception as exc:
            logger.error("proxy failure", exc_info=exc, extra={"path": scope["path"]})
            status = await self._problem(
                scope, receive, send, request_id, status=500, title="Internal server error"
            )
        finally:
            self._observe(scope, status, started)
            request_id_var.reset(token)

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        method = scope["method"]
        children = self._children.get((method, status))
        if children is None:
            children = (
                HTTP_REQUESTS.labels("gateway", method, str(status)),
                HTTP_LATENCY.labels("gateway", method),
            )
            self._children[(method, status)] = children
        children[0].inc()
        children[1].observe(elapsed)
        if self.access_log or 400 <= status < 500:  # 5xx are logged where they happen
            logger.info(
                "request",
                extra={
                    "method": method,
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )

    async def _problem(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: str,
        *,
        status: int,
        title: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> int:
        response = problem_response(
            status=status,
            title=title,
            detail=detail,
            headers={**(headers or {}), "X-Request-ID": request_id},
        )
        await response(scope, receive, send)
        return status

    async def _route(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> int:
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        if raw.startswith(b"/api/"):
            name, _, rest = raw[5:].partition(b"/")
            service = name.decode("latin-1")
            if service not in self.upstreams.urls:
                return await self._problem(
                    scope,
                    receive,
                    send,
                    request_id,
                    status=404,
                    title="Not found",
                    detail="No service is routed at this path",
                )
            path, prefix = b"/" + rest, f"/api/{service}"
        else:
            service, path, prefix = "indicators", raw, ""
        connection = None
        for key, value in scope["headers"]:
            if key == b"connection":
                connection = value
        skip = request_skip(connection)
        headers: list[tuple[str, str]] = []
        host = b""
        has_body = chunked = False
        for key, value in scope["headers"]:
            if key == b"host":
                host = value
            elif key == b"authorization" and value[:7].lower() == b"bearer ":
                if not await self._token_ok(value[7:].strip().decode("latin-1")):
                    return await self._problem(
                        scope,
                        receive,
                        send,
                        request_id,
                        status=401,
                        title="Authentication required",
                        detail="The access token is invalid or expired",
                        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
                    )
            elif key == b"content-length":
                has_body = value.strip() not in (b"", b"0")
            elif key == b"transfer-encoding":
                has_body = chunked = True
            if key not in skip:
                headers.append((key.decode("latin-1"), value.decode("latin-1")))
        if chunked:  # never forward a Content-Length that the chunked body may contradict
            headers = [item for item in headers if item[0] != "content-length"]
        client = scope.get("client")
        headers.append(("x-request-id", request_id))
        headers.append(("x-forwarded-for", client[0] if client else "unknown"))
        headers.append(("x-forwarded-proto", scope.get("scheme", "http")))
        if host:
            headers.append(("x-forwarded-host", host.decode("latin-1")))
        if prefix:
            headers.append(("x-forwarded-prefix", prefix))
        target = self.upstreams.urls[service] + path.decode("latin-1")
        query: bytes = scope.get("query_string", b"")
        if query:
            target += "?" + query.decode("latin-1")
        gone: list[bool] = []
        return await self._exchange(
            scope,
            receive,
            send,
            request_id,
            service=service,
            url=URL(target, encoded=True),
            headers=headers,
            body=request_body(receive, gone) if has_body else None,
            gone=gone,
        )

    async def _token_ok(self, token: str) -> bool:
        try:
            await self.verifier.verify(token)
        except Unauthenticated:
            return False
        except Exception:  # malformed input must never become a 500
            logger.info("bearer token could not be parsed")
            return False
        return True

    def _count_upstream(self, service: str, status: int) -> None:
        child = self._upstream_children.get((service, status))
        if child is None:
            child = UPSTREAM_RESPONSES.labels(service, str(status))
            self._upstream_children[(service, status)] = child
        child.inc()

    async def _exchange(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: str,
        *,
        service: str,
        url: URL,
        headers: list[tuple[str, str]],
        body: AsyncIterator[bytes] | None,
        gone: list[bool],
    ) -> int:
        started = False
        status = 502
        try:
            async with self.upstreams.session.request(
                scope["method"], url, headers=headers, data=body, allow_redirects=False
            ) as resp:
                status = resp.status
                self._count_upstream(service, status)
                out_headers = response_headers(resp.raw_headers)
                out_headers.append((b"x-request-id", request_id.encode()))
                start = {"type": "http.response.start", "status": status, "headers": out_headers}
                length = resp.content_length
                if length is not None and length <= SMALL_BODY:
                    content = await resp.read()
                    await send(start)
                    started = True
                    await send({"type": "http.response.body", "body": content})
                    return status
                await send(start)
                started = True
                async for chunk in resp.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
                return status
        except TimeoutError:
            reason = "timeout"
        except (aiohttp.ClientError, ClientGone):
            reason = "unreachable"
        except Exception:
            if not started:
                raise
            logger.exception("proxying failed mid-response", extra={"path": scope["path"]})
            return status
        if gone:
            reason, status = "client_gone", CLIENT_CLOSED
        UPSTREAM_ERRORS.labels(service, reason).inc()
        logger.warning("upstream %s failed: %s", service, reason, extra={"path": scope["path"]})
        if started or gone:
            return status  # the response is under way (or nobody listens): the server closes it
        if reason == "timeout":
            return await self._problem(
                scope,
                receive,
                send,
                request_id,
                status=504,
                title="Gateway timeout",
                detail=f"The {service} service did not answer in time",
            )
        return await self._problem(
            scope,
            receive,
            send,
            request_id,
            status=502,
            title="Bad gateway",
            detail=f"The {service} service is unreachable",
        )
