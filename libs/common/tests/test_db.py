"""`key_array`: thousands of keys as one array value, on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, String, Table, any_, insert, select

from common.db import KEY_SEPARATOR, key_array, make_engine
from common.testing.databases import DatabaseFactory

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize(
    "wanted",
    [
        [f"{n:064x}" for n in range(0, 3000, 3)],  # joined, split by the server
        ["a", f"b{KEY_SEPARATOR}c", "d"],  # a key holding the separator: a list parameter
        ["", "a"],  # an empty key: a list parameter
        [""],  # alone, string_to_array('') would be an empty array
        ["只有一个"],
    ],
    ids=["many", "separator-in-key", "empty-key", "only-an-empty-key", "one"],
)
async def test_key_array_matches_exactly_the_keys_given(
    databases: DatabaseFactory, wanted: list[str]
) -> None:
    if databases.backend != "postgresql":
        pytest.skip("key_array is for PostgreSQL's ANY(...)")
    url = await databases.empty()
    engine = make_engine(url)
    keys = Table("keys", MetaData(), Column("key", String(80), primary_key=True))
    stored = [f"{n:064x}" for n in range(1000)] + ["a", f"b{KEY_SEPARATOR}c", "", "只有一个"]
    try:
        async with engine.begin() as conn:
            await conn.run_sync(keys.metadata.create_all)
            await conn.execute(insert(keys), [{"key": k} for k in stored])
            found = await conn.scalars(
                select(keys.c.key).where(keys.c.key == any_(key_array("wanted", wanted)))
            )
            assert sorted(found) == sorted(set(wanted) & set(stored))
    finally:
        await engine.dispose()
