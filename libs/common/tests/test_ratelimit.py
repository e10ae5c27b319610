"""The in-memory rate limiter: limit, refill, Retry-After, key isolation, eviction, addresses."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from common.errors import install_problem_handlers
from common.ratelimit import RateLimited, RateLimiter, client_address
from common.testing.plugin import running_app


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_allows_a_burst_of_limit_then_refuses_until_a_slot_frees() -> None:
    clock = FakeClock()
    limiter = RateLimiter(limit=10, window_seconds=60, clock=clock)
    assert all(limiter.acquire("a") == 0.0 for _ in range(10))
    wait = limiter.acquire("a")
    assert wait == pytest.approx(6.0)
    clock.now += 5.9
    assert limiter.acquire("a") > 0
    clock.now += 0.2
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0


def test_refused_requests_do_not_extend_the_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(limit=2, window_seconds=10, clock=clock)
    limiter.acquire("a")
    limiter.acquire("a")
    first = limiter.acquire("a")
    for _ in range(50):
        assert limiter.acquire("a") == pytest.approx(first)


def test_full_window_restores_the_whole_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(limit=3, window_seconds=30, clock=clock)
    for _ in range(3):
        limiter.acquire("a")
    clock.now += 30
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]


def test_keys_are_independent_and_evicted_lru() -> None:
    clock = FakeClock()
    limiter = RateLimiter(limit=1, window_seconds=60, max_keys=2, clock=clock)
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("b") == 0.0
    assert limiter.acquire("a") > 0
    assert limiter.acquire("c") == 0.0  # evicts the least recently used key
    assert len(limiter) == 2


def test_check_raises_a_429_problem_with_whole_seconds() -> None:
    limiter = RateLimiter(limit=1, window_seconds=2.5, clock=FakeClock())
    limiter.check("a")
    with pytest.raises(RateLimited) as raised:
        limiter.check("a")
    assert raised.value.status_code == 429 and raised.value.retry_after == 3


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(limit=0, window_seconds=1)
    with pytest.raises(ValueError):
        RateLimiter(limit=1, window_seconds=0)


async def test_the_problem_response_carries_retry_after() -> None:
    app = FastAPI()
    install_problem_handlers(app)
    limiter = RateLimiter(limit=1, window_seconds=60)

    @app.get("/limited")
    async def limited() -> dict[str, str]:
        limiter.check("k")
        return {"ok": "yes"}

    async with running_app(app) as client:
        assert (await client.get("/limited")).status_code == 200
        refused = await client.get("/limited")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "60"
    body = refused.json()
    assert body["type"].endswith("/rate-limited") and body["retry_after"] == 60
    assert "headers" not in body


@pytest.mark.parametrize(
    ("peer", "header", "expected"),
    [
        ("203.0.113.9", None, "203.0.113.9"),
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # untrusted peer: header ignored
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "198.51.100.7, 198.51.100.1", "198.51.100.1"),  # right-most counts
        ("127.0.0.1", "198.51.100.1, 127.0.0.1", "198.51.100.1"),
        ("127.0.0.1", "not-an-address", "127.0.0.1"),
        ("127.0.0.1", None, "127.0.0.1"),
        (None, "198.51.100.1", "unknown"),
    ],
)
def test_client_address(peer: str | None, header: str | None, expected: str) -> None:
    assert client_address(peer, header, trusted_proxies={"127.0.0.1", "::1"}) == expected
