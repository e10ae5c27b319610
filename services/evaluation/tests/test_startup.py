"""The service refuses to start on invalid policy data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from common.policy import PolicyError
from evaluation.main import create_app
from evaluation.settings import EvaluationSettings

POLICY = Path(__file__).resolve().parents[3] / "policy"


def test_invalid_policy_refuses_to_start(tmp_path: Path) -> None:
    broken = tmp_path / "policy"
    shutil.copytree(POLICY, broken)
    version = broken / "versions" / "2025.1.yaml"
    version.write_text(version.read_text().replace("per_person_fen: 50000", "per_person_fen: -1"))
    with pytest.raises(PolicyError):
        create_app(EvaluationSettings(policy_dir=str(broken), environment="test"))


def test_missing_policy_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(PolicyError):
        create_app(EvaluationSettings(policy_dir=str(tmp_path), environment="test"))
