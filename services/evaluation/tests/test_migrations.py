"""Migrations that move data: 0005 (the holder in one ciphertext)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import insert, inspect, select

from common.db import make_engine
from common.migrations import downgrade, upgrade
from common.pii import FieldCipher
from evaluation.certificates.store import certificates, open_holder, seal_holder
from evaluation.db import MIGRATIONS

from .conftest import VALID_ID

CIPHER = FieldCipher("AAECAwQFBgcICQoLDA0ODw==")


def _row(number: str, **ciphers: bytes | None) -> dict[str, object]:
    return {
        "id": f"id-{number}",
        "number": number,
        "number_format": "legacy",
        "level": "senior",
        "occupation_code": "6-04-02-05",
        "occupation_name": "焊工",
        "occupation_edition": "2022",
        "holder_person_key": "k" * 64,
        "holder_id_masked": "110105********002X",
        "holder_name_masked": "张*",
        "issued_on": date(2020, 5, 1),
        "mode": "vocational_qualification",
        "town": "changguo",
        "body_code": "LEGACY",
        "status": "valid",
        "policy_version": "2025.1",
        **ciphers,
    }


async def test_0005_keeps_rows_with_a_ciphertext_per_field_and_downgrades_only_without_new_ones(
    databases,
) -> None:
    url = await databases.create(MIGRATIONS)
    await downgrade(url, MIGRATIONS, "0004")
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            old_form = _row(
                "OLD1",
                holder_id_cipher=CIPHER.encrypt(VALID_ID, context=b"certificates.holder_id"),
                holder_name_cipher=CIPHER.encrypt("张三", context=b"certificates.holder_name"),
            )
            await conn.execute(insert(certificates).values(**old_form))
        await upgrade(url, MIGRATIONS)
        async with engine.connect() as conn:
            checks = await conn.run_sync(lambda c: inspect(c).get_check_constraints("certificates"))
        assert "ck_certificates_holder_cipher_form" in {c["name"] for c in checks}
        async with engine.begin() as conn:
            old = (await conn.execute(select(certificates))).one()
            assert open_holder(CIPHER, old) == (VALID_ID, "张三")
            sealed = seal_holder(CIPHER, id_number=VALID_ID, name="李四")
            await conn.execute(insert(certificates).values(**_row("NEW1", holder_cipher=sealed)))
        with pytest.raises(RuntimeError, match="field key"):
            await downgrade(url, MIGRATIONS, "0004")
        async with engine.begin() as conn:
            await conn.execute(certificates.delete().where(certificates.c.number == "NEW1"))
        await downgrade(url, MIGRATIONS, "0004")
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda c: inspect(c).get_columns("certificates"))
        by_name = {c["name"]: c for c in columns}
        assert "holder_cipher" not in by_name
        assert not by_name["holder_id_cipher"]["nullable"]
        assert not by_name["holder_name_cipher"]["nullable"]
    finally:
        await engine.dispose()
