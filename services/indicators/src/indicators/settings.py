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
    # one upsert, and every batch touches most week, month and year rows again. After a
    # 112,700-row import with the relays and the consumer at nice 10, the backlog took 14.9-16.6 s
    # with batches of 20,000 and 17.9-18.0 s with 5,000 (bench/README.md, "Certificate import").
    # Not more than 10,000 since the catch-up is pipelined (two batches in memory at once): a
    # rebuild of that import's log peaked at 188 MB with 10,000 and 243 MB with 20,000, against
    # the consumer pod's 256 MiB (deploy/README.md §5), and took about as long (5.2-6.5 s).
    consumer_batch_size: int = 10_000
