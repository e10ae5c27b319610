"""person_key, masking and field encryption."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.exceptions import InvalidTag

from common.observability import scrub
from common.pii import FieldCipher, mask_id_number, mask_name, mask_phone, person_key


def test_person_key_is_stable_normalised_and_peppered() -> None:
    a = person_key("11010519491231002X", pepper="p1")
    assert a == person_key(" 11010519491231002x", pepper="p1")
    assert a != person_key("11010519491231002X", pepper="p2")
    assert len(a) == 64 and "11010519491231002X" not in a


def test_masks() -> None:
    assert mask_id_number("11010519491231002X") == "110105********002X"
    assert mask_name("张三") == "张*"
    assert mask_phone("13812345678") == "138****5678"


def test_field_cipher_round_trip_and_tamper_detection() -> None:
    cipher = FieldCipher(base64.b64encode(os.urandom(16)).decode())
    blob = cipher.encrypt("11010519491231002X", context=b"col")
    assert b"11010519491231002X" not in blob
    assert cipher.decrypt(blob, context=b"col") == "11010519491231002X"
    with pytest.raises(InvalidTag):
        cipher.decrypt(blob, context=b"other-col")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(InvalidTag):
        cipher.decrypt(tampered, context=b"col")


def test_log_scrubbing_masks_id_numbers_and_phones() -> None:
    text = scrub("holder 11010519491231002X phone 13812345678 count 12345")
    assert "11010519491231002X" not in text and "13812345678" not in text
    assert "110105********002X" in text and "138****5678" in text and "12345" in text


async def test_verifier_with_in_memory_keys_reports_a_bad_token_as_invalid() -> None:
    from common.auth import (
        PrincipalKind,
        TokenIssuer,
        TokenVerifier,
        generate_signing_key,
        public_jwks,
    )
    from common.errors import Unauthenticated

    key = generate_signing_key()
    issuer = TokenIssuer(key, issuer="iss", audience="aud")
    verifier = TokenVerifier(issuer="iss", audience="aud", jwks=public_jwks([key]))
    principal = await verifier.verify(issuer.issue(kind=PrincipalKind.BANK, subject="bank-1"))
    assert principal.kind is PrincipalKind.BANK and principal.subject == "bank-1"
    with pytest.raises(Unauthenticated, match="invalid or expired"):
        await verifier.verify("not.a.token")
    other = TokenIssuer(key, issuer="someone-else", audience="aud")
    with pytest.raises(Unauthenticated, match="invalid or expired"):
        await verifier.verify(other.issue(kind=PrincipalKind.BANK, subject="bank-1"))
