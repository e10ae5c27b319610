"""The proxy layer against a real upstream: routing, headers, streaming, failures, tokens."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from common.errors import PROBLEM_JSON

SECRET_MARKERS = ("Traceback", "Errno", "Connect call failed", "aiohttp", "Exception")


def headers_of(echo: dict[str, Any]) -> dict[str, str]:
    """The upstream's view of the request headers (last value wins)."""
    return dict(echo["headers"])


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """A problem+json document with the status, and no exception text."""
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://problems.dinghai.local/")
    assert not any(marker in response.text for marker in SECRET_MARKERS)
    return body


async def test_routes_service_paths_and_keeps_query(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/evaluation/v1/certificates?limit=5&cursor=a%2Fb&q=x+y")
    assert response.status_code == 200
    echo = response.json()
    assert echo["path"] == "/v1/certificates"
    assert echo["query"] == "limit=5&cursor=a%2Fb&q=x+y"
    assert echo["method"] == "GET"


async def test_routes_healthz_post_and_dashboard(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/evaluation/healthz")).json() == {"status": "ok"}
    created = await client.post("/api/training/v1/certificates", json={"holder": "h", "level": 3})
    assert created.status_code == 201
    assert created.json() == {"id": "c1", "holder": "h"}
    invalid = await client.post("/api/training/v1/certificates", json={"holder": "h"})
    assert invalid.status_code == 422  # the service's own answer, passed through
    root = (await client.get("/dashboard")).json()
    assert root["path"] == "/dashboard"
    sub = (await client.get("/dashboard/towns/jintang?year=2026")).json()
    assert (sub["path"], sub["query"]) == ("/dashboard/towns/jintang", "year=2026")


async def test_unknown_service_is_a_404_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/api/payroll/v1/things"), 404)
    assert body["title"] == "Not found"


async def test_hop_by_hop_headers_are_stripped_both_ways(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/training/echo",
        headers={
            "Connection": "keep-alive, X-Hop-Req",
            "X-Hop-Req": "secret",
            "TE": "trailers",
            "Keep-Alive": "timeout=5",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "X-Custom": "kept",
        },
    )
    seen = headers_of(response.json())
    for name in (
        "connection",
        "x-hop-req",
        "te",
        "keep-alive",
        "proxy-authorization",
        "upgrade",
        "trailer",
        "transfer-encoding",
    ):
        assert name not in seen, name
    assert seen["x-custom"] == "kept"

    hop = await client.get("/api/training/hop")
    assert hop.status_code == 200
    for name in ("x-hop-resp", "keep-alive", "proxy-authenticate", "trailer"):
        assert name not in hop.headers, name
    assert hop.headers.get("connection", "keep-alive").lower() != "x-hop-resp"
    assert hop.headers["x-kept"] == "yes"
    assert hop.text == "ok"


async def test_forwarded_headers_are_set(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/training/echo", headers={"X-Forwarded-For": "6.6.6.6", "Host": "api.example"}
    )
    seen = headers_of(response.json())
    assert seen["x-forwarded-for"] == "127.0.0.1"  # the peer, not what the caller claims
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == "api.example"
    assert seen["x-forwarded-prefix"] == "/api/training"
    assert seen["host"].startswith("127.0.0.1:")


async def test_request_id_is_propagated_and_returned(client: httpx.AsyncClient) -> None:
    given = "req-0123456789abcdef"
    response = await client.get("/api/training/echo", headers={"X-Request-ID": given})
    assert response.headers["x-request-id"] == given
    assert headers_of(response.json())["x-request-id"] == given

    generated = await client.get("/api/training/echo")
    request_id = generated.headers["x-request-id"]
    assert len(request_id) >= 8
    assert headers_of(generated.json())["x-request-id"] == request_id

    junk = await client.get("/api/training/echo", headers={"X-Request-ID": "bad id\twith junk"})
    assert junk.headers["x-request-id"] != "bad id\twith junk"
    assert headers_of(junk.json())["x-request-id"] == junk.headers["x-request-id"]
    assert len(junk.headers.get_list("x-request-id")) == 1


async def test_problem_responses_carry_the_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/payroll/x", headers={"X-Request-ID": "req-problem-0001"})
    assert response.headers["x-request-id"] == "req-problem-0001"


@pytest.mark.parametrize("chunked", [True, False])
async def test_large_request_body_is_streamed(client: httpx.AsyncClient, chunked: bool) -> None:
    parts = [bytes([i % 251]) * 65_536 for i in range(128)]  # 8 MiB
    expected = hashlib.sha256(b"".join(parts)).hexdigest()

    async def body() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    content: Any = body() if chunked else b"".join(parts)
    response = await client.post("/api/training/upload", content=content)
    assert response.status_code == 200
    received = response.json()
    assert received["size"] == 8 * 1024 * 1024
    assert received["sha256"] == expected
    if not chunked:
        assert received["content_length"] == str(8 * 1024 * 1024)


async def test_large_response_body_is_streamed(
    client: httpx.AsyncClient, body_pattern: Callable[[int, int], bytes]
) -> None:
    size = 16 * 1024 * 1024 + 123
    digest, received = hashlib.sha256(), 0
    async with client.stream("GET", f"/api/training/download?size={size}") as response:
        assert response.status_code == 200
        async for chunk in response.aiter_bytes():
            digest.update(chunk)
            received += len(chunk)
    expected = hashlib.sha256()
    for offset in range(0, size, 64 * 1024):
        expected.update(body_pattern(offset, min(64 * 1024, size - offset)))
    assert received == size
    assert digest.hexdigest() == expected.hexdigest()


async def test_response_chunks_arrive_as_the_service_sends_them(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    async with client.stream("GET", "/api/training/drip") as response:
        chunks = response.aiter_raw()
        first = await chunks.__anext__()
        first_at = time.monotonic() - started
        rest = b"".join([chunk async for chunk in chunks])
    assert first == b"first;"
    assert rest == b"second"
    assert first_at < 0.9  # the service sleeps 1 s before its second chunk


async def test_unreachable_service_is_a_502_problem(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    response = await client.get("/api/finance/v1/eligibility")
    assert time.monotonic() - started < 2.5
    body = assert_problem(response, 502)
    assert body["title"] == "Bad gateway"
    assert "x-request-id" in response.headers


async def test_slow_service_is_a_504_problem(start_gateway: Any) -> None:
    async with (
        start_gateway(upstream_timeout_seconds=0.5) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        started = time.monotonic()
        response = await http.get("/api/training/slow")
        elapsed = time.monotonic() - started
    assert 0.4 < elapsed < 2.0  # the service would answer after 3 s
    body = assert_problem(response, 504)
    assert body["title"] == "Gateway timeout"


async def test_bad_bearer_token_is_a_401_problem(client: httpx.AsyncClient) -> None:
    for token in ("not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."):
        response = await client.get(
            "/api/training/echo", headers={"Authorization": f"Bearer {token}"}
        )
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_good_bearer_token_passes_and_anonymous_passes(client: httpx.AsyncClient) -> None:
    issued = await client.post("/auth/dev/token", json={"kind": "bank", "subject": "bank-01"})
    token = issued.json()["access_token"]
    response = await client.get("/api/training/echo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert headers_of(response.json())["authorization"] == f"Bearer {token}"
    assert (await client.get("/api/training/echo")).status_code == 200
