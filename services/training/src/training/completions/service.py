"""Completion batches: every record checked on its own, the whole batch stored in a few statements.

Classes, enrolments, earlier completions and key-group memberships for the whole batch are read
with a handful of set-based queries; accepted completions and their outbox rows are inserted with
one executemany each. No per-record round trips. Never commits.

Checks, in order (the first that fails is the record's reason): `invalid_id_number`,
`class_not_found` (unknown or another institution's: same code, no existence oracle),
`not_enrolled` (no seat-holding enrolment in the class), `already_recorded` (stored before, or
earlier in the same batch), `completed_on_in_future`, `completed_on_outside_class`,
`past_submission_deadline` (posted more than the policy's `completion_deadline_days` after the
class ended).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from common.eventlog.outbox import Outbox
from common.identifiers import id_number_problem, normalise_id_number
from common.ids import new_id
from common.pii import FieldCipher, mask_id_number, mask_name, person_key
from training.completions.schemas import CompletionRecord
from training.db import member_of
from training.events import COMPLETION_RECORDED, SOURCE
from training.exceptions import ConcurrentCompletionBatch
from training.models import (
    Completion,
    CompletionBatch,
    Enrolment,
    KeyGroupMembership,
    TrainingClass,
    outbox,
)
from training.rules import TrainingPolicies, submission_deadline

completions = cast(Table, Completion.__table__)
events_outbox = Outbox(outbox, source=SOURCE)


@dataclass(frozen=True)
class ClassFacts:
    """What a record is checked against."""

    id: str
    domain: str
    town: str
    starts_on: date
    ends_on: date
    deadline: date
    policy_version: str


def refusal(
    *,
    id_ok: bool,
    facts: ClassFacts | None,
    enrolled: bool,
    recorded: bool,
    completed_on: date,
    today: date,
) -> str | None:
    """The reason a record is rejected, or None (pure; the order is the contract)."""
    if not id_ok:
        return "invalid_id_number"
    if facts is None:
        return "class_not_found"
    if not enrolled:
        return "not_enrolled"
    if recorded:
        return "already_recorded"
    if completed_on > today:
        return "completed_on_in_future"
    if not facts.starts_on <= completed_on <= facts.ends_on:
        return "completed_on_outside_class"
    if today > facts.deadline:
        return "past_submission_deadline"
    return None


async def _own_classes(
    session: AsyncSession,
    *,
    institution_id: str,
    class_ids: Sequence[str],
    policies: TrainingPolicies,
) -> dict[str, ClassFacts]:
    facts: dict[str, ClassFacts] = {}
    table = cast(Table, TrainingClass.__table__)
    for in_classes in member_of(session, table.c.id, class_ids):
        rows = await session.execute(
            select(
                table.c.id,
                table.c.domain,
                table.c.town,
                table.c.starts_on,
                table.c.ends_on,
                table.c.policy_version,
            ).where(in_classes, table.c.institution_id == institution_id)
        )
        for row in rows.all():
            days = policies.by_version(row.policy_version).completion_deadline_days
            facts[row.id] = ClassFacts(
                id=row.id,
                domain=row.domain,
                town=row.town,
                starts_on=row.starts_on,
                ends_on=row.ends_on,
                deadline=submission_deadline(row.ends_on, days),
                policy_version=row.policy_version,
            )
    return facts


async def _pairs(
    session: AsyncSession,
    entity: type[Enrolment] | type[Completion],
    *conditions: ColumnElement[bool],
    class_ids: Sequence[str],
    keys: Sequence[str],
    key_share: bool = False,
) -> dict[tuple[str, str], str]:
    """(class_id, person_key) → row id, for rows of `entity` in the given classes and persons.

    `key_share` locks the rows FOR KEY SHARE (PostgreSQL) until commit: a cancellation (which
    takes FOR UPDATE) then waits for this batch, or, having committed first, is seen here.
    """
    found: dict[tuple[str, str], str] = {}
    if not class_ids or not keys:
        return found
    table = cast(Table, entity.__table__)
    for in_classes in member_of(session, table.c.class_id, class_ids):
        for in_keys in member_of(session, table.c.person_key, keys):
            query = select(table.c.id, table.c.class_id, table.c.person_key).where(
                in_classes, in_keys, *conditions
            )
            if key_share:
                query = query.with_for_update(read=True, key_share=True)
            rows = await session.execute(query)
            for row_id, class_id, key in rows.all():
                found[(class_id, key)] = row_id
    return found


async def _willing_groups(session: AsyncSession, keys: Sequence[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    table = cast(Table, KeyGroupMembership.__table__)
    for in_keys in member_of(session, table.c.person_key, keys):
        rows = await session.execute(
            select(table.c.person_key, table.c.group_code)
            .where(in_keys, table.c.willing.is_(True))
            .order_by(table.c.person_key, table.c.group_code)
        )
        for key, group in rows.all():
            groups[key].append(group)
    return groups


async def record_batch(
    session: AsyncSession,
    *,
    institution_id: str,
    idempotency_key: str,
    records: Sequence[CompletionRecord],
    policies: TrainingPolicies,
    today: date,
    now: datetime,
    pepper: str,
    cipher: FieldCipher,
) -> dict[str, Any]:
    """Check and store a batch; returns the response body (JSON-ready)."""
    keys: list[str | None] = []
    numbers: list[str] = []
    key_of: dict[str, str | None] = {}
    for record in records:
        number = normalise_id_number(record.id_number)
        if number not in key_of:
            ok = id_number_problem(number, today=today) is None
            key_of[number] = person_key(number, pepper=pepper) if ok else None
        numbers.append(number)
        keys.append(key_of[number])
    class_ids = sorted({r.class_id for r in records})
    facts = await _own_classes(
        session, institution_id=institution_id, class_ids=class_ids, policies=policies
    )
    own_ids = sorted(facts)
    person_keys = sorted({k for k in keys if k is not None})
    enrolled = await _pairs(
        session,
        Enrolment,
        Enrolment.status == "enrolled",
        class_ids=own_ids,
        keys=person_keys,
        key_share=True,
    )
    recorded = await _pairs(session, Completion, class_ids=own_ids, keys=person_keys)
    groups = await _willing_groups(session, person_keys)

    batch_id = new_id()
    results: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    events = []
    for index, record in enumerate(records):
        key = keys[index]
        class_facts = facts.get(record.class_id)
        pair = (record.class_id, key or "")
        reason = refusal(
            id_ok=key is not None,
            facts=class_facts,
            enrolled=pair in enrolled,
            recorded=pair in recorded,
            completed_on=record.completed_on,
            today=today,
        )
        if reason is not None or class_facts is None or key is None:
            results.append(
                {
                    "index": index,
                    "class_id": record.class_id,
                    "status": "rejected",
                    "reason": reason,
                    "completion_id": None,
                }
            )
            continue
        completion_id = new_id()
        recorded[pair] = completion_id  # a repeat later in the batch is `already_recorded`
        number = numbers[index]
        rows.append(
            {
                "id": completion_id,
                "batch_id": batch_id,
                "class_id": record.class_id,
                "enrolment_id": enrolled[pair],
                "institution_id": institution_id,
                "person_key": key,
                "id_cipher": cipher.encrypt(number, context=b"completions.id_number"),
                "name_cipher": cipher.encrypt(record.name, context=b"completions.name"),
                "id_masked": mask_id_number(number),
                "name_masked": mask_name(record.name),
                "result": record.result,
                "hours": record.hours,
                "completed_on": record.completed_on,
                "year": record.completed_on.year,
                "domain": class_facts.domain,
                "town": class_facts.town,
                "policy_version": class_facts.policy_version,
                "recorded_at": now,
            }
        )
        # The `CompletionRecordedV1` payload, built as a dict (5,000 model instances cost ~50 ms);
        # the tests validate every emitted payload against the model.
        payload = {
            "completion_id": completion_id,
            "class_id": record.class_id,
            "institution_id": institution_id,
            "domain": class_facts.domain,
            "town": class_facts.town,
            "key_groups": groups.get(key, []),
            "hours": record.hours,
            "result": record.result,
            "completed_on": record.completed_on.isoformat(),
            "policy_version": class_facts.policy_version,
        }
        events.append(
            events_outbox.event(
                type=COMPLETION_RECORDED,
                subject=completion_id,
                data=payload,
                personkey=key,
                town=class_facts.town,
            )
        )
        results.append(
            {
                "index": index,
                "class_id": record.class_id,
                "status": "accepted",
                "reason": None,
                "completion_id": completion_id,
            }
        )

    session.add(
        CompletionBatch(
            id=batch_id,
            institution_id=institution_id,
            idempotency_key=idempotency_key,
            records=len(records),
            accepted=len(rows),
            rejected=len(records) - len(rows),
            posted_at=now,
        )
    )
    try:
        await session.flush()
        if rows:
            await session.execute(insert(completions), rows)
            await events_outbox.add(session, *events)
    except IntegrityError as exc:  # another batch recorded one of these at the same moment
        raise ConcurrentCompletionBatch() from exc
    return {
        "batch_id": batch_id,
        "records": len(records),
        "accepted": len(rows),
        "rejected": len(records) - len(rows),
        "results": results,
    }
