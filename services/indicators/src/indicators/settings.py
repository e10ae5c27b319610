"""Settings of the indicators service (env prefix `INDICATORS_`, fallback `DINGHAI_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from common.settings import BaseServiceSettings


class IndicatorsSettings(BaseServiceSettings):
    """Indicators service settings."""

    model_config = SettingsConfigDict(
        env_prefix="INDICATORS_", extra="ignore", env_ignore_empty=True
    )
    service_name: ClassVar[str] = "indicators"
