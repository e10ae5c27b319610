"""One-off maintenance of certificate rows (run as `python -m evaluation <command>`)."""

from __future__ import annotations

from sqlalchemy import bindparam, select, update

from common.db import make_engine
from common.pii import FieldCipher
from evaluation.certificates.store import certificates, open_holder
from evaluation.rules import name_digest
from evaluation.settings import EvaluationSettings


async def backfill_name_digests(settings: EvaluationSettings, *, batch: int = 1_000) -> int:
    """Give rows recorded before migration 0002 the name digest that public verification
    compares (decrypting each name once); returns how many rows were updated."""
    cipher = FieldCipher(settings.pii_field_key.get_secret_value())
    pepper = settings.pii_pepper.get_secret_value()
    engine = make_engine(settings.database_url)
    total = 0
    try:
        while True:
            async with engine.begin() as conn:
                rows = (
                    await conn.execute(
                        select(
                            certificates.c.id,
                            certificates.c.holder_cipher,
                            certificates.c.holder_id_cipher,
                            certificates.c.holder_name_cipher,
                        )
                        .where(certificates.c.holder_name_digest.is_(None))
                        .limit(batch)
                    )
                ).all()
                if not rows:
                    return total
                await conn.execute(
                    update(certificates)
                    .where(certificates.c.id == bindparam("b_id"))
                    .values(holder_name_digest=bindparam("b_digest")),
                    [
                        {
                            "b_id": row.id,
                            "b_digest": name_digest(open_holder(cipher, row)[1], pepper=pepper),
                        }
                        for row in rows
                    ],
                )
                total += len(rows)
    finally:
        await engine.dispose()
