"""Issuing certificates: one, a batch, or an import chunk — checked, prepared, then written.

No FastAPI here and never a commit: the caller owns the transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import DomainError
from common.observability import request_id_var
from common.pii import person_key
from evaluation.certificates.rules import (
    Candidate,
    check_against_body,
    check_certificate,
    same_certificate,
)
from evaluation.certificates.schemas import CertificateCreate
from evaluation.certificates.store import (
    BODY_CODE,
    COPY_THRESHOLD,
    EMPLOYER_USCC,
    ISSUED_ON,
    MODE,
    NUMBER,
    Row,
    as_certificate,
    certificate_rows,
    copy_certificates,
    insert_certificates,
    insert_event_rows,
    is_postgres,
    issued_event_row,
    ordered_ids,
    stored_by_number,
)
from evaluation.context import EvaluationContext
from evaluation.exceptions import (
    BodyMayNotIssue,
    CertificateNumberTaken,
    InvalidFields,
)
from evaluation.rewards.service import reward_key_of, settle_rewards
from evaluation.rules import (
    BodyState,
    issuing_refusal,
    name_digest,
)

# Validation and encryption of more items than this run in a worker thread, so that the event
# loop keeps serving requests while an import chunk is prepared.
OFFLOAD_THRESHOLD = 500


@dataclass
class Outcome:
    """What became of one posting: `created`, `existing` or `rejected`."""

    index: int
    outcome: str
    certificate: Any = None
    warnings: list[str] = field(default_factory=list)
    problem: DomainError | None = None


def refusal_problem(body: BodyState, day: date, *, on: str) -> BodyMayNotIssue | None:
    """The 409 problem when `body` may not issue a certificate on `day`, else None."""
    refusal = issuing_refusal(body, day)
    if refusal is None:
        return None
    code, row = refusal
    if row is None:
        detail = f"The body was not yet filed on {day.isoformat()}"
    else:
        detail = f"The body is {code} from {row.effective_on.isoformat()}: {row.reason}"
    return BodyMayNotIssue(
        detail,
        body_status=code,
        on=on,
        status_effective_on=row.effective_on.isoformat() if row else None,
        status_reason=row.reason if row else None,
    )


def _validate(
    items: Sequence[tuple[int, CertificateCreate, BodyState]], ctx: EvaluationContext, today: date
) -> tuple[list[Candidate], list[Outcome]]:
    candidates: list[Candidate] = []
    rejected: list[Outcome] = []
    for index, data, body in items:
        fmt, warnings, problems = check_certificate(data, policy=ctx.policy, today=today)
        problems += check_against_body(data, body)
        if problems:
            rejected.append(Outcome(index, "rejected", None, warnings, InvalidFields(problems)))
            continue
        candidates.append(
            Candidate(
                index=index,
                data=data,
                body=body,
                fmt=fmt,
                warnings=warnings,
                person_key=person_key(data.holder_id_number, pepper=ctx.pepper),
                name_digest=name_digest(data.holder_name, pepper=ctx.pepper),
            )
        )
    return candidates, rejected


def _replay_or_conflict(index: int, warnings: list[str], record: Row, stored: Any) -> Outcome:
    if same_certificate(stored, posted=as_certificate(record)):
        return Outcome(index, "existing", stored, warnings)
    return Outcome(index, "rejected", None, warnings, CertificateNumberTaken())


def _reward_key(record: Row) -> tuple[str, int] | None:
    return reward_key_of(
        mode=record[MODE],
        employer_uscc=record[EMPLOYER_USCC],
        body_code=record[BODY_CODE],
        issued_on=record[ISSUED_ON],
    )


@dataclass
class Prepared:
    """Postings checked against the rules, with rows and event rows built for those that passed.

    CPU work only, no database, so it can run ahead of the writes in a worker thread or process;
    it holds plain tuples (cheap to pickle), not models. Position i of `indexes`, `warnings`,
    `records` and `events` is the i-th posting that passed.
    """

    rejected: list[Outcome]
    indexes: list[int]
    warnings: list[list[str]]
    records: list[Row]
    events: list[Row]
    bodies: dict[str, BodyState]


def prepare(
    items: Sequence[tuple[int, CertificateCreate, BodyState]],
    *,
    ctx: EvaluationContext,
    today: date,
    import_job_id: str | None = None,
) -> Prepared:
    """Check every posting (the rules and the fit with its body) and, for those that pass,
    derive keys, encrypt, and build the row and its `issued` event row."""
    candidates, rejected = _validate(items, ctx, today)
    records = certificate_rows(candidates, ctx, import_job_id)
    now, request_id = datetime.now(UTC), request_id_var.get() or None
    events = [
        issued_event_row(r, event_id=e, time=now, request_id=request_id)
        for r, e in zip(records, ordered_ids(len(records)), strict=True)
    ]
    return Prepared(
        rejected=rejected,
        indexes=[c.index for c in candidates],
        warnings=[c.warnings for c in candidates],
        records=records,
        events=events,
        bodies={c.body.code: c.body for c in candidates},
    )


def _refusal(body: BodyState, record: Row, *, today: date, check_today: bool) -> DomainError | None:
    problem = refusal_problem(body, record[ISSUED_ON], on="issue_date")
    if problem is None and check_today:
        if body.legacy:
            return BodyMayNotIssue(
                "The legacy body only receives imported stock", body_status="legacy"
            )
        return refusal_problem(body, today, on="today")
    return problem


async def store_prepared(
    session: AsyncSession,
    prepared: Prepared,
    *,
    ctx: EvaluationContext,
    check_today: bool = True,
    bodies: Mapping[str, BodyState] | None = None,
    materialise: bool = True,
) -> list[Outcome]:
    """Write prepared postings; returns one outcome per item, in order.

    Per item, after the rules: an identical stored certificate is replayed as `existing`, a
    different one under the number is a conflict (409), then the body's status on the issue
    date — and today, when `check_today` (API postings; imports of stock check the issue date
    only) — may refuse it (409). `bodies` gives the bodies' current state when `prepare` ran
    earlier. New rows, their `issued` events and any reward entries they earn are written in
    the caller's transaction. `materialise=False` leaves created certificates out of the
    outcomes (imports only count them).
    """
    today = ctx.today()
    current = {**prepared.bodies, **(bodies or {})}
    records, indexes, warnings = prepared.records, prepared.indexes, prepared.warnings
    outcomes = list(prepared.rejected)
    stored: dict[str, Any] = {}
    fresh: list[int] = []
    first_by_number: dict[str, int] = {}
    repeats: list[int] = []
    if await _copied_without_lookup(
        session, records, current, today=today, check_today=check_today
    ):
        fresh = list(range(len(records)))
        inserted = {r[NUMBER] for r in records}
    else:
        stored = await stored_by_number(session, [r[NUMBER] for r in records])
        for i, record in enumerate(records):
            number = record[NUMBER]
            if number in stored:
                outcomes.append(
                    _replay_or_conflict(indexes[i], warnings[i], record, stored[number])
                )
            elif number in first_by_number:
                repeats.append(i)
            elif problem := _refusal(
                current[record[BODY_CODE]], record, today=today, check_today=check_today
            ):
                outcomes.append(Outcome(indexes[i], "rejected", None, warnings[i], problem))
            else:
                first_by_number[number] = i
                fresh.append(i)
        inserted = await insert_certificates(session, [records[i] for i in fresh])
        raced = [records[i][NUMBER] for i in fresh if records[i][NUMBER] not in inserted]
        if raced:  # stored by a concurrent writer since we looked
            stored.update(await stored_by_number(session, raced))
    events: list[Row] = []
    keys: set[tuple[str, int]] = set()
    by_number: dict[str, Any] = {}
    for i in fresh:
        record = records[i]
        if record[NUMBER] in inserted:
            events.append(prepared.events[i])
            if key := _reward_key(record):
                keys.add(key)
            # Rows become response objects only when someone reads them (not in imports).
            created = as_certificate(record) if materialise else None
            by_number[record[NUMBER]] = created or True
            outcomes.append(Outcome(indexes[i], "created", created, warnings[i]))
        else:
            outcome = _replay_or_conflict(indexes[i], warnings[i], record, stored[record[NUMBER]])
            by_number[record[NUMBER]] = outcome.certificate
            outcomes.append(outcome)
    for i in repeats:  # the same number twice in one batch
        outcomes.append(_repeat(i, prepared, first_by_number, by_number, stored))
    await insert_event_rows(session, events)
    if keys:
        await settle_rewards(
            session, keys=keys, ctx=ctx, reason="certificate_issued", issued_only=True
        )
    outcomes.sort(key=lambda o: o.index)
    return outcomes


async def _copied_without_lookup(
    session: AsyncSession,
    records: list[Row],
    bodies: Mapping[str, BodyState],
    *,
    today: date,
    check_today: bool,
) -> bool:
    """Write a large set by COPY at once, without looking its numbers up first, when every
    number in it is distinct and every body may issue it; False, with nothing written, when
    that is not so or one of the numbers is stored already. An import of new stock takes the
    first way: writing 112,700 rows in one process, the lookups had taken 0.21 s, 0.15 s of it
    waiting on the database (measured).

    Only when nothing could be a replay, a repeat or a refusal, so that each outcome is the
    one the lookup would have given: `created`.
    """
    if not is_postgres(session) or len(records) < COPY_THRESHOLD:
        return False
    if len({r[NUMBER] for r in records}) != len(records):
        return False
    for record in records:
        body = bodies[record[BODY_CODE]]
        if _refusal(body, record, today=today, check_today=check_today) is not None:
            return False
    return await copy_certificates(session, records)


def _repeat(
    i: int,
    prepared: Prepared,
    first_by_number: Mapping[str, int],
    by_number: Mapping[str, Any],
    stored: Mapping[str, Any],
) -> Outcome:
    """The outcome of a number posted a second time in one batch."""
    record, index, warnings = prepared.records[i], prepared.indexes[i], prepared.warnings[i]
    first = by_number.get(record[NUMBER]) or stored.get(record[NUMBER])
    if first is not None and first is not True:
        return _replay_or_conflict(index, warnings, record, first)
    first_record = prepared.records[first_by_number[record[NUMBER]]]
    if first is True and same_certificate(
        as_certificate(first_record), posted=as_certificate(record)
    ):
        return Outcome(index, "existing", None, warnings)
    return Outcome(index, "rejected", None, warnings, CertificateNumberTaken())


async def issue_many(
    session: AsyncSession,
    *,
    items: Sequence[tuple[int, CertificateCreate, BodyState]],
    ctx: EvaluationContext,
    check_today: bool = True,
    import_job_id: str | None = None,
) -> list[Outcome]:
    """Issue certificates, each checked on its own (`prepare`, then `store_prepared`); large
    sets are prepared in a worker thread so that the event loop keeps serving requests."""
    today = ctx.today()
    if len(items) > OFFLOAD_THRESHOLD:
        prepared = await asyncio.to_thread(
            prepare, items, ctx=ctx, today=today, import_job_id=import_job_id
        )
    else:
        prepared = prepare(items, ctx=ctx, today=today, import_job_id=import_job_id)
    return await store_prepared(session, prepared, ctx=ctx, check_today=check_today)


async def issue_one(
    session: AsyncSession, *, data: CertificateCreate, body: BodyState, ctx: EvaluationContext
) -> tuple[Any, list[str], bool]:
    """Issue one certificate: (certificate, warnings, created); a refusal raises its problem."""
    [outcome] = await issue_many(session, items=[(0, data, body)], ctx=ctx)
    if outcome.problem is not None:
        raise outcome.problem
    return outcome.certificate, outcome.warnings, outcome.outcome == "created"
