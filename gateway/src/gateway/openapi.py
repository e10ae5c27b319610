"""One OpenAPI document for the platform: the gateway's routes plus every service's, prefixed."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import swagger_ui_bundle
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from gateway.upstreams import Upstreams

logger = logging.getLogger("gateway.openapi")
SWAGGER_ASSETS = "/docs/assets"
SWAGGER_DIR = str(swagger_ui_bundle.swagger_ui_path)
_COMPONENTS = "#/components/"


def _component_prefix(service: str) -> str:
    return service.capitalize() + "_"


def _rewrite_refs(node: Any, prefix: str) -> Any:
    """Copy of `node` with every local component reference renamed with `prefix`."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = _renamed_ref(value, prefix)
            elif key == "mapping" and isinstance(value, dict):  # discriminator mapping
                out[key] = {
                    k: _renamed_ref(v, prefix) if isinstance(v, str) else _rewrite_refs(v, prefix)
                    for k, v in value.items()
                }
            else:
                out[key] = _rewrite_refs(value, prefix)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, prefix) for item in node]
    return node


def _renamed_ref(ref: str, prefix: str) -> str:
    if not ref.startswith(_COMPONENTS):
        return ref
    section, _, name = ref[len(_COMPONENTS) :].partition("/")
    return f"{_COMPONENTS}{section}/{prefix}{name}" if name else ref


def _rename_security(requirements: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [{prefix + name: scopes for name, scopes in req.items()} for req in requirements]


def service_fragment(*, service: str, document: dict[str, Any]) -> dict[str, Any]:
    """A service's document rewritten for the gateway: paths, components, refs and tags prefixed."""
    prefix = _component_prefix(service)
    doc = _rewrite_refs(document, prefix)
    default_security = doc.get("security")
    paths: dict[str, Any] = {}
    for path, item in (doc.get("paths") or {}).items():
        new_item = dict(item)
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue  # shared `parameters`, `summary`, … of the path item
            op = dict(operation)
            if "operationId" in op:
                op["operationId"] = f"{service}_{op['operationId']}"
            op["tags"] = [f"{service}/{tag}" for tag in op.get("tags", [])] or [service]
            security = op.get("security", default_security)
            if security is not None:
                op["security"] = _rename_security(security, prefix)
            new_item[method] = op
        paths[f"/api/{service}{path}"] = new_item
    components = {
        section: {prefix + name: value for name, value in entries.items()}
        for section, entries in (doc.get("components") or {}).items()
        if isinstance(entries, dict)
    }
    tags = [
        {**tag, "name": f"{service}/{tag['name']}"}
        for tag in doc.get("tags", [])
        if isinstance(tag, dict) and "name" in tag
    ]
    return {"paths": paths, "components": components, "tags": tags}


def merge_documents(
    *, gateway: dict[str, Any], services: dict[str, dict[str, Any] | None]
) -> dict[str, Any]:
    """The gateway's own document plus each available service's; the others are listed."""
    merged = copy.deepcopy(gateway)
    merged.setdefault("paths", {})
    components = merged.setdefault("components", {})
    tags: list[dict[str, Any]] = merged.setdefault("tags", [])
    unavailable = []
    for service, document in services.items():
        if document is None:
            unavailable.append(service)
            continue
        fragment = service_fragment(service=service, document=document)
        merged["paths"].update(fragment["paths"])
        for section, entries in fragment["components"].items():
            components.setdefault(section, {}).update(entries)
        tags.extend(fragment["tags"])
    if not tags:
        merged.pop("tags")
    if not components:
        merged.pop("components")
    merged["x-unavailable-services"] = unavailable
    return merged


class MergedOpenAPI:
    """Fetches the services' documents (short timeout) and keeps the merged result for a while."""

    def __init__(
        self,
        *,
        upstreams: Upstreams,
        own: Callable[[], dict[str, Any]],
        timeout: float,
        ttl: float,
    ) -> None:
        self.upstreams = upstreams
        self.own = own
        self.timeout = timeout
        self.ttl = ttl
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def _fetch(self, service: str, base_url: str) -> dict[str, Any] | None:
        try:
            status, body = await self.upstreams.get_json(
                url=f"{base_url}/openapi.json", timeout_seconds=self.timeout
            )
        except (TimeoutError, aiohttp.ClientError, ValueError):
            logger.warning("openapi of %s unavailable", service)
            return None
        if status != 200 or not isinstance(body, dict):
            logger.warning("openapi of %s unavailable (HTTP %s)", service, status)
            return None
        return body

    async def document(self) -> dict[str, Any]:
        """The merged document, rebuilt at most every `ttl` seconds."""
        async with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.ttl:
                return self._cached[1]
            names = list(self.upstreams.urls)
            fetched = await asyncio.gather(
                *(self._fetch(name, self.upstreams.urls[name]) for name in names)
            )
            services = dict(zip(names, fetched, strict=True))
            merged = merge_documents(gateway=self.own(), services=services)
            self._cached = (time.monotonic(), merged)
            return merged


def swagger_page(*, openapi_url: str, title: str) -> HTMLResponse:
    """Swagger UI served from the packaged assets (works offline)."""
    return get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER_ASSETS}/favicon-32x32.png",
    )
