"""HTTP handlers of key groups: memberships and the 愿培全培 report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from common.auth import OfficialRole, Principal, PrincipalKind, require
from common.errors import InvalidField
from training.access import Cipher, Citizen, Official, Pepper, Policies, Today, town_scope
from training.db import SessionDep
from training.key_groups import service
from training.key_groups.schemas import (
    KeyGroupReport,
    MembershipCreate,
    MembershipRead,
    ReportRowRead,
)
from training.models import KeyGroupMembership
from training.persons import NamedPerson, identify, required_identity
from training.rules import TrainingPolicy

router = APIRouter(tags=["key groups"])
Recorder = Annotated[
    Principal,
    Depends(
        require(
            PrincipalKind.CITIZEN,
            PrincipalKind.OFFICIAL,
            roles=[OfficialRole.DISTRICT_ADMIN, OfficialRole.TOWN_OFFICER],
        )
    ),
]


def membership_read(membership: KeyGroupMembership, policy: TrainingPolicy) -> MembershipRead:
    """The response body of a membership."""
    return MembershipRead(
        id=membership.id,
        group=membership.group_code,
        group_name_zh=policy.group_name(membership.group_code),
        town=membership.town,
        town_name_zh=policy.town_name(membership.town),
        willing=membership.willing,
        recorded_on=membership.recorded_on,
        recorded_by_kind=membership.recorded_by_kind,
        id_number_masked=membership.id_masked,
        name_masked=membership.name_masked,
    )


@router.post(
    "/v1/key-groups/memberships",
    status_code=status.HTTP_201_CREATED,
    response_model=MembershipRead,
    summary="Record a key-group membership and willingness (the person, or a town officer)",
    responses={200: {"description": "Updated an existing membership of the person and group"}},
)
async def record_membership(
    body: MembershipCreate,
    principal: Recorder,
    session: SessionDep,
    policies: Policies,
    today: Today,
    pepper: Pepper,
    cipher: Cipher,
    response: Response,
) -> MembershipRead:
    """A citizen for themself `{group, willing, town}`; an officer adds `{id_number, name}`."""
    if principal.kind is PrincipalKind.CITIZEN:
        if body.id_number is not None or body.name is not None:
            field = "id_number" if body.id_number is not None else "name"
            raise InvalidField(
                field=field, reason="not_allowed", message="Citizens record for themselves only"
            )
        member = NamedPerson(person_key=principal.subject)
    else:
        town_scope(principal, body.town)
        id_number, name = required_identity(
            id_number=body.id_number, name=body.name, whose="person's"
        )
        member = identify(
            id_number=id_number,
            name=name,
            table="key_group_memberships",
            today=today,
            pepper=pepper,
            cipher=cipher,
        )
    policy = policies.in_effect(today) or policies.latest
    membership, created = await service.record_membership(
        session,
        member=member,
        group=body.group,
        town=body.town,
        willing=body.willing,
        recorded_by_kind=principal.kind.value,
        recorded_by=principal.subject,
        policy=policy,
        today=today,
        now=datetime.now(UTC),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return membership_read(membership, policy)


@router.get(
    "/v1/me/key-groups",
    response_model=list[MembershipRead],
    summary="A citizen's own key-group memberships",
)
async def my_memberships(
    principal: Citizen, session: SessionDep, policies: Policies
) -> list[MembershipRead]:
    """Every group the citizen is recorded in."""
    rows = await service.person_memberships(session, person=principal.subject)
    return [membership_read(m, policies.latest) for m in rows]


@router.get(
    "/v1/key-groups/report",
    response_model=KeyGroupReport,
    summary="愿培全培 report: willing, trained this year, gap (officials; town officers by town)",
)
async def key_group_report(
    principal: Official,
    session: SessionDep,
    policies: Policies,
    today: Today,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    town: Annotated[str | None, Query(max_length=32)] = None,
) -> KeyGroupReport:
    """Rows per group × town; town officers get their own town only (403 for another)."""
    scope = town_scope(principal, town)
    policy = policies.in_effect(today) or policies.latest
    if scope is not None and scope not in policy.towns:
        raise InvalidField(field="town", reason="unknown_town", message="Unknown town code")
    year = year or today.year
    rows = await service.report(session, policy=policy, year=year, town=scope)
    return KeyGroupReport(
        year=year,
        town=scope,
        rows=[ReportRowRead.model_validate(r) for r in rows],
        willing=sum(r.willing for r in rows),
        trained=sum(r.trained for r in rows),
        gap=sum(r.gap for r in rows),
    )
