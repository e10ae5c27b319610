"""One HTTP hop's hygiene: hop-by-hop headers, made-up request ids, the streamed request body."""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import AsyncIterator
from secrets import token_hex

from starlette.types import Receive

HOP_BY_HOP = frozenset(
    b"connection keep-alive proxy-authenticate proxy-authorization te trailer transfer-encoding"
    b" upgrade".split()
)
# Replaced by the gateway's own values (or by the HTTP client, for `host`).
_REQUEST_REPLACED = frozenset(
    b"host x-request-id x-forwarded-for x-forwarded-proto x-forwarded-host x-forwarded-prefix"
    b" expect".split()
)
# The gateway's server (uvicorn) writes its own `date` and `server`.
_RESPONSE_REPLACED = frozenset({b"date", b"server"})
_REQUEST_SKIP = HOP_BY_HOP | _REQUEST_REPLACED
SMALL_BODY = 256 * 1024
# Request ids the gateway makes up: unique, cheaper than uuid4 (os.urandom per request).
_ID_PREFIX = token_hex(8)
_ID_COUNTER = itertools.count(int.from_bytes(os.urandom(4)))
CLIENT_CLOSED = 499  # status recorded (never sent) when the caller hung up mid-request


class ClientGone(Exception):
    """The client disconnected while its request body was being forwarded."""


def _connection_tokens(value: bytes | None) -> frozenset[bytes]:
    if not value:
        return frozenset()
    return frozenset(token.strip().lower() for token in value.split(b","))


@functools.lru_cache(maxsize=64)
def request_skip(connection: bytes | None) -> frozenset[bytes]:
    """Request headers not forwarded, given the `Connection` header (few distinct values)."""
    return _REQUEST_SKIP | _connection_tokens(connection)


def next_request_id() -> str:
    """A fresh request id: 32 hex characters, a random per-process prefix and a counter."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFFFFFFFFFF:016x}"


def response_headers(raw: tuple[tuple[bytes, bytes], ...]) -> list[tuple[bytes, bytes]]:
    """Upstream response headers minus hop-by-hop ones (and any named in `Connection`)."""
    named: frozenset[bytes] = frozenset()
    for key, value in raw:
        if key.lower() == b"connection":
            named = named | _connection_tokens(value)
    headers = []
    for key, value in raw:
        lowered = key.lower()
        if lowered in HOP_BY_HOP or lowered in _RESPONSE_REPLACED or lowered in named:
            continue
        headers.append((lowered, value))
    return headers


async def request_body(receive: Receive, gone: list[bool]) -> AsyncIterator[bytes]:
    """The client's request body, chunk by chunk as it arrives."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.append(True)
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
