"""GB 11643 resident ID and GB 32100 USCC checks."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.identifiers import check_uscc, id_number_problem, is_valid_id_number

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def with_check(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


@pytest.mark.parametrize(
    "number",
    [
        "11010519491231002X",
        "11010519491231002x",
        " 11010519491231002X ",
        with_check("33090219900307123"),
        with_check("33011319950101001"),
        with_check("33011419950101001"),
    ],
)
def test_valid_numbers_are_accepted(number: str) -> None:
    assert is_valid_id_number(number)


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("110105194912310021", "checksum"),
        ("11010519491231002", "format"),
        ("1101051949123100XX", "format"),
        ("11010519491332002X", "birth_date"),
        (with_check("99010519491231002"), "province"),
        (with_check("33090230000101001"), "birth_date"),
        (with_check("33090219000229001"), "birth_date"),
    ],
)
def test_invalid_numbers_give_a_reason(number: str, reason: str) -> None:
    assert id_number_problem(number, today=date(2026, 11, 27)) == reason


@given(
    area=st.sampled_from(["330902", "330113", "330103", "110105", "440305"]),
    born=st.dates(min_value=date(1930, 1, 1), max_value=date(2010, 12, 31)),
    seq=st.integers(min_value=0, max_value=999),
    position=st.integers(min_value=0, max_value=17),
    delta=st.integers(min_value=1, max_value=9),
)
def test_every_single_digit_error_is_caught(
    area: str, born: date, seq: int, position: int, delta: int
) -> None:
    valid = with_check(f"{area}{born:%Y%m%d}{seq:03d}")
    assert is_valid_id_number(valid)
    chars = list(valid)
    if position == 17:
        alphabet = "0123456789X"
        chars[17] = alphabet[(alphabet.index(chars[17]) + delta) % 11]
    else:
        chars[position] = str((int(chars[position]) + delta) % 10)
    assert not is_valid_id_number("".join(chars))


def test_uscc_valid_and_checksum_warning() -> None:
    assert check_uscc("91110000600037341L").checksum_ok
    assert check_uscc("91110000600037341L").warning is None
    early = check_uscc("91350100M0001TGQXM")
    assert early.well_formed and not early.checksum_ok
    assert early.warning == "uscc_checksum_mismatch"
    assert not check_uscc("9111000060003734IL").well_formed  # I is not in the alphabet
    assert not check_uscc("short").well_formed
