"""`python -m training migrate|relay`."""

from __future__ import annotations

from common import cli
from common.eventlog.runner import run_relay_process
from common.migrations import upgrade
from training.db import MIGRATIONS
from training.events import SOURCE
from training.models import outbox
from training.settings import TrainingSettings


async def _migrate() -> None:
    await upgrade(TrainingSettings().database_url, MIGRATIONS)


async def _relay() -> None:
    await run_relay_process(settings=TrainingSettings(), table=outbox, source=SOURCE)


if __name__ == "__main__":
    cli.main(
        prog="training",
        commands={
            "migrate": ("upgrade this service's database", _migrate),
            "relay": ("copy outbox rows to the shared event log until stopped", _relay),
        },
    )
