"""Settings of the finance service (env prefix `FINANCE_`, fallback `DINGHAI_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from common.settings import BaseServiceSettings


class FinanceSettings(BaseServiceSettings):
    """Finance service settings."""

    model_config = SettingsConfigDict(env_prefix="FINANCE_", extra="ignore", env_ignore_empty=True)
    service_name: ClassVar[str] = "finance"
