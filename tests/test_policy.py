"""The versioned policy data in `policy/`: the plan's numbers and the schema's strictness."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.policy import PolicyError, PolicySet, PolicyVersion, load_policy_set

REPO = Path(__file__).resolve().parents[1]
POLICY_DIR = REPO / "policy"
VERSION_FILE = POLICY_DIR / "versions" / "2025.1.yaml"

TOWN_CODES = {
    "changguo", "huannan", "chengdong", "yancang", "lincheng", "cengang", "maao", "shuangqiao",
    "xiaosha", "qiandao", "jintang", "baiquan", "ganlan",
}  # fmt: skip
STREETS = TOWN_CODES - {"jintang", "baiquan", "ganlan"}
LEVELS = [
    ("apprentice", 1, None),
    ("junior", 2, 5),
    ("intermediate", 3, 4),
    ("senior", 4, 3),
    ("technician", 5, 2),
    ("senior_technician", 6, 1),
    ("special_technician", 7, None),
    ("chief_technician", 8, None),
]
INDICATOR_CODES = {
    "skilled_talents", "skilled_talent_share", "high_skilled_talents", "high_skilled_share",
    "skill_villages", "skill_enterprises", "pay_for_skills_enterprises",
    "skill_enriching_enterprises", "insured_talents", "insured_enterprises", "dinghai_craftsmen",
    "craftsman_studios", "master_studios", "competitions", "key_group_coverage",
    "self_assessment_rewards", "certificate_subsidies", "post_subsidies",
}  # fmt: skip


@pytest.fixture(scope="module")
def policy_set() -> PolicySet:
    return load_policy_set(POLICY_DIR)


@pytest.fixture(scope="module")
def policy(policy_set: PolicySet) -> PolicyVersion:
    return policy_set.by_version("2025.1")


def _by_code(items: list[dict[str, Any]], key: str = "code") -> dict[str, dict[str, Any]]:
    codes = [item[key] for item in items]
    assert len(codes) == len(set(codes)), f"duplicate {key}s: {codes}"
    return {item[key]: item for item in items}


# --- which version is in effect ---------------------------------------------------------------


def test_version_in_effect_from_retroactive_start(policy_set: PolicySet) -> None:
    assert policy_set.in_effect(date(2025, 1, 1)).version == "2025.1"
    assert policy_set.in_effect(date(2025, 6, 15)).version == "2025.1"
    assert policy_set.in_effect(date(2026, 6, 1)).version == "2025.1"


def test_nothing_in_effect_before_2025(policy_set: PolicySet) -> None:
    with pytest.raises(PolicyError):
        policy_set.in_effect(date(2024, 12, 31))


def test_version_header(policy: PolicyVersion) -> None:
    data = policy.data
    assert data["version"] == "2025.1"
    assert data["source"] == {
        "notice_number": "定政发〔2025〕4号",
        "adopted_on": date(2025, 5, 9),
        "published_on": date(2025, 5, 21),
    }
    assert data["in_force_from"] == date(2025, 6, 15)
    assert policy.effective_from == date(2025, 1, 1)
    assert policy.effective_to is None


def test_every_version_file_is_named_after_its_version(policy_set: PolicySet) -> None:
    stems = sorted(p.stem for p in (POLICY_DIR / "versions").glob("*.yaml"))
    assert stems == sorted(v.version for v in policy_set.versions)


# --- reference data ---------------------------------------------------------------------------


def test_levels(policy: PolicyVersion) -> None:
    levels = policy.section("levels")
    assert [(lv["code"], lv["rank"], lv["certificate_digit"]) for lv in levels] == LEVELS
    _by_code(levels)
    assert policy.section("high_skilled_from") == "senior"


def test_certificate_modes(policy: PolicyVersion) -> None:
    assert set(_by_code(policy.section("certificate_modes"))) == {
        "enterprise_assessment",
        "social_evaluation",
        "vocational_qualification",
        "competition",
    }


def test_towns(policy: PolicyVersion) -> None:
    assert policy.section("county_code") == "330902"
    towns = _by_code(policy.section("towns"))
    assert set(towns) == TOWN_CODES
    assert {c for c, t in towns.items() if t["kind"] == "street"} == STREETS
    for town in towns.values():
        assert town["valid_from"] == date(2000, 1, 1)
        assert town["valid_to"] is None


# --- indicators -------------------------------------------------------------------------------


def test_indicator_codes_and_year_keys(policy: PolicyVersion) -> None:
    indicators = _by_code(policy.section("indicators"))
    assert set(indicators) == INDICATOR_CODES
    for indicator in indicators.values():
        assert set(indicator["targets"]) == {"2025", "2026"}  # strings, not YAML ints


@pytest.mark.parametrize(
    ("code", "comparison", "t2025", "t2026"),
    [
        ("skilled_talents", ">=", 111000, 112700),
        ("skilled_talent_share", ">", 35, 36),
        ("high_skilled_talents", ">=", 40000, 41200),
        ("high_skilled_share", ">", 36, 36.5),
        ("skill_villages", ">=", 3, 4),
        ("skill_enterprises", ">=", 7, 13),
        ("pay_for_skills_enterprises", ">=", 30, 45),
        ("skill_enriching_enterprises", ">=", None, 13),
        ("insured_talents", ">=", 8000, 10000),
        ("insured_enterprises", ">=", 60, 80),
        ("dinghai_craftsmen", ">=", None, 100),
        ("craftsman_studios", ">=", None, 15),
        ("master_studios", ">=", None, 32),
        ("competitions", ">=", 5, 5),
        ("key_group_coverage", ">=", 100, 100),
        ("self_assessment_rewards", ">=", None, None),
        ("certificate_subsidies", ">=", None, None),
        ("post_subsidies", ">=", None, None),
    ],
)
def test_indicator_targets(
    policy: PolicyVersion, code: str, comparison: str, t2025: float | None, t2026: float | None
) -> None:
    indicator = _by_code(policy.section("indicators"))[code]
    assert indicator["comparison"] == comparison
    assert indicator["targets"] == {"2025": t2025, "2026": t2026}


# --- training ---------------------------------------------------------------------------------


def test_training_quotas(policy: PolicyVersion) -> None:
    training = policy.section("training")
    domains = _by_code(training["domains"])
    assert {c: (d["person_times_quota"], d["talents_target"]) for c, d in domains.items()} == {
        "manufacturing": (2000, 1800),
        "digital_economy": (1000, 770),
        "elderly_infant_care": (500, 360),
        "modern_services": (1500, 2570),
        "common_prosperity_workshops": (500, None),
        "apprenticeship": (100, None),
        "key_groups": (None, None),
    }
    assert set(_by_code(training["key_groups"])) == {
        "rural_transfer",
        "unemployed",
        "new_graduates",
        "disabled",
        "veterans",
        "low_income",
    }
    assert training["circle_minutes"] == 30
    assert training["completion_deadline_days"] == 28
    assert set(training["travel_speeds_kmh"]) == {"walk", "bike", "bus", "car"}


# --- money ------------------------------------------------------------------------------------


def test_self_assessment_reward(policy: PolicyVersion) -> None:
    assert policy.section("rewards")["self_assessment"] == {
        "per_person_fen": 50000,
        "annual_cap_fen": 5000000,
        "basis": "per_person_per_enterprise_per_year",
    }


def test_subsidies(policy: PolicyVersion) -> None:
    subsidies = policy.section("subsidies")
    assert subsidies["certificate"] == {
        "amount_fen": 160000,
        "level": "senior",
        "once_per": "person_occupation",
    }
    assert subsidies["post"] == {
        "monthly_fen": {"technician": 40000, "senior_technician": 60000},
        "max_months": 36,
    }


def test_finance(policy: PolicyVersion) -> None:
    finance = policy.section("finance")
    loan = finance["craftsman_loan"]
    assert (loan["min_fen"], loan["max_fen"]) == (20_000_000, 50_000_000)
    tiers = {t["basis"]: t["ceiling_fen"] for t in loan["tiers"]}
    assert len(tiers) == len(loan["tiers"])
    assert tiers == {
        "senior": 20_000_000,
        "technician": 30_000_000,
        "senior_technician": 40_000_000,
        "special_technician": 50_000_000,
        "chief_technician": 50_000_000,
        "dinghai_craftsman": 50_000_000,
        "model_worker": 50_000_000,
    }
    assert all(loan["min_fen"] <= c <= loan["max_fen"] for c in tiers.values())
    assert finance["enterprise_loan"] == {"max_fen": 1_000_000_000}
    assert finance["skill_intensive_threshold_percent"] == 30


def test_talent_counting(policy: PolicyVersion) -> None:
    assert policy.section("talent_counting") == {
        "counts": "distinct_person_with_valid_certificate",
        "lives_or_works_in_dinghai": True,
    }


def test_money_is_integer_fen(policy: PolicyVersion) -> None:
    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k) if not key.endswith("_fen") else key)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif key.endswith("_fen"):
            assert type(value) is int and value >= 0, (key, value)

    walk(policy.data)


def test_every_section_8_default_is_marked() -> None:
    text = VERSION_FILE.read_text(encoding="utf-8")
    for n in range(1, 7):
        assert f"# default (POLICY.md §8.{n})" in text


# --- the loader refuses bad data --------------------------------------------------------------


def _copy_policy(tmp_path: Path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, target, ignore=shutil.ignore_patterns("README.md"))
    return target


def _rewrite(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_unchanged_copy_loads(tmp_path: Path) -> None:
    root = _copy_policy(tmp_path)
    _rewrite(root / "versions" / "2025.1.yaml", lambda d: None)
    assert load_policy_set(root).in_effect(date(2025, 3, 1)).version == "2025.1"


def test_negative_amount_is_refused(tmp_path: Path) -> None:
    root = _copy_policy(tmp_path)

    def negative(data: dict[str, Any]) -> None:
        data["rewards"]["self_assessment"]["per_person_fen"] = -50000

    _rewrite(root / "versions" / "2025.1.yaml", negative)
    with pytest.raises(PolicyError, match="per_person_fen"):
        load_policy_set(root)


@pytest.mark.parametrize(
    "where",
    [
        lambda d: d,
        lambda d: d["subsidies"]["certificate"],
        lambda d: d["towns"][0],
        lambda d: d["finance"]["craftsman_loan"]["tiers"][0],
    ],
    ids=["root", "subsidies.certificate", "towns[0]", "craftsman_loan.tiers[0]"],
)
def test_unknown_key_is_refused(tmp_path: Path, where: Any) -> None:
    root = _copy_policy(tmp_path)
    _rewrite(root / "versions" / "2025.1.yaml", lambda d: where(d).__setitem__("bonus_fen", 1))
    with pytest.raises(PolicyError, match="bonus_fen"):
        load_policy_set(root)


def test_float_money_is_refused(tmp_path: Path) -> None:
    root = _copy_policy(tmp_path)

    def float_money(data: dict[str, Any]) -> None:
        data["subsidies"]["certificate"]["amount_fen"] = 160000.5

    _rewrite(root / "versions" / "2025.1.yaml", float_money)
    with pytest.raises(PolicyError):
        load_policy_set(root)


def _add_version(root: Path, version: str, effective_from: date) -> None:
    data = yaml.safe_load((root / "versions" / "2025.1.yaml").read_text(encoding="utf-8"))
    data["version"] = version
    data["effective_from"] = effective_from
    data["effective_to"] = None
    (root / "versions" / f"{version}.yaml").write_text(
        yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )


def test_overlapping_version_is_refused(tmp_path: Path) -> None:
    root = _copy_policy(tmp_path)
    _add_version(root, "2026.1", date(2026, 1, 1))  # 2025.1 is still open-ended
    with pytest.raises(PolicyError, match="overlap"):
        load_policy_set(root)


def test_successor_version_takes_over(tmp_path: Path) -> None:
    root = _copy_policy(tmp_path)

    def close(data: dict[str, Any]) -> None:
        data["effective_to"] = date(2025, 12, 31)

    _rewrite(root / "versions" / "2025.1.yaml", close)
    _add_version(root, "2026.1", date(2026, 1, 1))
    policies = load_policy_set(root)
    assert policies.in_effect(date(2025, 12, 31)).version == "2025.1"
    assert policies.in_effect(date(2026, 1, 1)).version == "2026.1"
    assert policies.latest.version == "2026.1"
