"""Issuing certificates: one, a batch, or an import chunk — checked, prepared, then written.

No FastAPI here and never a commit: the caller owns the transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import SimpleNamespace
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
    as_certificate,
    certificate_rows,
    insert_certificates,
    insert_event_rows,
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
from evaluation.rewards.service import reward_key, settle_rewards
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


def _replay_or_conflict(c: Candidate, stored: Any) -> Outcome:
    if same_certificate(
        stored,
        data=c.data,
        person_key=c.person_key,
        name_digest=c.name_digest,
        body_code=c.body.code,
    ):
        return Outcome(c.index, "existing", stored, c.warnings)
    return Outcome(c.index, "rejected", None, c.warnings, CertificateNumberTaken())


def _reward_key(c: Candidate) -> tuple[str, int] | None:
    return reward_key(
        SimpleNamespace(
            mode=c.data.mode,
            employer_uscc=c.data.employer_uscc.upper() if c.data.employer_uscc else None,
            body_code=c.body.code,
            issued_on=c.data.issued_on,
        )
    )


def _same_posting(first: Candidate, again: Candidate) -> bool:
    return _replay_or_conflict(again, _posted(first)).outcome == "existing"


def _posted(c: Candidate) -> SimpleNamespace:
    data = c.data
    return SimpleNamespace(
        holder_person_key=c.person_key,
        holder_name_digest=c.name_digest,
        level=data.level,
        issued_on=data.issued_on,
        body_code=c.body.code,
        occupation_code=data.occupation_code,
        occupation_edition=data.occupation_edition,
        employer_uscc=data.employer_uscc.upper() if data.employer_uscc else None,
        mode=data.mode,
        town=data.town,
    )


@dataclass
class Prepared:
    """Postings checked against the rules, with rows and event rows built for those that passed
    (CPU work only: no database, so it can run in a worker thread ahead of the writes)."""

    rejected: list[Outcome]
    candidates: list[Candidate]
    records: list[tuple[Any, ...]]
    events: list[tuple[Any, ...]]


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
    return Prepared(rejected, candidates, records, events)


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
    outcomes = list(prepared.rejected)
    candidates = prepared.candidates
    stored = await stored_by_number(session, [c.data.number for c in candidates])
    fresh: list[int] = []
    first_by_number: dict[str, Candidate] = {}
    repeats: list[Candidate] = []
    for position, c in enumerate(candidates):
        if c.data.number in stored:
            outcomes.append(_replay_or_conflict(c, stored[c.data.number]))
            continue
        if c.data.number in first_by_number:
            repeats.append(c)
            continue
        body = bodies.get(c.body.code, c.body) if bodies is not None else c.body
        problem = refusal_problem(body, c.data.issued_on, on="issue_date")
        if problem is None and check_today:
            if body.legacy:
                problem = BodyMayNotIssue(
                    "The legacy body only receives imported stock", body_status="legacy"
                )
            else:
                problem = refusal_problem(body, today, on="today")
        if problem is not None:
            outcomes.append(Outcome(c.index, "rejected", None, c.warnings, problem))
            continue
        first_by_number[c.data.number] = c
        fresh.append(position)
    inserted = await insert_certificates(session, [prepared.records[i] for i in fresh])
    raced = [candidates[i] for i in fresh if candidates[i].data.number not in inserted]
    if raced:  # stored by a concurrent writer since we looked
        stored.update(await stored_by_number(session, [c.data.number for c in raced]))
    events: list[tuple[Any, ...]] = []
    keys: set[tuple[str, int]] = set()
    by_number: dict[str, Any] = {}
    for i in fresh:
        c = candidates[i]
        if c.data.number in inserted:
            events.append(prepared.events[i])
            key = _reward_key(c)
            if key is not None:
                keys.add(key)
            # Rows become response objects only when someone reads them (not in imports).
            created = as_certificate(prepared.records[i]) if materialise else None
            by_number[c.data.number] = created or True
            outcomes.append(Outcome(c.index, "created", created, c.warnings))
        else:
            outcome = _replay_or_conflict(c, stored[c.data.number])
            by_number[c.data.number] = outcome.certificate
            outcomes.append(outcome)
    for c in repeats:  # the same number twice in one batch
        first = by_number.get(c.data.number) or stored.get(c.data.number)
        if first is None or first is True:
            first_candidate = first_by_number[c.data.number]
            same = first is True and _same_posting(first_candidate, c)
            outcomes.append(
                Outcome(c.index, "existing", None, c.warnings)
                if same
                else Outcome(c.index, "rejected", None, c.warnings, CertificateNumberTaken())
            )
        else:
            outcomes.append(_replay_or_conflict(c, first))
    await insert_event_rows(session, events)
    if keys:
        await settle_rewards(session, keys=keys, ctx=ctx, reason="certificate_issued")
    outcomes.sort(key=lambda o: o.index)
    return outcomes


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
