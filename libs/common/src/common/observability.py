"""JSON logs carrying the request id, request-id middleware, Prometheus metrics, health routes."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
# Resident ID numbers and mainland mobile numbers never reach a log line, whatever logged them.
_ID_NUMBER = re.compile(r"(?<!\d)(\d{6})\d{8}(\d{3}[\dXx])(?!\d)")
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled", ["service", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["service", "method"]
)


def scrub(text: str) -> str:
    """Mask anything that looks like an ID number or a mobile number."""
    return _PHONE.sub(r"\1****\2", _ID_NUMBER.sub(r"\1********\2", text))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id and without personal data."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key in ("path", "status", "method", "duration_ms", "event_type", "count", "lag"):
            if key in record.__dict__:
                entry[key] = record.__dict__[key]
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            entry["trace"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(*, service: str, level: str = "INFO", json_output: bool = True) -> None:
    """Route the root logger to stdout as JSON lines."""
    handler = logging.StreamHandler(sys.stdout)
    if json_output:
        handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True


def new_request_id() -> str:
    """A fresh request id."""
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """Keep a well-formed inbound id; replace anything else (header injection, junk)."""
    if value and _VALID_REQUEST_ID.match(value):
        return value
    return new_request_id()


class RequestContextMiddleware:
    """Pure-ASGI middleware: request id in and out, access log line, metrics."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service
        self.logger = logging.getLogger(f"{service}.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        inbound = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                inbound = value.decode("latin-1")
                break
        request_id = accept_request_id(inbound)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"]
            status = status_holder["status"]
            HTTP_REQUESTS.labels(self.service, method, str(status)).inc()
            HTTP_LATENCY.labels(self.service, method).observe(elapsed)
            if scope["path"] not in ("/healthz", "/metrics"):
                self.logger.info(
                    "request",
                    extra={
                        "method": method,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            request_id_var.reset(token)


def metrics_payload() -> tuple[bytes, str]:
    """The Prometheus exposition of this process."""
    return generate_latest(), CONTENT_TYPE_LATEST


ReadinessCheck = Callable[[], Awaitable[dict[str, Any]]]
