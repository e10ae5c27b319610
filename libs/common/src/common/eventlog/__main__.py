"""`python -m common.eventlog migrate`: create or upgrade the shared log's database."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from common import cli
from common.eventlog.sql_log import LOG_MIGRATIONS
from common.migrations import upgrade
from common.settings import BaseServiceSettings


class LogSettings(BaseServiceSettings):
    """Only the platform-wide values (`DINGHAI_EVENTLOG_URL`)."""

    model_config = SettingsConfigDict(env_prefix="DINGHAI_", extra="ignore", env_ignore_empty=True)


async def _migrate() -> None:
    await upgrade(LogSettings().eventlog_url, LOG_MIGRATIONS)


if __name__ == "__main__":
    cli.main(prog="common.eventlog", commands={"migrate": ("upgrade the log database", _migrate)})
