"""Evaluation bodies: registration, append-only status history, the negative list. Never commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from common.identifiers import check_uscc
from evaluation.bodies.schemas import BodyCreate, StatusChangeCreate
from evaluation.certificates.lifecycle import flag_issued_after_exit
from evaluation.certificates.store import is_postgres
from evaluation.context import EvaluationContext
from evaluation.exceptions import BodyCodeTaken, BodyExited, BodyNotFound, InvalidFields
from evaluation.models import Body, BodyStatusChange
from evaluation.rules import (
    EARLIEST_ISSUE_DATE,
    NEGATIVE_LIST_STATUSES,
    BodyState,
    BodyStatus,
    BodyType,
    StatusRow,
    body_code_problem,
    looks_personal,
)


@dataclass(frozen=True)
class BodyView:
    """A body row, its history rows, and its state for the rules."""

    body: Body
    history: list[BodyStatusChange]
    state: BodyState


def _state(body: Body, history: Sequence[BodyStatusChange]) -> BodyState:
    return BodyState(
        code=body.code,
        type=body.type,
        name=body.name,
        uscc=body.uscc,
        legacy=body.legacy,
        history=tuple(
            StatusRow(
                status=BodyStatus(row.status),
                effective_on=row.effective_on,
                reason=row.reason,
                sequence=row.id,
            )
            for row in history
        ),
    )


async def load_bodies(
    session: AsyncSession, codes: Iterable[str] | None = None
) -> dict[str, BodyView]:
    """Bodies with their histories (all of them when `codes` is None)."""
    query = select(Body)
    if codes is not None:
        wanted = sorted(set(codes))
        if not wanted:
            return {}
        query = query.where(Body.code.in_(wanted))
    bodies = (await session.execute(query.order_by(Body.code))).scalars().all()
    if not bodies:
        return {}
    rows = (
        await session.execute(
            select(BodyStatusChange)
            .where(BodyStatusChange.body_code.in_([b.code for b in bodies]))
            .order_by(BodyStatusChange.id)
        )
    ).scalars()
    history: dict[str, list[BodyStatusChange]] = {b.code: [] for b in bodies}
    for row in rows:
        history[row.body_code].append(row)
    return {b.code: BodyView(b, history[b.code], _state(b, history[b.code])) for b in bodies}


async def load_body(session: AsyncSession, code: str) -> BodyView | None:
    """One body with its history, or None."""
    return (await load_bodies(session, [code])).get(code)


def _registration_problems(data: BodyCreate) -> tuple[str | None, list[str], list[dict[str, str]]]:
    errors: list[dict[str, str]] = []
    warnings: list[str] = []
    problem = body_code_problem(data.code, data.type)
    if problem == "format":
        errors.append(
            {
                "field": "code",
                "reason": "format",
                "message": "A body code is Y or S and 4 digits (or 12 for province-filed bodies)",
            }
        )
    elif problem == "type_mismatch":
        errors.append(
            {
                "field": "type",
                "reason": "code_type_mismatch",
                "message": "The type must be the code's first letter",
            }
        )
    uscc: str | None = None
    if data.uscc is not None:
        check = check_uscc(data.uscc)
        if not check.well_formed:
            errors.append(
                {"field": "uscc", "reason": "format", "message": "Not a unified social credit code"}
            )
        else:
            uscc = check.code
            if check.warning:
                warnings.append(check.warning)
    elif data.type == BodyType.EMPLOYER:
        errors.append(
            {
                "field": "uscc",
                "reason": "required_for_employer_body",
                "message": "An employer (Y) body needs the USCC of its enterprise",
            }
        )
    return uscc, warnings, errors


async def register_body(
    session: AsyncSession, *, data: BodyCreate, recorded_by: str, ctx: EvaluationContext
) -> tuple[BodyView, list[str], bool]:
    """Register a body, active from its filing date; returns (body, warnings, created).

    Registering the same body again returns the stored one; different data under a known code
    is a conflict.
    """
    uscc, warnings, errors = _registration_problems(data)
    if errors:
        raise InvalidFields(errors)
    existing = await load_body(session, data.code)
    if existing is not None:
        body = existing.body
        same = (
            body.type == data.type
            and body.name == data.name
            and body.uscc == uscc
            and body.filing_number == data.filing_number
            and body.filed_on == data.filed_on
        )
        if not same:
            raise BodyCodeTaken()
        return existing, warnings, False
    now = datetime.now(UTC)
    body = Body(
        code=data.code,
        type=data.type,
        name=data.name,
        uscc=uscc,
        filing_number=data.filing_number,
        filed_on=data.filed_on,
        legacy=False,
        registered_by=recorded_by,
        registered_at=now,
    )
    session.add(body)
    await session.flush()
    first = BodyStatusChange(
        body_code=body.code,
        status=BodyStatus.ACTIVE.value,
        effective_on=data.filed_on or EARLIEST_ISSUE_DATE,
        reason="registered (filed)" if data.filed_on else "registered (filing date unknown)",
        recorded_by=recorded_by,
        recorded_at=now,
    )
    session.add(first)
    await session.flush()
    return BodyView(body, [first], _state(body, [first])), warnings, True


async def record_status(
    session: AsyncSession,
    *,
    code: str,
    change: StatusChangeCreate,
    recorded_by: str,
    ctx: EvaluationContext,
) -> tuple[BodyView, int]:
    """Append a status row; an exit flags the certificates issued on or after its date.

    Returns the body and how many certificates the change flagged. An exit is final: no row may
    be recorded on or after an exit's effective date (an earlier exit date may be recorded).
    """
    if change.effective_on < EARLIEST_ISSUE_DATE:
        raise InvalidFields(
            [
                {
                    "field": "effective_on",
                    "reason": "too_early",
                    "message": "The effective date is before 1990",
                }
            ]
        )
    if looks_personal(change.reason):
        raise InvalidFields(
            [
                {
                    "field": "reason",
                    "reason": "personal_data",
                    "message": "The reason must not contain personal data",
                }
            ]
        )
    # Lock the body's row on PostgreSQL so two status changes of one body serialise.
    query = select(Body).where(Body.code == code)
    if is_postgres(session):
        query = query.with_for_update()
    if (await session.execute(query)).scalar_one_or_none() is None:
        raise BodyNotFound()
    view = await load_body(session, code)
    assert view is not None
    exit_row = view.state.exit_row()
    if exit_row is not None and exit_row.effective_on <= change.effective_on:
        raise BodyExited(
            f"The body exited on {exit_row.effective_on.isoformat()}",
            exited_on=exit_row.effective_on.isoformat(),
        )
    row = BodyStatusChange(
        body_code=code,
        status=change.status.value,
        effective_on=change.effective_on,
        reason=change.reason,
        recorded_by=recorded_by,
        recorded_at=datetime.now(UTC),
    )
    session.add(row)
    await session.flush()
    flagged = 0
    if change.status is BodyStatus.EXITED:
        flagged = await flag_issued_after_exit(
            session, body_code=code, exit_on=change.effective_on, ctx=ctx
        )
    history = [*view.history, row]
    return BodyView(view.body, history, _state(view.body, history)), flagged


def current_status(state: BodyState, today: date) -> StatusRow | None:
    """The status today (None before the filing date)."""
    return state.status_on(today)


def on_negative_list(state: BodyState, today: date) -> bool:
    """Suspended or exited today."""
    row = state.status_on(today)
    return row is not None and row.status in NEGATIVE_LIST_STATUSES


async def list_bodies(
    session: AsyncSession,
    *,
    negative_list: bool,
    today: date,
    after: str | None,
    limit: int,
) -> tuple[list[BodyView], str | None]:
    """A page of bodies ordered by code (only the negative list when asked)."""
    views = [
        v
        for v in (await load_bodies(session)).values()
        if (after is None or v.body.code > after)
        and (not negative_list or on_negative_list(v.state, today))
    ]
    page = views[:limit]
    more = len(views) > limit
    return page, (page[-1].body.code if more and page else None)
