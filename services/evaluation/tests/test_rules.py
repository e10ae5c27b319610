"""Pure rules: status on a date, body codes, name digests, reward planning, policy ranges."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.policy import load_policy_set
from evaluation.rules import (
    BodyState,
    BodyStatus,
    EligiblePerson,
    GrantedEntry,
    RewardPolicies,
    RewardPolicy,
    StatusRow,
    body_code_problem,
    issuing_refusal,
    name_digest,
    normalise_name,
    number_matches_body,
    plan_rewards,
)

from .conftest import POLICY

RULE = RewardPolicy(version="t", per_person_fen=500, annual_cap_fen=1200)


def body(*rows: tuple[str, str, int]) -> BodyState:
    return BodyState(
        code="S0001",
        type="S",
        name="x",
        uscc=None,
        legacy=False,
        history=tuple(
            StatusRow(BodyStatus(s), date.fromisoformat(d), "r", seq) for s, d, seq in rows
        ),
    )


def test_status_on_a_date_is_the_latest_row_effective_then() -> None:
    state = body(
        ("active", "2025-01-01", 1), ("suspended", "2025-03-01", 2), ("active", "2025-02-01", 3)
    )
    assert state.status_on(date(2024, 12, 31)) is None
    assert state.status_on(date(2025, 2, 15)).status is BodyStatus.ACTIVE  # type: ignore[union-attr]
    assert state.status_on(date(2025, 3, 1)).status is BodyStatus.SUSPENDED  # type: ignore[union-attr]
    same_day = body(("active", "2025-01-01", 1), ("warned", "2025-01-01", 2))
    assert same_day.status_on(date(2025, 1, 1)).status is BodyStatus.WARNED  # type: ignore[union-attr]
    assert issuing_refusal(state, date(2024, 1, 1)) == ("not_filed", None)
    assert issuing_refusal(state, date(2025, 4, 1))[0] == "suspended"  # type: ignore[index]
    assert issuing_refusal(state, date(2025, 2, 1)) is None


@pytest.mark.parametrize(
    ("code", "kind", "problem"),
    [
        ("S0001", "S", None),
        ("Y1234", "Y", None),
        ("S000033000123", "S", None),
        ("S0001", "Y", "type_mismatch"),
        ("S00013", "S", "format"),
        ("LEGACY", "S", "format"),
        ("s0001", "S", "format"),
    ],
)
def test_body_codes(code: str, kind: str, problem: str | None) -> None:
    assert body_code_problem(code, kind) == problem


def test_numbers_carry_their_body() -> None:
    assert number_matches_body("S000133000001253000001", "S0001")
    assert not number_matches_body("S000233000001253000001", "S0001")
    assert number_matches_body("S000033000123253000001", "S000033000123")
    assert not number_matches_body("S000033000999253000001", "S000033000123")
    assert number_matches_body("0912003000300127", "S0001")  # older formats carry no body
    assert number_matches_body("S000233000001253000001", "LEGACY")


def test_names_are_compared_normalised_and_keyed() -> None:
    assert normalise_name(" 张　三 ") == "张三"  # an ideographic space
    assert normalise_name("Li Na") == normalise_name("LINA")
    assert name_digest("张三", pepper="p") == name_digest(" 张 三", pepper="p")
    assert name_digest("张三", pepper="p") != name_digest("张三", pepper="q")
    assert name_digest("张三", pepper="p") != name_digest("张四", pepper="p")


def person(key: str) -> EligiblePerson:
    return EligiblePerson(person_key=key, certificate_id=f"c-{key}", town="t", policy=RULE)


def entry(key: str, amount: int = 500) -> GrantedEntry:
    return GrantedEntry(entry_id=f"e-{key}", person_key=key, amount_fen=amount, per_person_fen=500)


def test_plan_grants_in_order_up_to_the_cap() -> None:
    plan = plan_rewards(eligible=[person(k) for k in "abcd"], granted=[], reason="x")
    assert [(p.person_key, amount) for p, amount in plan.grants] == [
        ("a", 500),
        ("b", 500),
        ("c", 200),
    ]
    assert plan.reversals == []


def test_plan_keeps_entries_and_never_displaces_anyone() -> None:
    plan = plan_rewards(
        eligible=[person("z"), person("a"), person("b")],  # z became eligible "earlier"
        granted=[entry("a"), entry("b")],
        reason="x",
    )
    assert [(p.person_key, amount) for p, amount in plan.grants] == [("z", 200)]
    assert plan.reversals == []


def test_plan_reverses_the_ineligible_and_tops_up_a_partial_entry() -> None:
    plan = plan_rewards(
        eligible=[person("b"), person("c"), person("d")],
        granted=[entry("a"), entry("b"), entry("c", 200)],
        reason="certificate_revoked",
    )
    assert [(e.person_key, why) for e, why in plan.reversals] == [
        ("a", "certificate_revoked"),
        ("c", "regranted"),
    ]
    assert [(p.person_key, amount) for p, amount in plan.grants] == [("c", 500), ("d", 200)]


def test_plan_reverses_a_duplicate_entry_of_one_person() -> None:
    plan = plan_rewards(eligible=[person("a")], granted=[entry("a"), entry("a")], reason="x")
    assert len(plan.reversals) == 1 and plan.grants == []


RULES = (RULE, RewardPolicy(version="u", per_person_fen=300, annual_cap_fen=1500))
ledgers = st.lists(
    st.tuples(
        st.sampled_from(RULES),  # the person's rule
        st.booleans(),  # holds an entry
        st.sampled_from((1.0, 0.5)),  # its amount: the rule's per person, or part of it
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(ledger=ledgers)
def test_plan_without_full_entries_and_their_persons_is_the_same_plan(ledger) -> None:
    """What `settle_rewards(issued_only=True)` relies on: with every entry holder still
    eligible, leaving full entries and their holders out (their sum passed instead) plans the
    same reversals and grants."""
    eligible, granted = [], []
    for index, (rule, holds, share) in enumerate(ledger):
        key = f"p{index}"
        eligible.append(
            EligiblePerson(person_key=key, certificate_id=f"c-{key}", town="t", policy=rule)
        )
        if holds:
            amount = int(rule.per_person_fen * share)
            granted.append(GrantedEntry(f"e-{key}", key, amount, rule.per_person_fen))
    full = {e.person_key for e in granted if e.amount_fen >= e.per_person_fen}
    whole = plan_rewards(eligible=eligible, granted=granted, reason="x")
    reduced = plan_rewards(
        eligible=[p for p in eligible if p.person_key not in full],
        granted=[e for e in granted if e.person_key not in full],
        reason="x",
        held_elsewhere_fen=sum(e.amount_fen for e in granted if e.person_key in full),
    )
    assert reduced == whole


def test_reward_rules_follow_the_policy_versions() -> None:
    rules = RewardPolicies.from_policy_set(load_policy_set(POLICY))
    assert rules.for_day(date(2024, 12, 31)) is None
    rule = rules.for_day(date(2025, 1, 1))
    assert rule is not None
    assert (rule.per_person_fen, rule.annual_cap_fen, rule.version) == (50_000, 5_000_000, "2025.1")
    assert rules.by_version("2025.1") == rule and rules.by_version("1999.1") is None


def test_ids_of_rows_written_together_are_uuid7_in_order() -> None:
    import uuid

    from evaluation.certificates.store import ordered_ids

    ids = ordered_ids(5_000)
    assert ids == sorted(ids) and len(set(ids)) == 5_000
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert ordered_ids(0) == []


def test_ordered_ids_stay_in_order_where_the_counter_carries_into_rand_a(monkeypatch) -> None:
    import sys
    import time
    import uuid

    from evaluation.certificates import store

    start = (1 << 30) - 2  # the counter's low 30 bits overflow after two ids
    randoms = iter([(start << 1).to_bytes(5, "big"), bytes(range(16))])
    monkeypatch.setattr(store.os, "urandom", lambda n: next(randoms)[:n])
    before = time.time_ns() // 1_000_000
    ids = store.ordered_ids(4)
    parsed = [uuid.UUID(i) for i in ids]
    assert ids == sorted(ids) and [str(u) for u in parsed] == ids
    counters = [(u.int >> 64 & 0xFFF) << 30 | (u.int >> 32 & 0x3FFF_FFFF) for u in parsed]
    assert counters == [start, start + 1, start + 2, start + 3]
    assert [u.int & 0xFFFF_FFFF for u in parsed] == [
        int.from_bytes(bytes(range(16))[4 * i : 4 * i + 4], sys.byteorder) for i in range(4)
    ]
    assert all(before <= u.int >> 80 <= time.time_ns() // 1_000_000 for u in parsed)
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
