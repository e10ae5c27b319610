"""HTTP handlers of classes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, status
from fastapi.responses import JSONResponse

from common.auth import Principal, PrincipalKind
from common.idempotency import IdempotencyStore, fingerprint, idempotency_key_header
from training.access import AnyCaller, InstitutionCaller, Policies, may_see_town, town_scope
from training.classes import service
from training.classes.schemas import ClassCreate, ClassRead
from training.db import SessionDep
from training.exceptions import ClassNotFound, OtherTown
from training.institutions.service import active_institution
from training.models import TrainingClass, idempotency_keys
from training.rules import CLASS_MODES, TrainingPolicies
from training.schemas import Cursor, Limit, Page

router = APIRouter(prefix="/v1/classes", tags=["classes"])
idempotency = IdempotencyStore(idempotency_keys)
OptionalIdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Optional: the same key and body return the same class",
    ),
]


def class_read(
    training_class: TrainingClass, *, policies: TrainingPolicies, waiting: int
) -> ClassRead:
    """The response body of a class."""
    policy = policies.by_version(training_class.policy_version)
    level = policy.levels.get(training_class.level) if training_class.level else None
    return ClassRead(
        id=training_class.id,
        institution_id=training_class.institution_id,
        domain=training_class.domain,
        domain_name_zh=policy.domain_name(training_class.domain),
        title=training_class.title,
        occupation_code=training_class.occupation_code,
        occupation_name=training_class.occupation_name,
        level=training_class.level,
        level_name_zh=level.name_zh if level else None,
        capacity=training_class.capacity,
        seats_taken=training_class.seats_taken,
        seats_left=training_class.capacity - training_class.seats_taken,
        waiting=waiting,
        starts_on=training_class.starts_on,
        ends_on=training_class.ends_on,
        year=training_class.year,
        site_id=training_class.site_id,
        town=training_class.town,
        town_name_zh=policy.town_name(training_class.town),
        mode=training_class.mode,
        mode_zh=CLASS_MODES[training_class.mode],
        policy_version=training_class.policy_version,
    )


def check_class_visible(principal: Principal, training_class: TrainingClass) -> None:
    """Institutions see their own classes only (404); town officers their town only (403)."""
    if (
        principal.kind is PrincipalKind.INSTITUTION
        and training_class.institution_id != principal.subject
    ):
        raise ClassNotFound()
    if principal.kind is PrincipalKind.OFFICIAL and not may_see_town(
        principal, training_class.town
    ):
        raise OtherTown()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ClassRead,
    summary="Create a class (the institution that runs it)",
)
async def create_class(
    body: ClassCreate,
    principal: InstitutionCaller,
    session: SessionDep,
    policies: Policies,
    idempotency_key: OptionalIdempotencyKey = None,
) -> Any:
    """A run of a programme: domain, dates, capacity, town (and site, occupation, level, mode)."""
    await active_institution(session, principal.subject)
    key = await idempotency_key_header(idempotency_key) if idempotency_key is not None else None
    if key is not None:
        stored = await idempotency.claim(
            session,
            client=principal.subject,
            key=key,
            fingerprint=fingerprint(body.model_dump_json().encode()),
        )
        if stored is not None:
            return JSONResponse(stored.body, status_code=stored.status_code)
    training_class = await service.create_class(
        session,
        institution_id=principal.subject,
        data=service.ClassData(**body.model_dump()),
        policies=policies,
        now=datetime.now(UTC),
    )
    read = class_read(training_class, policies=policies, waiting=0)
    if key is not None:
        await idempotency.record(
            session,
            client=principal.subject,
            key=key,
            status_code=status.HTTP_201_CREATED,
            body=read.model_dump(mode="json"),
        )
    return read


@router.get("", response_model=Page[ClassRead], summary="Classes")
async def list_classes(
    principal: AnyCaller,
    session: SessionDep,
    policies: Policies,
    domain: Annotated[str | None, Query(max_length=32)] = None,
    town: Annotated[str | None, Query(max_length=32)] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ClassRead]:
    """Institutions list their own classes; town officers their town's; others every class."""
    if principal.kind is PrincipalKind.INSTITUTION:
        scope = service.ClassScope(institution_id=principal.subject)
    elif principal.kind is PrincipalKind.OFFICIAL:
        scope = service.ClassScope(town=town_scope(principal, town))
    else:
        scope = service.ClassScope()
    rows = await service.list_classes(
        session, scope=scope, domain=domain, town=town, year=year, limit=limit, cursor=cursor
    )
    waiting = await service.waiting_counts(session, [r.id for r in rows])
    items = [class_read(r, policies=policies, waiting=waiting.get(r.id, 0)) for r in rows]
    return Page(items=items, next_cursor=items[-1].id if len(items) == limit else None)


@router.get("/{class_id}", response_model=ClassRead, summary="One class")
async def get_class(
    class_id: str, principal: AnyCaller, session: SessionDep, policies: Policies
) -> ClassRead:
    """A class with its seats and waiting list length."""
    training_class = await service.get_class(session, class_id)
    check_class_visible(principal, training_class)
    waiting = await service.waiting_counts(session, [class_id])
    return class_read(training_class, policies=policies, waiting=waiting.get(class_id, 0))
