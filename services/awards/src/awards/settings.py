"""Settings of the awards service (env prefix `AWARDS_`, fallback `DINGHAI_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from common.settings import BaseServiceSettings


class AwardsSettings(BaseServiceSettings):
    """Awards service settings."""

    model_config = SettingsConfigDict(env_prefix="AWARDS_", extra="ignore", env_ignore_empty=True)
    service_name: ClassVar[str] = "awards"
