"""Settings of the evaluation service (env prefix `EVALUATION_`, fallback `DINGHAI_`)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from common.settings import BaseServiceSettings


class EvaluationSettings(BaseServiceSettings):
    """Evaluation service settings."""

    model_config = SettingsConfigDict(
        env_prefix="EVALUATION_", extra="ignore", env_ignore_empty=True
    )
    service_name: ClassVar[str] = "evaluation"

    # Public verification: at most this many requests per client address per window.
    verification_rate_limit: int = 10
    verification_rate_window_seconds: float = 60.0
    # Peers whose X-Forwarded-For names the real client (the gateway). Others are the client.
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    # Bulk import: uploads are streamed to files here and deleted once processed.
    import_dir: str = ""
    import_max_rows: int = 200_000
    import_max_bytes: int = 128 * 1024 * 1024
    import_chunk_rows: int = 5_000
    # Check and encrypt import rows in this many worker processes (started on the first import,
    # each preparing every N-th chunk), so that the web process's interpreter lock stays free
    # for the writes and other requests; 0 runs that work in a thread of the web process.
    import_processes: int = Field(default=2, ge=0, le=16)
    # Start them with the service (in the background; readiness does not wait), not on the
    # first import.
    import_prestart: bool = True
    # A running job whose heartbeat is older than this is reported as interrupted.
    import_stale_seconds: float = 60.0

    def import_path(self) -> Path:
        """The folder for uploaded files (created on demand)."""
        path = Path(self.import_dir or Path(tempfile.gettempdir()) / "dinghai-evaluation-imports")
        path.mkdir(parents=True, exist_ok=True)
        return path
