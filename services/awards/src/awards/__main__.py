"""`python -m awards migrate|relay`."""

from __future__ import annotations

from awards.db import MIGRATIONS
from awards.events import SOURCE
from awards.models import outbox
from awards.settings import AwardsSettings
from common import cli
from common.eventlog.runner import run_relay_process
from common.migrations import upgrade


async def _migrate() -> None:
    await upgrade(AwardsSettings().database_url, MIGRATIONS)


async def _relay() -> None:
    await run_relay_process(settings=AwardsSettings(), table=outbox, source=SOURCE)


if __name__ == "__main__":
    cli.main(
        prog="awards",
        commands={
            "migrate": ("upgrade this service's database", _migrate),
            "relay": ("copy outbox rows to the shared event log until stopped", _relay),
        },
    )
