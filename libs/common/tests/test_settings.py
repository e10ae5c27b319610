"""Settings: platform-wide fallback, defaults, and production refusing development secrets."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from common.settings import BaseServiceSettings


class DemoSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore", env_ignore_empty=True)


def test_service_prefix_wins_over_platform_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DINGHAI_EVENTLOG_URL", "sqlite+aiosqlite:///platform.db")
    monkeypatch.setenv("DINGHAI_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("DEMO_LOG_LEVEL", "DEBUG")
    settings = DemoSettings()
    assert settings.eventlog_url == "sqlite+aiosqlite:///platform.db"
    assert settings.log_level == "DEBUG"
    assert settings.database_url.endswith("/var/service.db")


def test_production_refuses_development_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DINGHAI_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="development value"):
        DemoSettings()
    monkeypatch.setenv("DINGHAI_PII_PEPPER", "a-real-pepper-from-the-vault")
    monkeypatch.setenv("DINGHAI_PII_FIELD_KEY", base64.b64encode(b"0123456789abcdef").decode())
    assert DemoSettings().environment == "production"
