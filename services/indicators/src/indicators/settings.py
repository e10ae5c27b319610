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
    # Larger batches than other consumers: a batch adds its events to the calendar counters with
    # one upsert, and every batch touches most month and year rows again (ADR 0009). Not more
    # than 10,000: the catch-up holds two batches in memory and reads a third ahead (ADR 0007,
    # 0009); a rebuild of a 112,700-row import's log peaked at 196-199 MB with 10,000 and
    # 254-255 MB with 20,000, against the consumer pod's limit then, 256 MiB
    # (deploy/k8s/indicators.yaml), and took about as long (bench/history/certificate-import.md).
    # Measured again on 2026-11-28 (`/usr/bin/time`, `python -m indicators rebuild`): 233-234 MiB
    # with 10,000 in 4.3-4.4 s, 220 MiB with 8,000 in 4.5 s. With the reading process below, the
    # two processes peaked at 349 MiB (the consumer's own 189 MiB); the pod's limit is 512 MiB.
    consumer_batch_size: int = 10_000
    # Read the log into changes in a second process during a catch-up (ADR 0007, amended), so
    # that the consumer's CPU work runs on two cores; False keeps it in the consumer's process.
    consumer_read_process: bool = True

    def reading_url(self) -> str | None:
        """The log's URL for the consumer's reading process (None: no reading process)."""
        return self.eventlog_url if self.consumer_read_process else None
