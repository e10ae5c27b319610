"""person_key, masking and field encryption."""

from __future__ import annotations

import base64
import hashlib
import hmac
import multiprocessing
import os
import pickle
import threading

import pytest
from cryptography.exceptions import InvalidTag

from common.observability import scrub
from common.pii import (
    FieldCipher,
    hmac_sha256_hex,
    mask_id_number,
    mask_name,
    mask_phone,
    person_key,
)


def test_person_key_is_stable_normalised_and_peppered() -> None:
    a = person_key("11010519491231002X", pepper="p1")
    assert a == person_key(" 11010519491231002x", pepper="p1")
    assert a != person_key("11010519491231002X", pepper="p2")
    assert len(a) == 64 and "11010519491231002X" not in a


@pytest.mark.parametrize("key_length", [0, 1, 32, 63, 64, 65, 200])
def test_hmac_sha256_hex_equals_the_standard_library(key_length: int) -> None:
    key = bytes(range(256))[:key_length]
    for message in (b"", b"11010519491231002X", "张三".encode(), os.urandom(300)):
        expected = hmac.new(key, message, hashlib.sha256).hexdigest()
        assert hmac_sha256_hex(key, message) == expected
    assert (
        person_key("11010519491231002X", pepper="p1")
        == hmac.new(b"p1", b"11010519491231002X", hashlib.sha256).hexdigest()
    )


def _nonce(blob: bytes) -> bytes:
    return blob[1:13]


def _child_nonces(cipher: FieldCipher, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put([_nonce(cipher.encrypt("x")) for _ in range(50)])


def test_field_cipher_nonces_never_repeat_across_threads_and_forks() -> None:
    cipher = FieldCipher(base64.b64encode(os.urandom(16)).decode())
    parent = [_nonce(cipher.encrypt("x")) for _ in range(10)]  # the buffer is now half-used
    results: list[list[bytes]] = []

    def encrypt_many() -> None:
        results.append([_nonce(cipher.encrypt("x")) for _ in range(5000)])  # > one buffer

    threads = [threading.Thread(target=encrypt_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # A forked child inherits the parent's unused buffer: it must not reuse it.
    queue: multiprocessing.Queue = multiprocessing.get_context("fork").Queue()  # type: ignore[type-arg]
    child = multiprocessing.get_context("fork").Process(target=_child_nonces, args=(cipher, queue))
    child.start()
    forked = queue.get(timeout=30)
    child.join(timeout=30)
    parent += [_nonce(cipher.encrypt("x")) for _ in range(50)]
    # A cipher sent to a worker process (pickled) decrypts what the original encrypted.
    copy = pickle.loads(pickle.dumps(cipher))  # noqa: S301 (our own bytes)
    copied = [_nonce(copy.encrypt("x")) for _ in range(50)]
    assert copy.decrypt(cipher.encrypt("张三", context=b"c"), context=b"c") == "张三"
    every = parent + forked + copied + [n for batch in results for n in batch]
    assert len(every) == 10 + 50 + 50 + 50 + 4 * 5000
    assert len(set(every)) == len(every)
    assert all(len(n) == 12 for n in every)


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


@pytest.mark.parametrize("direct", [True, False], ids=["binding", "cipher"])
def test_encryption_is_the_same_through_the_binding_and_through_cipher(
    monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    """`encrypt` calls the binding `Cipher.encryptor()` calls, or `Cipher` where the binding
    is missing: with the same nonce, both give the bytes of the public API."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from common import pii

    assert pii._encryption_context is not None  # the locked release of cryptography has it
    if not direct:
        monkeypatch.setattr(pii, "_encryption_context", None)
    key, nonce = os.urandom(16), os.urandom(12)
    cipher = FieldCipher(base64.b64encode(key).decode())
    monkeypatch.setattr(cipher._nonces, "take", lambda: nonce)
    plaintext = '["11010519491231002X", "张三"]'
    public = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    public.authenticate_additional_data(b"col")
    body = public.update(plaintext.encode()) + public.finalize()
    blob = cipher.encrypt(plaintext, context=b"col")
    assert blob == b"\x01" + nonce + public.tag + body
    assert cipher.decrypt(blob, context=b"col") == plaintext


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
