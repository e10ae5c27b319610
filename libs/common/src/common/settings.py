"""Settings base shared by every service: per-service env prefix with a `DINGHAI_` fallback."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from pydantic import SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

# Development-only secrets: usable on a laptop, refused in production (see `_refuse_dev_secrets`).
DEV_PEPPER = "dev-pepper-not-for-production"
DEV_FIELD_KEY = "ZGV2LWZpZWxkLWtleS0xNg=="  # base64 of 16 bytes: the development SM4 key


class Environment(StrEnum):
    """Where the code runs; production refuses development secrets and the dev token issuer."""

    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


def repo_var_dir() -> Path:
    """The `var/` folder of the checkout (embedded databases, dev keys)."""
    return Path.cwd() / "var"


class BaseServiceSettings(BaseSettings):
    """Common settings; each service subclasses with its own `env_prefix` (e.g. `EVALUATION_`).

    A value missing under the service prefix is looked up under `DINGHAI_`, so platform-wide values
    (environment, pepper, event log URL, JWKS) are set once.
    """

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)
    service_name: ClassVar[str] = "service"

    environment: Environment = Environment.DEVELOPMENT
    database_url: str = ""
    eventlog_url: str = ""
    log_level: str = "INFO"
    log_json: bool = True
    # Identity: JWKS published by the gateway. A path (embedded/tests) or a URL (compose/k8s).
    auth_jwks_path: str = ""
    auth_jwks_url: str = ""
    auth_issuer: str = "https://gateway.dinghai.local"
    auth_audience: str = "dinghai-skills"
    # Personal data: pepper for person_key and the field-encryption key (base64, 16 bytes, SM4).
    pii_pepper: SecretStr = SecretStr(DEV_PEPPER)
    pii_field_key: SecretStr = SecretStr(DEV_FIELD_KEY)
    # Event pipeline: run the outbox relay (and consumers) inside the web process (embedded mode).
    embedded_workers: bool = True
    relay_interval_seconds: float = 0.2
    # A 112,700-row import on PostgreSQL (bench/history/certificate-import.md): batches of 5,000
    # caught up in 3.8 s after the import, 2,000 in 4.8 s; fewer, larger counter upserts in the
    # consumer.
    relay_batch_size: int = 5000
    consumer_batch_size: int = 5000
    # A relay whose service asks it to wait for bulk work (an import) waits at most this long at
    # a stretch; 0: never waits (ADR 0008).
    relay_hold_max_seconds: float = 60.0
    # Relay and consumer processes serve Prometheus metrics on this port (0 = off).
    metrics_port: int = 0
    policy_dir: str = ""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        platform_env = EnvSettingsSource(settings_cls, env_prefix="DINGHAI_")
        return init_settings, env_settings, platform_env, file_secret_settings

    @model_validator(mode="after")
    def _fill_defaults(self) -> BaseServiceSettings:
        var = repo_var_dir()
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{var / (self.service_name + '.db')}"
        if not self.eventlog_url:
            self.eventlog_url = f"sqlite+aiosqlite:///{var / 'eventlog.db'}"
        if not self.auth_jwks_path and not self.auth_jwks_url:
            self.auth_jwks_path = str(var / "dev-jwks.json")
        return self

    @model_validator(mode="after")
    def _refuse_dev_secrets(self) -> BaseServiceSettings:
        if self.environment is Environment.PRODUCTION:
            dev_values = {DEV_PEPPER, DEV_FIELD_KEY}
            for name in ("pii_pepper", "pii_field_key"):
                if getattr(self, name).get_secret_value() in dev_values:
                    raise ValueError(f"{name} uses a development value in production")
        return self

    def sqlalchemy_kwargs(self) -> dict[str, Any]:
        """Extra engine arguments a service may override (pool sizes)."""
        return {}
