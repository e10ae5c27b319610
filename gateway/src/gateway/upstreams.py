"""The one shared upstream HTTP client (aiohttp, keep-alive pool) and the service map."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from prometheus_client import Counter

from gateway.settings import GatewaySettings

UPSTREAM_RESPONSES = Counter(
    "gateway_upstream_responses_total", "Responses received from services", ["service", "status"]
)
UPSTREAM_ERRORS = Counter(
    "gateway_upstream_errors_total", "Proxied requests that got no response", ["service", "reason"]
)


class Upstreams:
    """The service map and the one shared upstream HTTP client (opened in the app lifespan)."""

    def __init__(self, *, settings: GatewaySettings) -> None:
        self.urls = settings.upstreams()
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the shared client session."""
        settings = self.settings
        connector = aiohttp.TCPConnector(
            limit=settings.upstream_max_connections,
            limit_per_host=0,
            keepalive_timeout=settings.upstream_keepalive_seconds,
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=settings.upstream_timeout_seconds,
                sock_connect=settings.upstream_connect_timeout_seconds,
            ),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),  # never carry one caller's cookies to another
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
            trust_env=False,
        )

    async def close(self) -> None:
        """Close the shared client session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The open session; fails when the lifespan has not started."""
        if self._session is None:
            raise RuntimeError("upstream client is not started (app lifespan not run)")
        return self._session

    async def get_json(self, *, url: str, timeout_seconds: float) -> tuple[int, Any]:
        """GET a JSON document with a short timeout: (status, body or None)."""
        client_timeout = aiohttp.ClientTimeout(total=timeout_seconds, sock_connect=timeout_seconds)
        async with self.session.get(url, timeout=client_timeout, allow_redirects=False) as resp:
            if resp.status != 200:
                return resp.status, None
            return resp.status, await resp.json(content_type=None)

    async def probe(self, *, name: str, timeout_seconds: float) -> dict[str, Any]:
        """Reachability of one service's /healthz (for readiness, information only)."""
        url = self.urls[name]
        started = time.perf_counter()
        http_status: int | None = None
        reason: str | None = None
        client_timeout = aiohttp.ClientTimeout(total=timeout_seconds, sock_connect=timeout_seconds)
        try:
            async with self.session.get(
                f"{url}/healthz", timeout=client_timeout, allow_redirects=False
            ) as resp:
                http_status = resp.status
        except TimeoutError:
            reason = "timeout"
        except aiohttp.ClientError:
            reason = "unreachable"
        status = "down" if http_status is None else "up" if http_status == 200 else "degraded"
        return {
            "url": url,
            "status": status,
            "http_status": http_status,
            "reason": reason,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        }
