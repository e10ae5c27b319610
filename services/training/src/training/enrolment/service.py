"""Enrolment: a seat against the class capacity and a unit of the programme quota, atomically.

Both counters change only through single-statement conditional updates in the request
transaction (`seats_taken < capacity`, `used < quota`): the database serialises concurrent
requests on the counter rows, so under any concurrency a class or a quota is never exceeded.
Locks are always taken in the order class → quota. A full class puts the person on the waiting
list (numbered by the class's `waitlist_seq`, taken under the same row lock, so positions are
exact); a cancellation of a seat releases the seat and the unit and the first waiting person
takes both over. The partial unique index on active enrolments backs up "one active enrolment per
person per class". Never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Select, Table, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from common.errors import InvalidField
from common.ids import new_id
from common.pii import FieldCipher
from training.exceptions import (
    AlreadyEnrolled,
    ClassEnded,
    CompletionAlreadyRecorded,
    EnrolmentNotActive,
    EnrolmentNotFound,
    QuotaExhausted,
)
from training.models import Completion, Enrolment, ProgrammeQuota, TrainingClass
from training.persons import NamedPerson, identify
from training.programmes.service import ensure_year, policy_for_year, release_quota, take_quota
from training.rules import TrainingPolicies

classes = cast(Table, TrainingClass.__table__)
enrolments = cast(Table, Enrolment.__table__)
ACTIVE = ("enrolled", "waiting")
PROMOTION_ATTEMPTS = 20


@dataclass(frozen=True)
class EnrolmentView:
    """An enrolment with its waiting-list position (None unless waiting)."""

    enrolment: Enrolment
    position: int | None


def citizen_trainee(
    *,
    subject: str,
    id_number: str | None,
    name: str | None,
    today: date,
    pepper: str,
    cipher: FieldCipher,
) -> NamedPerson:
    """A citizen enrolling themself: their token's person_key; ID and name only if they add them."""
    if id_number is None or name is None:
        return NamedPerson(person_key=subject)
    trainee = identify(
        id_number=id_number,
        name=name,
        table="enrolments",
        today=today,
        pepper=pepper,
        cipher=cipher,
    )
    if trainee.person_key != subject:
        raise InvalidField(
            field="id_number", reason="not_token_holder", message="Not the ID number of the caller"
        )
    return trainee


async def _take_seat(session: AsyncSession, class_id: str) -> bool:
    taken = await session.execute(
        update(classes)
        .where(classes.c.id == class_id, classes.c.seats_taken < classes.c.capacity)
        .values(seats_taken=classes.c.seats_taken + 1)
        .returning(classes.c.seats_taken)
    )
    return taken.first() is not None


async def _release_seat(session: AsyncSession, class_id: str) -> None:
    await session.execute(
        update(classes)
        .where(classes.c.id == class_id, classes.c.seats_taken > 0)
        .values(seats_taken=classes.c.seats_taken - 1)
    )


async def _next_waitlist_number(session: AsyncSession, class_id: str) -> int:
    number = await session.execute(
        update(classes)
        .where(classes.c.id == class_id)
        .values(waitlist_seq=classes.c.waitlist_seq + 1)
        .returning(classes.c.waitlist_seq)
    )
    return int(number.scalar_one())


async def _take_quota(
    session: AsyncSession, *, training_class: TrainingClass, policies: TrainingPolicies
) -> bool:
    year, domain = training_class.year, training_class.domain
    if await take_quota(session, year=year, domain=domain):
        return True
    exists = await session.scalar(
        select(func.count())
        .select_from(ProgrammeQuota)
        .where(ProgrammeQuota.year == year, ProgrammeQuota.domain == domain)
    )
    if exists:
        return False
    await ensure_year(session, policy=policy_for_year(policies, year), year=year)
    return await take_quota(session, year=year, domain=domain)


async def waiting_position(session: AsyncSession, *, class_id: str, seq: int) -> int:
    """1-based place on the class's waiting list of the entry numbered `seq`."""
    count = await session.scalar(
        select(func.count())
        .select_from(Enrolment)
        .where(
            Enrolment.class_id == class_id,
            Enrolment.status == "waiting",
            Enrolment.waitlist_seq <= seq,
        )
    )
    return int(count or 0)


async def enrol(
    session: AsyncSession,
    *,
    training_class: TrainingClass,
    trainee: NamedPerson,
    enrolled_by: str,
    policies: TrainingPolicies,
    now: datetime,
) -> EnrolmentView:
    """Enrol (seat and quota) or waiting-list a person; 409 when already active or out of quota."""
    duplicate = await session.scalar(
        select(Enrolment.id).where(
            Enrolment.class_id == training_class.id,
            Enrolment.person_key == trainee.person_key,
            Enrolment.status.in_(ACTIVE),
        )
    )
    if duplicate is not None:
        raise AlreadyEnrolled()
    seq: int | None = None
    if await _take_seat(session, training_class.id):
        if not await _take_quota(session, training_class=training_class, policies=policies):
            raise QuotaExhausted(year=training_class.year, domain=training_class.domain)
        status = "enrolled"
    else:
        seq = await _next_waitlist_number(session, training_class.id)
        status = "waiting"
    enrolment = Enrolment(
        id=new_id(),
        class_id=training_class.id,
        person_key=trainee.person_key,
        status=status,
        waitlist_seq=seq,
        enrolled_by=enrolled_by,
        id_cipher=trainee.id_cipher,
        name_cipher=trainee.name_cipher,
        id_masked=trainee.id_masked,
        name_masked=trainee.name_masked,
        created_at=now,
        enrolled_at=now if status == "enrolled" else None,
    )
    session.add(enrolment)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent request of the same person won the race
        raise AlreadyEnrolled() from exc
    position = None
    if seq is not None:
        position = await waiting_position(session, class_id=training_class.id, seq=seq)
    return EnrolmentView(enrolment=enrolment, position=position)


async def get_enrolment(session: AsyncSession, enrolment_id: str) -> Enrolment:
    """An enrolment by id; 404 when unknown."""
    enrolment = await session.get(Enrolment, enrolment_id)
    if enrolment is None:
        raise EnrolmentNotFound()
    return enrolment


async def _promote_next(
    session: AsyncSession,
    *,
    training_class: TrainingClass,
    policies: TrainingPolicies,
    now: datetime,
) -> str | None:
    """Give a freed seat to the first waiting person, if the quota allows; their id or None."""
    if not await _take_quota(session, training_class=training_class, policies=policies):
        return None
    if not await _take_seat(session, training_class.id):
        await release_quota(session, year=training_class.year, domain=training_class.domain)
        return None
    for _ in range(PROMOTION_ATTEMPTS):
        candidate = await session.scalar(
            select(Enrolment.id)
            .where(Enrolment.class_id == training_class.id, Enrolment.status == "waiting")
            .order_by(Enrolment.waitlist_seq)
            .limit(1)
        )
        if candidate is None:
            break
        promoted = await session.execute(
            update(enrolments)
            .where(enrolments.c.id == candidate, enrolments.c.status == "waiting")
            .values(status="enrolled", enrolled_at=now, promoted_at=now)
            .returning(enrolments.c.id)
        )
        if promoted.first() is not None:  # else cancelled concurrently: try the next one
            return candidate
    await _release_seat(session, training_class.id)
    await release_quota(session, year=training_class.year, domain=training_class.domain)
    return None


async def cancel(
    session: AsyncSession,
    *,
    enrolment: Enrolment,
    training_class: TrainingClass,
    cancelled_by: str,
    policies: TrainingPolicies,
    today: date,
    now: datetime,
) -> str | None:
    """Cancel an active enrolment; a freed seat goes to the first waiting person (their id)."""
    locked = (
        await session.execute(
            select(Enrolment.status).where(Enrolment.id == enrolment.id).with_for_update()
        )
    ).scalar_one()
    if locked not in ACTIVE:
        raise EnrolmentNotActive()
    if today > training_class.ends_on:
        raise ClassEnded()
    recorded = await session.scalar(
        select(Completion.id).where(Completion.enrolment_id == enrolment.id).limit(1)
    )
    if recorded is not None:
        raise CompletionAlreadyRecorded()
    await session.execute(
        update(enrolments)
        .where(enrolments.c.id == enrolment.id)
        .values(status="cancelled", cancelled_at=now, cancelled_by=cancelled_by)
    )
    await session.refresh(enrolment)
    if locked == "waiting":
        return None
    await _release_seat(session, training_class.id)
    await release_quota(session, year=training_class.year, domain=training_class.domain)
    return await _promote_next(session, training_class=training_class, policies=policies, now=now)


def _with_positions() -> Select[Any]:
    """Enrolments with their waiting-list position (a correlated count; None unless waiting)."""
    waiting = aliased(Enrolment)
    position = (
        select(func.count())
        .where(
            waiting.class_id == Enrolment.class_id,
            waiting.status == "waiting",
            waiting.waitlist_seq <= Enrolment.waitlist_seq,
        )
        .correlate(Enrolment)
        .scalar_subquery()
    )
    return select(Enrolment, case((Enrolment.status == "waiting", position), else_=None))


async def roster(
    session: AsyncSession,
    *,
    class_id: str,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> list[EnrolmentView]:
    """A class's enrolments (masked personal data), in enrolment order."""
    query = _with_positions().where(Enrolment.class_id == class_id)
    if status is not None:
        query = query.where(Enrolment.status == status)
    if cursor:
        query = query.where(Enrolment.id > cursor)
    rows = await session.execute(query.order_by(Enrolment.id).limit(limit))
    return [EnrolmentView(enrolment=e, position=p) for e, p in rows.all()]


async def person_enrolments(
    session: AsyncSession, *, person: str, limit: int, cursor: str | None
) -> list[tuple[EnrolmentView, TrainingClass]]:
    """A person's own enrolments with their classes, newest first."""
    query = (
        _with_positions()
        .add_columns(TrainingClass)
        .join(TrainingClass, TrainingClass.id == Enrolment.class_id)
        .where(Enrolment.person_key == person)
    )
    if cursor:
        query = query.where(Enrolment.id < cursor)
    rows = await session.execute(query.order_by(Enrolment.id.desc()).limit(limit))
    return [(EnrolmentView(enrolment=e, position=p), c) for e, p, c in rows.all()]
