"""Health, readiness, metrics, merged OpenAPI, docs and problem+json of the own routes."""

from __future__ import annotations

import json
from typing import Any

import httpx

from gateway.openapi import merge_documents, service_fragment


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "gateway"}
    assert response.headers["x-request-id"]


async def test_readyz_reports_upstreams_without_failing(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready" and body["signing"] is True
    upstreams = body["upstreams"]
    assert set(upstreams) == {"training", "evaluation", "finance", "awards", "indicators"}
    assert upstreams["training"]["status"] == "up"
    assert upstreams["training"]["http_status"] == 200
    assert upstreams["finance"]["status"] == "down"  # its port is closed
    assert upstreams["finance"]["reason"] == "unreachable"


async def test_metrics_expose_requests_and_upstream_counters(client: httpx.AsyncClient) -> None:
    await client.get("/api/training/healthz")
    await client.get("/api/finance/healthz")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'http_requests_total{method="GET",service="gateway",status="200"}' in text
    assert 'gateway_upstream_responses_total{service="training",status="200"}' in text
    assert 'gateway_upstream_errors_total{reason="unreachable",service="finance"}' in text


async def test_gateway_routes_answer_problem_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/no-such-route")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong_method = await client.delete("/healthz")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/problem+json"


def all_refs(node: Any) -> list[str]:
    """Every `$ref` value in a document."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k == "$ref" and isinstance(v, str)]
        return found + [ref for v in node.values() for ref in all_refs(v)]
    if isinstance(node, list):
        return [ref for item in node for ref in all_refs(item)]
    return []


async def test_merged_openapi(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    paths = doc["paths"]
    assert "/auth/dev/token" in paths and "/healthz" in paths  # the gateway's own
    assert "/api/evaluation/v1/certificates" in paths
    assert "/api/training/healthz" in paths
    assert not any(path.startswith("/v1/") for path in paths)
    schemas = doc["components"]["schemas"]
    assert "Evaluation_CertificateCreate" in schemas and "Training_Certificate" in schemas
    assert "CertificateCreate" not in schemas
    assert "DevTokenRequest" in schemas  # the gateway's own, unprefixed
    for ref in all_refs(doc):
        name = ref.rsplit("/", 1)[1]
        assert name in doc["components"][ref.split("/")[2]], ref
    create = paths["/api/evaluation/v1/certificates"]["post"]
    body_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref == "#/components/schemas/Evaluation_CertificateCreate"
    assert create["operationId"].startswith("evaluation_")
    assert doc["x-unavailable-services"] == ["finance"]
    assert not any(path.startswith("/api/finance/") for path in paths)
    assert (await client.get("/openapi.json")).json() == doc  # cached


def test_fragment_rewrites_mappings_security_and_tags() -> None:
    upstream = {
        "openapi": "3.1.0",
        "security": [{"bearer": []}],
        "tags": [{"name": "certs", "description": "Certificates"}],
        "paths": {
            "/v1/pets/{id}": {
                "parameters": [{"$ref": "#/components/parameters/Id"}],
                "get": {
                    "operationId": "get_pet",
                    "tags": ["certs"],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "oneOf": [{"$ref": "#/components/schemas/Cat"}],
                                        "discriminator": {
                                            "propertyName": "kind",
                                            "mapping": {"cat": "#/components/schemas/Cat"},
                                        },
                                    }
                                }
                            },
                        }
                    },
                },
            }
        },
        "components": {
            "schemas": {"Cat": {"type": "object"}},
            "parameters": {"Id": {"name": "id", "in": "path", "required": True}},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    fragment = service_fragment(service="awards", document=upstream)
    item = fragment["paths"]["/api/awards/v1/pets/{id}"]
    assert item["parameters"][0]["$ref"] == "#/components/parameters/Awards_Id"
    schema = item["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["discriminator"]["mapping"]["cat"] == "#/components/schemas/Awards_Cat"
    assert item["get"]["security"] == [{"Awards_bearer": []}]
    assert item["get"]["tags"] == ["awards/certs"]
    assert set(fragment["components"]["securitySchemes"]) == {"Awards_bearer"}
    merged = merge_documents(
        gateway={"openapi": "3.1.0", "info": {}, "paths": {}},
        services={"awards": upstream, "finance": None},
    )
    assert merged["x-unavailable-services"] == ["finance"]
    assert "#/components/schemas/Cat" not in json.dumps(merged)


async def test_docs_serve_swagger_ui_from_local_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in page.text
    assert "/openapi.json" in page.text
    asset = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert len(asset.content) > 100_000
    css = await client.get("/docs/assets/swagger-ui.css")
    assert css.status_code == 200
