"""Signing key, JWKS and the development token issuer."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.auth import OfficialRole, PrincipalKind, TokenVerifier, load_signing_key
from common.identifiers import check_uscc
from common.pii import person_key
from common.settings import DEV_PEPPER
from gateway.exceptions import SigningKeyMissing
from gateway.main import create_app
from gateway.settings import SERVICES, GatewaySettings

VALID_ID = "11010519491231002X"
BAD_CHECKSUM_ID = "110105194912310021"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ISSUER, AUDIENCE = "https://gateway.dinghai.local", "dinghai-skills"
Claims = Callable[[str], dict[str, Any]]


def uscc(body17: str) -> str:
    """A USCC with a correct check character."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body17, USCC_WEIGHTS, strict=True))
    return body17 + USCC_ALPHABET[(31 - total % 31) % 31]


async def issue(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    """POST /auth/dev/token."""
    return await client.post("/auth/dev/token", json=body)


def field_error(response: httpx.Response) -> dict[str, Any]:
    """The single field error of a 422 problem."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors: list[dict[str, Any]] = response.json()["errors"]
    return errors[0]


async def test_citizen_token_carries_the_person_key_only(
    client: httpx.AsyncClient, claims_of: Claims
) -> None:
    response = await issue(client, kind="citizen", subject=VALID_ID)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    claims = claims_of(body["access_token"])
    assert claims["sub"] == person_key(VALID_ID, pepper=DEV_PEPPER)
    assert claims["kind"] == "citizen"
    assert claims["scope"] == ""
    assert (claims["iss"], claims["aud"]) == (ISSUER, AUDIENCE)
    payload = json.dumps(claims)
    assert VALID_ID not in payload and VALID_ID[:17] not in payload
    assert VALID_ID not in body["access_token"]


async def test_lowercase_check_character_is_the_same_person(
    client: httpx.AsyncClient, claims_of: Claims
) -> None:
    response = await issue(client, kind="citizen", subject=VALID_ID.lower())
    assert claims_of(response.json()["access_token"])["sub"] == person_key(
        VALID_ID, pepper=DEV_PEPPER
    )


async def test_invalid_id_checksum_is_a_422_naming_subject(client: httpx.AsyncClient) -> None:
    response = await issue(client, kind="citizen", subject=BAD_CHECKSUM_ID)
    error = field_error(response)
    assert (error["field"], error["reason"]) == ("subject", "checksum")
    assert BAD_CHECKSUM_ID not in response.text


async def test_enterprise_needs_a_well_formed_uscc(
    client: httpx.AsyncClient, claims_of: Claims
) -> None:
    good = uscc("91330902MA2A01234")
    assert check_uscc(good).checksum_ok
    response = await issue(client, kind="enterprise", subject=good)
    assert claims_of(response.json()["access_token"])["sub"] == good
    mismatch = good[:17] + ("0" if good[17] != "0" else "1")
    assert (await issue(client, kind="enterprise", subject=mismatch)).status_code == 200
    error = field_error(await issue(client, kind="enterprise", subject="not-a-uscc"))
    assert (error["field"], error["reason"]) == ("subject", "format")


@pytest.mark.parametrize("kind", ["institution", "evaluation_body", "bank"])
async def test_client_kinds_take_a_client_id(
    client: httpx.AsyncClient, claims_of: Claims, kind: str
) -> None:
    response = await issue(client, kind=kind, subject="acme.training_01")
    claims = claims_of(response.json()["access_token"])
    assert (claims["kind"], claims["sub"]) == (kind, "acme.training_01")
    for bad in ("-leading-dash", "has space", "x" * 65, "ok\n"):
        assert field_error(await issue(client, kind=kind, subject=bad))["field"] == "subject"


async def test_officials_need_a_role_and_town_officers_a_known_town(
    client: httpx.AsyncClient, claims_of: Claims
) -> None:
    admin = await issue(client, kind="official", subject="staff-1", role="district_admin")
    claims = claims_of(admin.json()["access_token"])
    assert (claims["kind"], claims["role"]) == ("official", "district_admin")
    officer = await issue(
        client, kind="official", subject="staff-2", role="town_officer", town="jintang"
    )
    claims = claims_of(officer.json()["access_token"])
    assert (claims["role"], claims["town"]) == ("town_officer", "jintang")
    assert field_error(await issue(client, kind="official", subject="s"))["field"] == "role"
    missing = await issue(client, kind="official", subject="s", role="town_officer")
    assert field_error(missing)["field"] == "town"
    unknown = await issue(client, kind="official", subject="s", role="town_officer", town="paris")
    assert (field_error(unknown)["field"], field_error(unknown)["reason"]) == ("town", "unknown")
    bad_role = await issue(client, kind="official", subject="s", role="emperor")
    assert field_error(bad_role)["field"] == "role"
    not_official = await issue(client, kind="bank", subject="b", role="auditor")
    assert field_error(not_official)["field"] == "role"


async def test_unknown_fields_and_kinds_are_422(client: httpx.AsyncClient) -> None:
    extra = await issue(client, kind="bank", subject="b", scope="admin")
    assert field_error(extra)["field"] == "scope"
    assert field_error(await issue(client, kind="robot", subject="b"))["field"] == "kind"


async def test_issued_token_verifies_with_the_published_jwks(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert jwks["keys"] and all("d" not in key for key in jwks["keys"])
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=jwks)
    token = (
        await issue(client, kind="official", subject="staff-2", role="town_officer", town="maao")
    ).json()["access_token"]
    principal = await verifier.verify(token)
    assert principal.kind is PrincipalKind.OFFICIAL
    assert principal.role is OfficialRole.TOWN_OFFICER
    assert principal.town == "maao"
    # The same public keys were written for the services (auth_jwks_path), private part excluded.
    written = json.loads((tmp_path / "jwks.json").read_text())
    assert written == jwks


def production_settings(tmp_path: Path, **overrides: Any) -> GatewaySettings:
    """Production settings with non-development secrets; no service is reachable."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    values: dict[str, Any] = {
        "environment": "production",
        "log_level": "WARNING",
        "pii_pepper": "a-real-pepper-from-a-secret-store",
        "pii_field_key": base64.b64encode(b"0123456789abcdef").decode(),
        "signing_key_path": str(tmp_path / "prod-key.json"),
        "auth_jwks_path": str(tmp_path / "prod-jwks.json"),
        **{f"{name}_url": f"http://127.0.0.1:{closed_port}" for name in SERVICES},
        "openapi_timeout_seconds": 0.5,
    }
    values.update(overrides)
    return GatewaySettings(**values)


def test_production_refuses_to_start_without_a_signing_key(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyMissing):
        create_app(settings=production_settings(tmp_path))
    assert not (tmp_path / "prod-key.json").exists()


async def test_production_disables_dev_tokens(tmp_path: Path, claims_of: Claims) -> None:
    load_signing_key(tmp_path / "prod-key.json")  # provisioned key
    app = create_app(settings=production_settings(tmp_path))
    transport = httpx.ASGITransport(app=app)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        http = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://gateway")
        )
        response = await http.post("/auth/dev/token", json={"kind": "bank", "subject": "b"})
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        # Refused before the body is even read: an invalid body gets the same answer.
        assert (await http.post("/auth/dev/token", json={"nope": 1})).status_code == 403
        assert (await http.get("/.well-known/jwks.json")).status_code == 200
        document = (await http.get("/openapi.json")).json()
        assert "/auth/dev/token" not in document["paths"]
        assert "/.well-known/jwks.json" in document["paths"]
    assert not (tmp_path / "prod-jwks.json").exists()  # production never writes the JWKS file


def test_keygen_writes_a_private_key_once(tmp_path: Path) -> None:
    from gateway.__main__ import main as gateway_cli

    target = tmp_path / "secrets" / "key.json"
    gateway_cli(["keygen", str(target)])
    key = json.loads(target.read_text())
    assert key["kty"] == "EC" and key["crv"] == "P-256" and "d" in key
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(SystemExit):
        gateway_cli(["keygen", str(target)])
