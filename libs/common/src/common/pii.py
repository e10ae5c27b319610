"""Personal data: pseudonymous person keys, masking, and field encryption (SM4-GCM)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from common.identifiers import normalise_id_number

_NONCE_BYTES = 12
_TAG_BYTES = 16
_FORMAT = b"\x01"  # version byte of the ciphertext layout: version | nonce | tag | ciphertext


def person_key(id_number: str, *, pepper: str) -> str:
    """HMAC-SHA256(pepper, normalised ID number) as hex: the cross-service identity of a person."""
    digest = hmac.new(
        pepper.encode(), normalise_id_number(id_number).encode(), hashlib.sha256
    ).hexdigest()
    return digest


def mask_id_number(id_number: str) -> str:
    """Keep the area code and the last four characters: `110105********002X`."""
    number = normalise_id_number(id_number)
    if len(number) < 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_name(name: str) -> str:
    """Keep the family name (first character): `张*` / `欧**`."""
    name = name.strip()
    if len(name) <= 1:
        return "*"
    return name[0] + "*" * (len(name) - 1)


def mask_phone(phone: str) -> str:
    """Keep three leading and four trailing digits: `138****5678`."""
    digits = phone.strip()
    if len(digits) < 8:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


class FieldCipher:
    """Authenticated encryption of single fields with SM4-GCM (GB/T 39786 confidentiality)."""

    def __init__(self, key_b64: str) -> None:
        key = base64.b64decode(key_b64)
        if len(key) != 16:
            raise ValueError("the field key must be 16 bytes (base64)")
        self._algorithm = algorithms.SM4(key)  # immutable; built once, not per field

    def encrypt(self, plaintext: str, *, context: bytes = b"") -> bytes:
        """Encrypt; `context` (e.g. a column name) is bound as associated data."""
        nonce = os.urandom(_NONCE_BYTES)
        encryptor = Cipher(self._algorithm, modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(context)
        body = encryptor.update(plaintext.encode()) + encryptor.finalize()
        return _FORMAT + nonce + encryptor.tag + body

    def decrypt(self, blob: bytes, *, context: bytes = b"") -> str:
        """Decrypt and authenticate; raises on tampering or a wrong key."""
        if blob[:1] != _FORMAT:
            raise ValueError("unknown ciphertext format")
        nonce = blob[1 : 1 + _NONCE_BYTES]
        tag = blob[1 + _NONCE_BYTES : 1 + _NONCE_BYTES + _TAG_BYTES]
        body = blob[1 + _NONCE_BYTES + _TAG_BYTES :]
        decryptor = Cipher(self._algorithm, modes.GCM(nonce, tag)).decryptor()
        decryptor.authenticate_additional_data(context)
        return (decryptor.update(body) + decryptor.finalize()).decode()
