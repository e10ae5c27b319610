"""`python -m finance migrate|relay`."""

from __future__ import annotations

from common import cli
from common.eventlog.runner import run_relay_process
from common.migrations import upgrade
from finance.db import MIGRATIONS
from finance.events import SOURCE
from finance.models import outbox
from finance.settings import FinanceSettings


async def _migrate() -> None:
    await upgrade(FinanceSettings().database_url, MIGRATIONS)


async def _relay() -> None:
    await run_relay_process(settings=FinanceSettings(), table=outbox, source=SOURCE)


if __name__ == "__main__":
    cli.main(
        prog="finance",
        commands={
            "migrate": ("upgrade this service's database", _migrate),
            "relay": ("copy outbox rows to the shared event log until stopped", _relay),
        },
    )
