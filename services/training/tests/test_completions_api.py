"""POST /v1/completions/batches: per-record answers, events, idempotency, limits, access."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from training.events import COMPLETION_RECORDED, CompletionRecordedV1
from training.models import Completion, outbox

URL = "/v1/completions/batches"
PROBLEM = "application/problem+json"


def record(class_id: str, id_number: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "class_id": class_id,
        "id_number": id_number,
        "name": "张三",
        "result": "passed",
        "hours": 40,
        "completed_on": "2025-06-30",
    }
    body.update(overrides)
    return body


async def post(
    env, headers: dict[str, str], records: list[dict[str, Any]], key: str = "batch-0001"
):
    return await env.client.post(
        URL, json={"records": records}, headers={**headers, "Idempotency-Key": key}
    )


@pytest.fixture
async def setup(env, institution):
    """A class 2025-06-10 → 06-30 with three enrolled trainees; posting on 2025-07-05."""
    institution_id, headers = institution
    cls = await env.new_class(headers, capacity=3, town="jintang")
    env.set_today(date(2025, 6, 20))
    people = [env.person(n) for n in range(3)]
    for n, person in enumerate(people):
        assert (await env.enrol_trainee(cls["id"], headers, person, f"学员{n}")).status_code == 201
    env.set_today(date(2025, 7, 5))
    return institution_id, headers, cls, people


async def test_accepted_records_store_completions_and_publish_events(env, setup) -> None:
    institution_id, headers, cls, people = setup
    membership = await env.client.post(
        "/v1/key-groups/memberships",
        json={"group": "unemployed", "willing": True, "town": "jintang"},
        headers=env.citizen(people[0]),
    )
    assert membership.status_code == 201
    await env.client.post(
        "/v1/key-groups/memberships",
        json={"group": "veterans", "willing": False, "town": "jintang"},
        headers=env.citizen(people[1]),
    )
    before = await env.counts()
    response = await post(
        env,
        headers,
        [
            record(cls["id"], people[0], hours=40.5),
            record(cls["id"], people[1], result="failed"),
            record(cls["id"], people[2].lower(), completed_on="2025-06-10"),
        ],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["records"], body["accepted"], body["rejected"]) == (3, 3, 0)
    assert [r["status"] for r in body["results"]] == ["accepted"] * 3
    assert all(p not in response.text for p in people) and "学员" not in response.text
    after = await env.counts()
    assert after["completions"] == 3 and after["outbox"] - before["outbox"] == 3
    async with env.engine.connect() as conn:
        events = (
            await conn.execute(
                select(outbox).where(outbox.c.type == COMPLETION_RECORDED).order_by(outbox.c.id)
            )
        ).all()
        stored = (await conn.execute(select(Completion.__table__))).all()
    assert len(events) == 3
    by_subject = {e.subject: e for e in events}
    first = by_subject[body["results"][0]["completion_id"]]
    assert first.data == {
        "completion_id": body["results"][0]["completion_id"],
        "class_id": cls["id"],
        "institution_id": institution_id,
        "domain": "manufacturing",
        "town": "jintang",
        "key_groups": ["unemployed"],
        "hours": 40.5,
        "result": "passed",
        "completed_on": "2025-06-30",
        "policy_version": "2025.1",
    }
    assert first.town == "jintang" and len(first.personkey) == 64
    second = by_subject[body["results"][1]["completion_id"]]
    assert second.data["result"] == "failed" and second.data["key_groups"] == []
    for event in events:
        CompletionRecordedV1.model_validate(event.data)
        text = json.dumps(event.data, ensure_ascii=False) + event.personkey
        assert all(p not in text for p in people) and "学员" not in text
    assert {s.person_key for s in stored} == {e.personkey for e in events}
    assert all(people[0].encode() not in s.id_cipher for s in stored)
    assert {s.name_masked for s in stored} == {"张*"}


async def test_every_refusal_reason_and_nothing_written_for_it(env, setup, institution) -> None:
    _institution_id, headers, cls, people = setup
    _, other_headers = await env.new_institution("另一所学校")
    env.set_today(date(2025, 6, 20))
    others_class = await env.new_class(other_headers, capacity=2)
    await env.enrol_trainee(others_class["id"], other_headers, env.person(50))
    full = await env.new_class(headers, capacity=1)
    await env.enrol_trainee(full["id"], headers, env.person(60))
    waiting = await env.enrol_trainee(full["id"], headers, env.person(61))
    assert waiting.status_code == 202
    env.set_today(date(2025, 3, 15))
    old = await env.new_class(headers, starts_on="2025-03-01", ends_on="2025-03-31")
    await env.enrol_trainee(old["id"], headers, env.person(70))
    env.set_today(date(2025, 7, 5))
    first = await post(env, headers, [record(cls["id"], people[0])], key="batch-first")
    assert first.json()["accepted"] == 1
    before = await env.counts()
    cases = [
        (record(cls["id"], "110105194912310021"), "invalid_id_number"),
        (record(cls["id"], "33090219601301001X"), "invalid_id_number"),
        (record("00000000-0000-7000-8000-000000000000", people[1]), "class_not_found"),
        (record(others_class["id"], env.person(50)), "class_not_found"),
        (record(cls["id"], env.person(99)), "not_enrolled"),
        (record(full["id"], env.person(61), completed_on="2025-06-20"), "not_enrolled"),
        (record(cls["id"], people[0]), "already_recorded"),
        (record(cls["id"], people[1], completed_on="2025-07-06"), "completed_on_in_future"),
        (record(cls["id"], people[1], completed_on="2025-06-09"), "completed_on_outside_class"),
        (record(cls["id"], people[1], completed_on="2025-07-01"), "completed_on_outside_class"),
        (record(old["id"], env.person(70), completed_on="2025-03-31"), "past_submission_deadline"),
        (record(cls["id"], people[2]), None),
        (record(cls["id"], people[2], result="failed"), "already_recorded"),  # same batch
    ]
    response = await post(env, headers, [c[0] for c in cases], key="batch-second")
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["reason"] for r in results] == [c[1] for c in cases]
    assert [r["index"] for r in results] == list(range(len(cases)))
    assert all((r["completion_id"] is None) == (r["status"] == "rejected") for r in results)
    assert response.json()["accepted"] == 1 and response.json()["rejected"] == len(cases) - 1
    after = await env.counts()
    assert after["completions"] - before["completions"] == 1
    assert after["outbox"] - before["outbox"] == 1
    assert "110105194912310021" not in response.text


async def test_deadline_is_policy_data_days_after_the_end(env, setup) -> None:
    _, headers, cls, people = setup
    env.set_today(date(2025, 7, 28))  # 2025-06-30 + 28 days: the last day
    on_time = await post(env, headers, [record(cls["id"], people[0])], key="batch-ontime")
    assert on_time.json()["results"][0]["status"] == "accepted"
    env.set_today(date(2025, 7, 29))
    late = await post(env, headers, [record(cls["id"], people[1])], key="batch-late01")
    assert late.json()["results"][0]["reason"] == "past_submission_deadline"


async def test_an_all_rejected_batch_writes_no_completion_and_no_event(env, setup) -> None:
    _, headers, cls, _people = setup
    before = await env.counts()
    response = await post(env, headers, [record(cls["id"], env.person(99))] * 3)
    assert response.json()["accepted"] == 0
    after = await env.counts()
    assert (after["completions"], after["outbox"]) == (before["completions"], before["outbox"])


async def test_same_key_same_body_replays_the_same_answer(env, setup) -> None:
    _, headers, cls, people = setup
    records = [record(cls["id"], p) for p in people]
    first = await post(env, headers, records, key="batch-replay")
    counts = await env.counts()
    again = await post(env, headers, records, key="batch-replay")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.content == first.content
    assert await env.counts() == counts
    reused = await post(env, headers, records[:2], key="batch-replay")
    assert reused.status_code == 422 and reused.headers["content-type"] == PROBLEM
    assert reused.json()["type"].endswith("/idempotency-key-reused")
    new_key = await post(env, headers, records, key="batch-other")
    assert [r["reason"] for r in new_key.json()["results"]] == ["already_recorded"] * 3
    assert await env.counts() == counts


async def test_concurrent_replays_do_the_work_once(env, setup) -> None:
    _, headers, cls, people = setup
    records = [record(cls["id"], p) for p in people]
    responses = await asyncio.gather(
        *(post(env, headers, records, key="batch-race1") for _ in range(5))
    )
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert (await env.counts())["completions"] == 3


async def test_idempotency_key_is_required(env, setup) -> None:
    _, headers, cls, people = setup
    response = await env.client.post(
        URL, json={"records": [record(cls["id"], people[0])]}, headers=headers
    )
    assert response.status_code == 400 and response.json()["type"].endswith(
        "/idempotency-key-missing"
    )
    short = await post(env, headers, [record(cls["id"], people[0])], key="abc")
    assert short.status_code == 400
    assert (await env.counts())["completions"] == 0


@pytest.mark.parametrize(
    ("records", "field", "reason"),
    [
        ("too_many", "records", "too_long"),
        ([], "records", "too_short"),
        ([{"result": "maybe"}], "records.0.result", "literal_error"),
        ([{"hours": 0}], "records.0.hours", "greater_than"),
        ([{"completed_on": "2025-02-30"}], "records.0.completed_on", "date_from_datetime_parsing"),
        ([{"extra": 1}], "records.0.extra", "extra_forbidden"),
    ],
)
async def test_schema_errors_refuse_the_whole_batch(env, setup, records, field, reason) -> None:
    _, headers, cls, people = setup
    if records == "too_many":
        body = [record(cls["id"], people[0])] * 5001
    else:
        body = [record(cls["id"], people[0], **overrides) for overrides in records] or []
    before = await env.counts()
    response = await post(env, headers, body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    errors = response.json()["errors"]
    assert any(e["field"] == field and e["reason"] == reason for e in errors), errors
    assert await env.counts() == before
    assert people[0] not in response.text


async def test_five_thousand_records_are_accepted_in_one_batch(env, setup) -> None:
    _, headers, cls, _people = setup
    response = await post(
        env, headers, [record(cls["id"], env.person(1000 + n)) for n in range(5000)]
    )
    assert response.status_code == 200
    assert response.json()["rejected"] == 5000  # none enrolled, but every record answered
    assert len(response.json()["results"]) == 5000


async def test_access(env, setup) -> None:
    institution_id, headers, cls, people = setup
    body = [record(cls["id"], people[0])]
    for who in (
        env.citizen(people[0]),
        env.admin,
        env.town_officer("jintang"),
        env.auth.headers("evaluation_body", "S0001"),
    ):
        assert (await post(env, who, body)).status_code == 403
    assert (await env.client.post(URL, json={"records": body})).status_code == 401
    ghost = await post(env, env.institution("not-registered"), body)
    assert ghost.status_code == 403 and ghost.json()["type"].endswith("/institution-not-registered")
    await env.client.patch(
        f"/v1/institutions/{institution_id}", json={"status": "exited"}, headers=env.admin
    )
    exited = await post(env, headers, body)
    assert exited.status_code == 403 and exited.json()["type"].endswith("/institution-inactive")
    assert (await env.counts())["completions"] == 0


async def test_a_completed_enrolment_cannot_be_cancelled(env, setup) -> None:
    _, headers, cls, people = setup
    env.set_today(date(2025, 6, 30))
    await post(env, headers, [record(cls["id"], people[0], completed_on="2025-06-30")])
    roster = await env.client.get(f"/v1/classes/{cls['id']}/enrolments", headers=headers)
    enrolment_id = roster.json()["items"][0]["id"]
    response = await env.client.post(f"/v1/enrolments/{enrolment_id}/cancel", headers=headers)
    assert response.status_code == 409 and response.json()["type"].endswith("/completion-recorded")


async def test_relayed_completion_events_reach_the_log(env, setup, databases) -> None:
    from common.db import make_engine
    from common.eventlog.relay import OutboxRelay
    from common.eventlog.sql_log import LOG_MIGRATIONS, SqlEventLog
    from training.events import SOURCE

    _, headers, cls, people = setup
    await post(env, headers, [record(cls["id"], p) for p in people])
    log_engine = make_engine(await databases.create(LOG_MIGRATIONS))
    try:
        log = SqlEventLog(log_engine)
        relay = OutboxRelay(engine=env.engine, table=outbox, log=log, source=SOURCE)
        assert await relay.drain() == 3
        logged = await log.read(after=0)
        assert {e.event.type for e in logged} == {COMPLETION_RECORDED}
        assert all(
            e.event.source == "/services/training" and e.event.town == "jintang" for e in logged
        )
    finally:
        await log_engine.dispose()


async def test_a_cancellation_in_flight_is_not_completed(env, setup) -> None:
    """PostgreSQL: a batch waits for a cancellation holding the enrolment, then sees it."""
    if env.backend != "postgresql":
        pytest.skip("row locks: PostgreSQL only (SQLite serialises whole transactions)")
    from sqlalchemy import update

    from training.models import Enrolment

    _, headers, cls, people = setup
    roster = (await env.client.get(f"/v1/classes/{cls['id']}/enrolments", headers=headers)).json()
    target = roster["items"][0]["id"]
    async with env.engine.connect() as conn:
        await conn.execute(select(Enrolment.id).where(Enrolment.id == target).with_for_update())
        batch = asyncio.create_task(post(env, headers, [record(cls["id"], p) for p in people]))
        await asyncio.sleep(0.5)
        assert not batch.done()  # waiting for the cancellation's row lock
        await conn.execute(
            update(Enrolment.__table__).where(Enrolment.id == target).values(status="cancelled")
        )
        await conn.commit()
    response = await batch
    reasons = [r["reason"] for r in response.json()["results"]]
    assert reasons == ["not_enrolled", None, None]
