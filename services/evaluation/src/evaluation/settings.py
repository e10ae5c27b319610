"""Settings of the evaluation service (env prefix `EVALUATION_`, fallback `DINGHAI_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from common.settings import BaseServiceSettings


class EvaluationSettings(BaseServiceSettings):
    """Evaluation service settings."""

    model_config = SettingsConfigDict(
        env_prefix="EVALUATION_", extra="ignore", env_ignore_empty=True
    )
    service_name: ClassVar[str] = "evaluation"
