"""The HTTP layer's shared pieces: who may call what (DESIGN.md §4), the service context,
and the cursor helpers. The routers live in the sub-packages; `main.py` wires them."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, Request

from common.auth import OfficialRole, Principal, PrincipalKind, require
from common.errors import InvalidField
from evaluation.context import EvaluationContext

OFFICIAL = PrincipalKind.OFFICIAL
DistrictAdmin = Annotated[
    Principal, Depends(require(OFFICIAL, roles=[OfficialRole.DISTRICT_ADMIN]))
]
AnyOfficial = Annotated[Principal, Depends(require(OFFICIAL))]
# The reward ledger is money per enterprise, not per town: district admins, the department's
# officers and auditors read it; town officers do not.
LedgerReader = Annotated[
    Principal,
    Depends(
        require(
            OFFICIAL,
            roles=[
                OfficialRole.DISTRICT_ADMIN,
                OfficialRole.DEPARTMENT_OFFICER,
                OfficialRole.AUDITOR,
            ],
        )
    ),
]
EvaluationBodyPrincipal = Annotated[Principal, Depends(require(PrincipalKind.EVALUATION_BODY))]
CitizenPrincipal = Annotated[Principal, Depends(require(PrincipalKind.CITIZEN))]
EnterprisePrincipal = Annotated[Principal, Depends(require(PrincipalKind.ENTERPRISE))]
OfficialOrBody = Annotated[Principal, Depends(require(OFFICIAL, PrincipalKind.EVALUATION_BODY))]


def evaluation_context(request: Request) -> EvaluationContext:
    """The app's service context."""
    context: EvaluationContext = request.app.state.evaluation
    return context


ContextDep = Annotated[EvaluationContext, Depends(evaluation_context)]


def encode_cursor(value: str) -> str:
    """An opaque cursor for the last key of a page."""
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The key a cursor stands for (422 when it is not one of ours)."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidField(field="cursor", reason="invalid", message="Unknown cursor") from exc
