"""HTTP handlers of enrolments: enrol, cancel, a citizen's own list, a class's roster."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Response, status

from common.auth import Principal, PrincipalKind, require
from training.access import AnyCaller, Cipher, Citizen, Pepper, Policies, Today
from training.classes.api import check_class_visible
from training.classes.service import get_class
from training.db import SessionDep
from training.enrolment import service
from training.enrolment.schemas import (
    CancellationRead,
    EnrolmentCreate,
    EnrolmentRead,
    EnrolmentStatus,
    MyEnrolmentRead,
)
from training.exceptions import ClassNotFound, EnrolmentClosed, EnrolmentNotFound
from training.institutions.service import active_institution
from training.models import Enrolment, Institution
from training.persons import identify, required_identity
from training.rules import ENROLMENT_STATUS_ZH, citizen_may_enrol, institution_may_enrol
from training.schemas import Cursor, Limit, Page

router = APIRouter(tags=["enrolment"])
CitizenOrInstitution = Annotated[
    Principal, Depends(require(PrincipalKind.CITIZEN, PrincipalKind.INSTITUTION))
]
InstitutionOrOfficial = Annotated[
    Principal, Depends(require(PrincipalKind.INSTITUTION, PrincipalKind.OFFICIAL))
]


def enrolment_read(enrolment: Enrolment, position: int | None) -> EnrolmentRead:
    """The response body of an enrolment."""
    return EnrolmentRead(
        id=enrolment.id,
        class_id=enrolment.class_id,
        status=enrolment.status,
        status_zh=ENROLMENT_STATUS_ZH[enrolment.status],
        waiting_position=position,
        enrolled_by=enrolment.enrolled_by,
        id_number_masked=enrolment.id_masked,
        name_masked=enrolment.name_masked,
        created_at=enrolment.created_at,
        enrolled_at=enrolment.enrolled_at,
        promoted_at=enrolment.promoted_at,
        cancelled_at=enrolment.cancelled_at,
    )


@router.post(
    "/v1/classes/{class_id}/enrolments",
    status_code=status.HTTP_201_CREATED,
    response_model=EnrolmentRead,
    summary="Enrol: a citizen themself (no body) or the institution a trainee",
    responses={
        202: {"description": "The class is full: waiting-listed, with the position"},
        409: {"description": "Already enrolled or waiting, quota exhausted, or enrolment closed"},
    },
)
async def enrol(
    class_id: str,
    principal: CitizenOrInstitution,
    session: SessionDep,
    policies: Policies,
    today: Today,
    cipher: Cipher,
    pepper: Pepper,
    response: Response,
    body: Annotated[EnrolmentCreate | None, Body()] = None,
) -> EnrolmentRead:
    """201 enrolled, 202 waiting-listed, 409 refused (`already-enrolled`, `quota-exhausted`, …)."""
    body = body or EnrolmentCreate()
    training_class = await get_class(session, class_id)
    if principal.kind is PrincipalKind.INSTITUTION:
        if training_class.institution_id != principal.subject:
            raise ClassNotFound()
        await active_institution(session, principal.subject)
        id_number, name = required_identity(
            id_number=body.id_number, name=body.name, whose="trainee's"
        )
        if not institution_may_enrol(ends_on=training_class.ends_on, today=today):
            raise EnrolmentClosed()
        trainee = identify(
            id_number=id_number,
            name=name,
            table="enrolments",
            today=today,
            pepper=pepper,
            cipher=cipher,
        )
    else:
        if not citizen_may_enrol(starts_on=training_class.starts_on, today=today):
            raise EnrolmentClosed()
        institution = await session.get(Institution, training_class.institution_id)
        if institution is None or institution.status != "active":
            raise EnrolmentClosed()
        trainee = service.citizen_trainee(
            subject=principal.subject,
            id_number=body.id_number,
            name=body.name,
            today=today,
            pepper=pepper,
            cipher=cipher,
        )
    view = await service.enrol(
        session,
        training_class=training_class,
        trainee=trainee,
        enrolled_by=principal.kind.value,
        policies=policies,
        now=datetime.now(UTC),
    )
    if view.enrolment.status == "waiting":
        response.status_code = status.HTTP_202_ACCEPTED
    return enrolment_read(view.enrolment, view.position)


@router.post(
    "/v1/enrolments/{enrolment_id}/cancel",
    response_model=CancellationRead,
    summary="Cancel an enrolment (its citizen, the class's institution, or district officials)",
)
async def cancel(
    enrolment_id: str,
    principal: AnyCaller,
    session: SessionDep,
    policies: Policies,
    today: Today,
) -> CancellationRead:
    """Releases the seat and quota; the first waiting person takes them over."""
    enrolment = await service.get_enrolment(session, enrolment_id)
    training_class = await get_class(session, enrolment.class_id)
    if principal.kind is PrincipalKind.CITIZEN:
        if enrolment.person_key != principal.subject:
            raise EnrolmentNotFound()
    elif principal.kind is PrincipalKind.INSTITUTION:
        if training_class.institution_id != principal.subject:
            raise EnrolmentNotFound()
        await active_institution(session, principal.subject)
    elif not principal.is_district_official:
        raise EnrolmentNotFound()
    promoted = await service.cancel(
        session,
        enrolment=enrolment,
        training_class=training_class,
        cancelled_by=principal.kind.value,
        policies=policies,
        today=today,
        now=datetime.now(UTC),
    )
    return CancellationRead(
        enrolment=enrolment_read(enrolment, None), promoted_enrolment_id=promoted
    )


@router.get(
    "/v1/me/enrolments",
    response_model=Page[MyEnrolmentRead],
    summary="A citizen's own enrolments",
)
async def my_enrolments(
    principal: Citizen,
    session: SessionDep,
    policies: Policies,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[MyEnrolmentRead]:
    """Newest first, with each class and the waiting-list position."""
    rows = await service.person_enrolments(
        session, person=principal.subject, limit=limit, cursor=cursor
    )
    items = []
    for view, training_class in rows:
        policy = policies.by_version(training_class.policy_version)
        items.append(
            MyEnrolmentRead(
                **enrolment_read(view.enrolment, view.position).model_dump(),
                class_title=training_class.title,
                class_domain=training_class.domain,
                class_domain_name_zh=policy.domain_name(training_class.domain),
                class_starts_on=training_class.starts_on,
                class_ends_on=training_class.ends_on,
                class_town=training_class.town,
            )
        )
    return Page(items=items, next_cursor=items[-1].id if len(items) == limit else None)


@router.get(
    "/v1/classes/{class_id}/enrolments",
    response_model=Page[EnrolmentRead],
    summary="A class's roster (its institution; officials by town), personal data masked",
)
async def class_roster(
    class_id: str,
    principal: InstitutionOrOfficial,
    session: SessionDep,
    status_filter: Annotated[EnrolmentStatus | None, Query(alias="status")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[EnrolmentRead]:
    """In enrolment order; waiting entries carry their position."""
    training_class = await get_class(session, class_id)
    check_class_visible(principal, training_class)
    rows = await service.roster(
        session, class_id=class_id, status=status_filter, limit=limit, cursor=cursor
    )
    items = [enrolment_read(v.enrolment, v.position) for v in rows]
    return Page(items=items, next_cursor=items[-1].id if len(items) == limit else None)
