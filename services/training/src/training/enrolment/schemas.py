"""Request and response bodies of enrolments."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from common.schemas import RequestModel, ResponseModel

EnrolmentStatus = Literal["enrolled", "waiting", "cancelled"]


class EnrolmentCreate(RequestModel):
    """An institution enrols a trainee by ID number and name; a citizen sends no body.

    A citizen may add their own ID number and name (checked against their token) so that the
    institution's roster shows them masked.
    """

    id_number: str | None = Field(default=None, min_length=15, max_length=18)
    name: str | None = Field(default=None, min_length=1, max_length=64)


class EnrolmentRead(ResponseModel):
    """An enrolment as its class's institution or its person sees it (personal data masked)."""

    id: str
    class_id: str
    status: EnrolmentStatus = Field(
        description="`enrolled` 已报名, `waiting` 候补, `cancelled` 已取消"
    )
    status_zh: str
    waiting_position: int | None = Field(description="1-based place on the waiting list")
    enrolled_by: Literal["citizen", "institution"]
    id_number_masked: str | None
    name_masked: str | None
    created_at: datetime
    enrolled_at: datetime | None
    promoted_at: datetime | None
    cancelled_at: datetime | None


class MyEnrolmentRead(EnrolmentRead):
    """A citizen's own enrolment with the class it is in."""

    class_title: str
    class_domain: str
    class_domain_name_zh: str
    class_starts_on: date
    class_ends_on: date
    class_town: str


class CancellationRead(ResponseModel):
    """A cancelled enrolment and who, if anyone, took over its seat."""

    enrolment: EnrolmentRead
    promoted_enrolment_id: str | None = Field(description="The waiting enrolment that got the seat")
