"""Checks of official identifier formats: resident ID (GB 11643-1999) and USCC (GB 32100-2015)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from operator import mul

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# Digits as ASCII codes: each is its value + 48, so the weighted sum of the codes exceeds the
# weighted sum of the digits by this much (lets the sum run in C: ~10x faster on imports).
_ID_ASCII_OFFSET = 48 * sum(_ID_WEIGHTS)
# Two-digit province prefixes of mainland China, Hong Kong, Macao and Taiwan residence permits.
_PROVINCES = frozenset(
    {
        11,
        12,
        13,
        14,
        15,
        21,
        22,
        23,
        31,
        32,
        33,
        34,
        35,
        36,
        37,
        41,
        42,
        43,
        44,
        45,
        46,
        50,
        51,
        52,
        53,
        54,
        61,
        62,
        63,
        64,
        65,
        71,
        81,
        82,
        83,
        91,
    }
)
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def normalise_id_number(value: str) -> str:
    """Trim and upper-case an ID number (a lowercase x check character is accepted)."""
    return value.strip().upper()


def id_number_problem(value: str, *, today: date | None = None) -> str | None:
    """Why an ID number is invalid (a reason code), or None when it is valid.

    Unknown area codes are accepted: codes change yearly and people keep old numbers.
    """
    number = normalise_id_number(value)
    if len(number) != 18 or not number[:17].isdigit() or number[17] not in "0123456789X":
        return "format"
    if int(number[:2]) not in _PROVINCES:
        return "province"
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "birth_date"
    if born.year < 1900 or born > (today or date.today()):
        return "birth_date"
    total = sum(map(mul, number[:17].encode("ascii"), _ID_WEIGHTS)) - _ID_ASCII_OFFSET
    if _ID_CHECK[total % 11] != number[17]:
        return "checksum"
    return None


def is_valid_id_number(value: str) -> bool:
    """True when the value is a well-formed, checksum-valid resident ID number."""
    return id_number_problem(value) is None


@dataclass(frozen=True)
class UsccCheck:
    """Result of checking a unified social credit code; a checksum failure is only a warning."""

    code: str
    well_formed: bool
    checksum_ok: bool

    @property
    def warning(self) -> str | None:
        """A warning an official may override, or None."""
        if not self.well_formed:
            return None
        return None if self.checksum_ok else "uscc_checksum_mismatch"


def check_uscc(value: str) -> UsccCheck:
    """Check a USCC: 18 characters over the GB 32100 alphabet, then its check character."""
    code = value.strip().upper()
    if len(code) != 18 or any(c not in _USCC_ALPHABET for c in code):
        return UsccCheck(code=code, well_formed=False, checksum_ok=False)
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(code[:17], _USCC_WEIGHTS, strict=True))
    expected = _USCC_ALPHABET[(31 - total % 31) % 31]
    return UsccCheck(code=code, well_formed=True, checksum_ok=expected == code[17])
