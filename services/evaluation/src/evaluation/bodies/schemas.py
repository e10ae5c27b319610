"""Request and response bodies of the evaluation-body API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from common.schemas import RequestModel, ResponseModel
from evaluation.rules import BodyStatus


class BodyCreate(RequestModel):
    """Register a filed evaluation body. A Y body's `uscc` is the enterprise behind it."""

    code: str = Field(
        min_length=5,
        max_length=13,
        examples=["S0001"],
        description="Type letter + 4-digit evaluator code (+ province and site digits for bodies "
        "filed with the province): the start of its 2019-format certificate numbers",
    )
    type: Literal["S", "Y"] = Field(
        description="Y = employer (用人单位), S = social evaluation organisation (社会培训评价组织)"
    )
    name: str = Field(min_length=1, max_length=200)
    uscc: str | None = Field(
        default=None, min_length=18, max_length=18, description="Required for Y bodies"
    )
    filing_number: str | None = Field(default=None, min_length=1, max_length=64)
    filed_on: date | None = Field(
        default=None,
        description="Filing (备案) date: the body may issue from this date. Unknown: it may "
        "issue certificates dated from 1990 on",
    )


class StatusChangeCreate(RequestModel):
    """A new row of a body's status history."""

    status: BodyStatus
    effective_on: date
    reason: str = Field(min_length=1, max_length=500)


class StatusRead(ResponseModel):
    """One row of the status history."""

    status: str
    effective_on: date
    reason: str
    recorded_by: str
    recorded_at: datetime


class BodySummary(ResponseModel):
    """A body and its status today."""

    code: str
    type: str
    name: str
    uscc: str | None
    filing_number: str | None
    filed_on: date | None
    legacy: bool
    status: str = Field(description="Status today; `not_filed` before the filing date")
    status_since: date | None = None
    status_reason: str | None = None
    on_negative_list: bool = False


class BodyRead(BodySummary):
    """A body with its whole status history."""

    history: list[StatusRead] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    flagged_certificates: int | None = Field(
        default=None,
        description="Certificates flagged by this status change (an exit with a past date)",
    )


class BodyList(ResponseModel):
    """A page of bodies."""

    items: list[BodySummary]
    next_cursor: str | None = None
