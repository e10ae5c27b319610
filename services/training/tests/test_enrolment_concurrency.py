"""Real concurrency: many enrolments at once never exceed a class's seats or a programme's quota.

On PostgreSQL the requests run in parallel transactions (a read-then-write would overbook here);
on SQLite they serialise on the database lock. Both must give exact counts.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import func, select

from training.models import Enrolment


async def _statuses(env, class_id: str) -> Counter[str]:
    async with env.engine.connect() as conn:
        rows = await conn.execute(
            select(Enrolment.status, func.count())
            .where(Enrolment.class_id == class_id)
            .group_by(Enrolment.status)
        )
        return Counter({status: int(n) for status, n in rows.all()})


async def test_sixty_concurrent_enrolments_fill_exactly_twenty_seats(env, institution) -> None:
    _, headers = institution
    cls = await env.new_class(headers, capacity=20)
    responses = await asyncio.gather(
        *(env.enrol_citizen(cls["id"], env.person(n)) for n in range(60))
    )
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 20, 202: 40}, codes
    positions = sorted(r.json()["waiting_position"] for r in responses if r.status_code == 202)
    assert positions == list(range(1, 41))
    assert await env.seats(cls["id"]) == 20
    assert await env.quota(2025, "manufacturing") == (2000, 20)
    assert await _statuses(env, cls["id"]) == {"enrolled": 20, "waiting": 40}


async def test_concurrent_enrolments_never_exceed_the_quota(env, institution) -> None:
    _, headers = institution
    first = await env.new_class(headers, domain="apprenticeship", capacity=10)
    second = await env.new_class(headers, domain="apprenticeship", capacity=10)
    await env.client.post(
        "/v1/programmes/2025/apprenticeship/quota-adjustments",
        json={"quota": 15, "reason": "并发测试"},
        headers=env.admin,
    )
    responses = await asyncio.gather(
        *(env.enrol_citizen((first, second)[n % 2]["id"], env.person(n)) for n in range(40))
    )
    codes = Counter(r.status_code for r in responses)
    assert codes[201] == 15, codes
    assert set(codes) <= {201, 202, 409}
    refused = {r.json()["type"].rsplit("/", 1)[1] for r in responses if r.status_code == 409}
    assert refused <= {"quota-exhausted"}
    assert await env.quota(2025, "apprenticeship") == (15, 15)
    assert await env.seats(first["id"]) + await env.seats(second["id"]) == 15


async def test_one_person_enrolling_concurrently_gets_one_place(env, institution) -> None:
    _, headers = institution
    cls = await env.new_class(headers, capacity=5)
    responses = await asyncio.gather(
        *(env.enrol_citizen(cls["id"], env.person(1)) for _ in range(10))
    )
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 1, 409: 9}, codes
    assert await env.seats(cls["id"]) == 1
    assert await env.quota(2025, "manufacturing") == (2000, 1)


async def test_concurrent_cancellations_and_enrolments_keep_counters_exact(
    env, institution
) -> None:
    _, headers = institution
    cls = await env.new_class(headers, capacity=5)
    first = [await env.enrol_citizen(cls["id"], env.person(n)) for n in range(15)]
    seated = [r.json()["id"] for r in first if r.status_code == 201]
    assert len(seated) == 5
    cancels = [
        env.client.post(f"/v1/enrolments/{eid}/cancel", headers=env.citizen(env.person(n)))
        for n, eid in enumerate(seated)
    ]
    joins = [env.enrol_citizen(cls["id"], env.person(n)) for n in range(100, 110)]
    results = await asyncio.gather(*cancels, *joins)
    assert all(r.status_code == 200 for r in results[:5])
    statuses = await _statuses(env, cls["id"])
    assert statuses["enrolled"] == 5 == await env.seats(cls["id"])
    assert statuses["waiting"] == 15 and statuses["cancelled"] == 5
    assert await env.quota(2025, "manufacturing") == (2000, 5)
    roster = await env.client.get(
        f"/v1/classes/{cls['id']}/enrolments",
        params={"status": "waiting", "limit": 100},
        headers=headers,
    )
    assert sorted(i["waiting_position"] for i in roster.json()["items"]) == list(range(1, 16))
