"""The officials' dashboard: one HTML page and its assets, served by this service.

The gateway proxies `/dashboard` and `/dashboard/...` here unchanged. The page is plain
HTML/CSS/JS with hand-drawn SVG charts (no external network, no chart library); it reads the
public `/api/indicators/v1/...` endpoints through the gateway (or `/v1/...` when opened on the
service directly).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from common.errors import NotFound

router = APIRouter(include_in_schema=False)
ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@cache
def _asset(name: str) -> bytes:
    return resources.files("indicators").joinpath("static", name).read_bytes()


@router.get("/dashboard")
async def dashboard_redirect() -> Response:
    """`/dashboard` → `/dashboard/` (relative, so it works behind the gateway)."""
    return RedirectResponse("/dashboard/", status_code=307)


@router.get("/dashboard/")
async def dashboard_page() -> Response:
    """The dashboard page (指标晾晒)."""
    return Response(
        _asset("index.html"),
        media_type="text/html; charset=utf-8",
        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
    )


@router.get("/dashboard/static/{name}")
async def dashboard_asset(name: str) -> Response:
    """One of the page's assets (a fixed list: no paths from the request reach the disk)."""
    if name not in ASSETS:
        raise NotFound("No such asset")
    return Response(
        _asset(name),
        media_type=ASSETS[name],
        headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=300"},
    )
