"""Access rules (DESIGN.md §4): every endpoint against every kind of caller."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from evaluation.models import audit_reads

from .conftest import EMPLOYER, VALID_ID, cert_number, certificate_body

NUMBER = "S000133000001253000001"
PRINCIPALS = {
    "anonymous": None,
    "citizen": ("citizen", VALID_ID, {}),
    "enterprise": ("enterprise", EMPLOYER, {}),
    "institution": ("institution", "inst-1", {}),
    "bank": ("bank", "bank-1", {}),
    "body": ("evaluation_body", "S0001", {}),
    "admin": ("official", "admin-1", {"role": "district_admin"}),
    "town": ("official", "town-1", {"role": "town_officer", "town": "changguo"}),
    "department": ("official", "dept-1", {"role": "department_officer"}),
    "auditor": ("official", "audit-1", {"role": "auditor"}),
}
OFFICIALS = {"admin", "town", "department", "auditor"}
LEDGER = {"admin", "department", "auditor"}
ENDPOINTS = [
    ("POST", "/v1/bodies", {"code": "S0009", "type": "S", "name": "x"}, {"admin"}),
    ("GET", "/v1/bodies", None, OFFICIALS),
    ("GET", "/v1/bodies/S0001", None, OFFICIALS | {"body"}),
    (
        "POST",
        "/v1/bodies/S0001/status",
        {"status": "warned", "effective_on": "2025-01-01", "reason": "x"},
        {"admin"},
    ),
    ("POST", "/v1/certificates", certificate_body(number=cert_number(2)), {"body"}),
    ("POST", "/v1/certificates/batches", {"certificates": [certificate_body()]}, {"body"}),
    (
        "POST",
        f"/v1/certificates/{NUMBER}/revocation",
        {"reason": "x", "effective_on": "2025-05-01"},
        {"body"},
    ),
    ("GET", "/v1/certificates", None, OFFICIALS),
    ("GET", f"/v1/certificates/{NUMBER}", None, OFFICIALS | {"body"}),
    ("POST", "/v1/imports", "upload", {"admin"}),
    ("GET", "/v1/imports/some-job", None, {"admin"}),
    ("GET", "/v1/imports/some-job/errors.csv", None, {"admin"}),
    ("POST", "/v1/verifications", {"number": NUMBER, "name": "张三"}, set(PRINCIPALS)),
    ("GET", "/v1/me/certificates", None, {"citizen"}),
    ("GET", "/v1/enterprises/me/levels", None, {"enterprise"}),
    ("GET", "/v1/enterprises/me/rewards?year=2025", None, {"enterprise"}),
    ("GET", "/v1/rewards?year=2025", None, LEDGER),
    ("GET", "/v1/rewards/export.csv?year=2025", None, LEDGER),
    ("GET", "/v1/rewards/export.xlsx?year=2025", None, LEDGER),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS]
)
async def test_who_may_call_what(make_env, method, path, body, allowed) -> None:
    env = await make_env(verification_rate_limit=100)
    await env.issue()
    for name, principal in PRINCIPALS.items():
        headers = {"Idempotency-Key": f"access-{name}-0001"}
        if principal is not None:
            kind, subject, extra = principal
            headers.update(env.auth.headers(kind, subject, **extra))
        if body == "upload":
            response = await env.client.post(
                path, files={"file": ("a.csv", b"number\n1\n")}, headers=headers
            )
        else:
            response = await env.client.request(method, path, json=body, headers=headers)
        if name in allowed:
            assert response.status_code not in (401, 403), (name, response.text)
        else:
            expected = 401 if principal is None else 403
            assert response.status_code == expected, (name, response.status_code)
            assert response.headers["content-type"] == "application/problem+json"


async def test_a_town_officer_sees_the_towns_certificates_only(env) -> None:
    await env.issue()
    await env.issue(number=cert_number(2), town="jintang")
    town = env.auth.headers("official", "town-1", role="town_officer", town="jintang")
    listed = await env.client.get("/v1/certificates?town=changguo", headers=town)
    assert [c["number"] for c in listed.json()["items"]] == [cert_number(2)]
    assert (await env.client.get(f"/v1/certificates/{NUMBER}", headers=town)).status_code == 404
    admin = await env.client.get("/v1/certificates", headers=env.admin)
    assert len(admin.json()["items"]) == 2


async def test_officials_reads_are_audited(env) -> None:
    await env.issue()
    await env.client.get("/v1/certificates", headers=env.admin)
    await env.client.get(f"/v1/certificates/{NUMBER}", headers=env.admin)
    await env.client.get("/v1/rewards?year=2025", headers=env.admin)
    await env.client.get("/v1/rewards/export.csv?year=2025", headers=env.admin)
    await env.client.get(f"/v1/certificates/{NUMBER}", headers=env.headers)  # the body: not
    async with env.engine.connect() as conn:
        rows = (await conn.execute(select(audit_reads).order_by(audit_reads.c.id))).all()
    assert [(r.action, r.principal_subject, r.role) for r in rows] == [
        ("certificates.list", "admin-1", "district_admin"),
        ("certificates.read", "admin-1", "district_admin"),
        ("rewards.read", "admin-1", "district_admin"),
        ("rewards.export", "admin-1", "district_admin"),
    ]


async def test_certificate_list_filters_and_pages(env) -> None:
    for n in range(5):
        await env.issue(number=cert_number(n + 1))
    first = await env.client.get("/v1/certificates?limit=2&body_code=S0001", headers=env.admin)
    page = first.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = await env.client.get(
        f"/v1/certificates?limit=10&cursor={page['next_cursor']}", headers=env.admin
    )
    assert len(rest.json()["items"]) == 3 and rest.json()["next_cursor"] is None
    none = await env.client.get("/v1/certificates?status=revoked", headers=env.admin)
    assert none.json()["items"] == []
    flagged = await env.client.get("/v1/certificates?flagged=true", headers=env.admin)
    assert flagged.json()["items"] == []
    bad = await env.client.get("/v1/certificates?status=lost", headers=env.admin)
    assert bad.status_code == 422
