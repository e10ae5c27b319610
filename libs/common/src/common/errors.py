"""RFC 9457 problem details for every error, with stable `type` URIs and no exception text."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://problems.dinghai.local/"
logger = logging.getLogger("common.errors")

_STATUS_TYPES = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "rate-limited",
    500: "internal-error",
    502: "bad-gateway",
    503: "service-unavailable",
    504: "gateway-timeout",
}


def problem_type(slug: str) -> str:
    """The absolute `type` URI for a problem slug."""
    return PROBLEM_BASE + slug


def problem_response(
    *,
    status: int,
    title: str,
    slug: str | None = None,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """Render one problem document."""
    body: dict[str, Any] = {
        "type": problem_type(slug or _STATUS_TYPES.get(status, "error")),
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extensions.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class DomainError(Exception):
    """A business rule refused the request; subclasses set status, slug and title."""

    status_code: int = 400
    slug: str = "bad-request"
    title: str = "Request refused"

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.extensions = extensions


class NotFound(DomainError):
    """The resource does not exist (or the caller may not know it does)."""

    status_code = 404
    slug = "not-found"
    title = "Not found"


class Conflict(DomainError):
    """The request conflicts with the current state."""

    status_code = 409
    slug = "conflict"
    title = "Conflict"


class Forbidden(DomainError):
    """The caller is authenticated but may not do this."""

    status_code = 403
    slug = "forbidden"
    title = "Forbidden"


class Unauthenticated(DomainError):
    """No valid credentials."""

    status_code = 401
    slug = "unauthenticated"
    title = "Authentication required"


class InvalidField(DomainError):
    """One field's value breaks a rule that the schema cannot express."""

    status_code = 422
    slug = "validation-error"
    title = "Invalid field"

    def __init__(self, *, field: str, reason: str, message: str) -> None:
        super().__init__(message, errors=[{"field": field, "reason": reason, "message": message}])


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as `{field, reason, message}` without echoing the rejected input."""
    return [
        {
            "field": _field_path(tuple(err.get("loc", ()))),
            "reason": err.get("type", "invalid"),
            "message": err.get("msg", "invalid value"),
        }
        for err in exc.errors()
    ]


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of the app a problem+json response."""

    async def on_domain_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        return problem_response(
            status=exc.status_code,
            title=exc.title,
            slug=exc.slug,
            detail=exc.detail,
            **exc.extensions,
        )

    async def on_validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(
            status=422,
            title="Request validation failed",
            slug="validation-error",
            errors=validation_errors(exc),
        )

    async def on_http(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        title = exc.detail if isinstance(exc.detail, str) else "Error"
        return problem_response(
            status=exc.status_code,
            title=title,
            headers=dict(exc.headers or {}) or None,
        )

    async def on_unhandled(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
        return problem_response(status=500, title="Internal server error")

    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unhandled)
