"""A small in-memory rate limiter per key (e.g. a client address), and its 429 problem.

GCRA (the generic cell rate algorithm, a token bucket kept as one timestamp per key): `limit`
requests per `window_seconds`, bursts up to `limit`, one request's worth regained every
`window_seconds / limit`. State lives in the process: with several replicas each enforces its own
limit (put a shared limiter in the gateway or a Redis-backed one in front when that matters).
Keys are evicted least-recently-used beyond `max_keys`; an evicted key starts afresh.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Collection

from common.errors import DomainError


class RateLimited(DomainError):
    """Too many requests: 429 problem+json with a `Retry-After` header (whole seconds)."""

    status_code = 429
    slug = "rate-limited"
    title = "Too many requests"

    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        # `headers` is taken by `problem_response` as the response's headers, not a body member.
        super().__init__(
            f"Try again in {seconds} s",
            retry_after=seconds,
            headers={"Retry-After": str(seconds)},
        )
        self.retry_after = seconds


class RateLimiter:
    """`limit` requests per `window_seconds` for each key."""

    def __init__(
        self,
        *,
        limit: int,
        window_seconds: float,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("limit must be >= 1 and window_seconds > 0")
        self.limit = limit
        self.window = float(window_seconds)
        self.interval = self.window / limit
        self.max_keys = max_keys
        self._clock = clock
        self._tat: OrderedDict[str, float] = OrderedDict()

    def acquire(self, key: str) -> float:
        """Count one request for `key`: 0.0 when allowed, else the seconds until it would be."""
        now = self._clock()
        tat = max(self._tat.get(key, now), now)
        wait = tat - now - (self.window - self.interval)
        if wait > 0:
            return wait
        self._tat[key] = tat + self.interval
        self._tat.move_to_end(key)
        while len(self._tat) > self.max_keys:
            self._tat.popitem(last=False)
        return 0.0

    def check(self, key: str) -> None:
        """Count one request for `key`; raise `RateLimited` when over the limit."""
        wait = self.acquire(key)
        if wait > 0:
            raise RateLimited(wait)

    def __len__(self) -> int:
        return len(self._tat)


def client_address(
    peer: str | None, forwarded_for: str | None, *, trusted_proxies: Collection[str]
) -> str:
    """The client's address: the peer, or — when the peer is a trusted proxy — the right-most
    `X-Forwarded-For` entry that is not itself a trusted proxy. Malformed entries are ignored."""
    if peer is None:
        return "unknown"
    if peer not in trusted_proxies or not forwarded_for:
        return peer
    for entry in reversed(forwarded_for.split(",")):
        candidate = entry.strip()
        try:
            ipaddress.ip_address(candidate)
        except ValueError:
            continue
        if candidate not in trusted_proxies:
            return candidate
    return peer
