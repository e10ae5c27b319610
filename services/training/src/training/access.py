"""Who may call what: dependency aliases for the handlers and the town-scope rule.

Institutions touch only their own classes; citizens only their own enrolments; town officers only
their town; district officials (district_admin) everything. Other official roles (department
officers, auditors) may read district-wide reports but change nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Request

from common.auth import (
    CurrentPrincipal,
    OfficialRole,
    Principal,
    PrincipalKind,
    require,
    visible_town,
)
from common.pii import FieldCipher
from training.exceptions import OtherTown
from training.rules import TrainingPolicies

Citizen = Annotated[Principal, Depends(require(PrincipalKind.CITIZEN))]
InstitutionCaller = Annotated[Principal, Depends(require(PrincipalKind.INSTITUTION))]
Official = Annotated[Principal, Depends(require(PrincipalKind.OFFICIAL))]
DistrictAdmin = Annotated[
    Principal,
    Depends(require(PrincipalKind.OFFICIAL, roles=[OfficialRole.DISTRICT_ADMIN])),
]
AnyCaller = CurrentPrincipal


def town_scope(principal: Principal, requested: str | None) -> str | None:
    """The town a request is limited to: a town officer's own (403 for another), else as asked."""
    own = visible_town(principal)
    if own is None:
        return requested
    if requested is not None and requested != own:
        raise OtherTown()
    return own


def may_see_town(principal: Principal, town: str) -> bool:
    """Officials other than town officers see every town; a town officer only their own."""
    own = visible_town(principal)
    return own is None or own == town


async def policies(request: Request) -> TrainingPolicies:
    """The policy versions the app was started with."""
    return request.app.state.training_policies


async def today(request: Request) -> date:
    """Today in Asia/Shanghai, from the app's clock (tests replace the clock)."""
    return request.app.state.clock()


async def cipher(request: Request) -> FieldCipher:
    """The field cipher for ID numbers and names."""
    return request.app.state.field_cipher


async def pepper(request: Request) -> str:
    """The person_key pepper."""
    return request.app.state.pepper


Policies = Annotated[TrainingPolicies, Depends(policies)]
Today = Annotated[date, Depends(today)]
Cipher = Annotated[FieldCipher, Depends(cipher)]
Pepper = Annotated[str, Depends(pepper)]
