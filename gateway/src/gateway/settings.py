"""Gateway settings: upstream service URLs, timeouts and the signing key (env prefix `GATEWAY_`)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from common.settings import BaseServiceSettings, Environment, repo_var_dir

# Service name under /api/<name>/ → the settings field holding its base URL.
SERVICES: tuple[str, ...] = ("training", "evaluation", "finance", "awards", "indicators")


class GatewaySettings(BaseServiceSettings):
    """Where the services are, how long to wait for them, and how tokens are signed."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", env_ignore_empty=True)
    service_name: ClassVar[str] = "gateway"

    training_url: str = "http://127.0.0.1:8101"
    evaluation_url: str = "http://127.0.0.1:8102"
    finance_url: str = "http://127.0.0.1:8103"
    awards_url: str = "http://127.0.0.1:8104"
    indicators_url: str = "http://127.0.0.1:8105"

    upstream_timeout_seconds: float = 30.0
    upstream_connect_timeout_seconds: float = 2.0
    upstream_max_connections: int = 512
    # Below uvicorn's 5 s keep-alive: the gateway drops an idle connection before the service does.
    upstream_keepalive_seconds: float = 4.0
    health_timeout_seconds: float = 1.0
    openapi_timeout_seconds: float = 2.0
    openapi_cache_seconds: float = 30.0

    # One log line per proxied request (the service logs it too, same X-Request-ID); adds ~50 µs
    # of CPU to a ~140 µs hop (bench/README.md). Refusals and upstream failures are always logged.
    proxy_access_log: bool = False

    signing_key_path: str = ""

    @property
    def dev_tokens_enabled(self) -> bool:
        """The development token endpoint exists only outside production."""
        return self.environment in (Environment.DEVELOPMENT, Environment.TEST)

    def upstreams(self) -> dict[str, str]:
        """Service name → base URL without a trailing slash."""
        return {name: str(getattr(self, f"{name}_url")).rstrip("/") for name in SERVICES}

    def signing_key_file(self) -> Path:
        """The private signing key (JWK); `var/dev-signing-key.json` by default."""
        return (
            Path(self.signing_key_path)
            if self.signing_key_path
            else (repo_var_dir() / "dev-signing-key.json")
        )
