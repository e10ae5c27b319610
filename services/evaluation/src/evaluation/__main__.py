"""`python -m evaluation migrate|relay|backfill-name-digests`."""

from __future__ import annotations

from common import cli
from common.eventlog.runner import run_relay_process
from common.migrations import upgrade
from evaluation.db import MIGRATIONS
from evaluation.events import SOURCE
from evaluation.imports.service import import_writing
from evaluation.models import outbox
from evaluation.settings import EvaluationSettings


async def _migrate() -> None:
    await upgrade(EvaluationSettings().database_url, MIGRATIONS)


async def _relay() -> None:
    await run_relay_process(
        settings=EvaluationSettings(), table=outbox, source=SOURCE, hold=import_writing
    )


async def _backfill() -> None:
    from evaluation.certificates.maintenance import backfill_name_digests

    count = await backfill_name_digests(EvaluationSettings())
    print(f"name digests written: {count}")


if __name__ == "__main__":
    cli.main(
        prog="evaluation",
        commands={
            "migrate": ("upgrade this service's database", _migrate),
            "relay": ("copy outbox rows to the shared event log until stopped", _relay),
            "backfill-name-digests": (
                "compute the verification digest of names recorded before it existed",
                _backfill,
            ),
        },
    )
