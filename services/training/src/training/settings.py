"""Settings of the training service (env prefix `TRAINING_`, fallback `DINGHAI_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from common.settings import BaseServiceSettings


class TrainingSettings(BaseServiceSettings):
    """Training service settings."""

    model_config = SettingsConfigDict(env_prefix="TRAINING_", extra="ignore", env_ignore_empty=True)
    service_name: ClassVar[str] = "training"
