"""The service refuses to start on invalid policy data; events carry no personal data fields."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from common.policy import PolicyError
from training.events import EVENT_MODELS
from training.main import create_app
from training.settings import TrainingSettings

POLICY = Path(__file__).resolve().parents[3] / "policy"


def test_invalid_policy_refuses_to_start(tmp_path: Path) -> None:
    broken = tmp_path / "policy"
    shutil.copytree(POLICY, broken)
    version = broken / "versions" / "2025.1.yaml"
    version.write_text(version.read_text().replace("circle_minutes: 30", "circle_minutes: -5"))
    with pytest.raises(PolicyError):
        create_app(TrainingSettings(policy_dir=str(broken), environment="test"))


def test_event_models_carry_no_personal_data() -> None:
    forbidden = {"id_number", "name", "holder_id_number", "holder_name", "phone", "person_key"}
    for model in EVENT_MODELS.values():
        assert not set(model.model_fields) & forbidden
