"""Request and response bodies of classes."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from common.schemas import RequestModel, ResponseModel

ClassMode = Literal["classroom", "online", "on_the_job"]


class ClassCreate(RequestModel):
    """A class posted by the institution that runs it."""

    domain: str = Field(
        max_length=32, description="Domain code (POLICY.md §9), e.g. `manufacturing`"
    )
    title: str = Field(min_length=1, max_length=200)
    capacity: int = Field(ge=1, le=5000, description="Seats")
    starts_on: date
    ends_on: date
    town: str = Field(max_length=32, description="Town/street code (POLICY.md §6)")
    occupation_code: str | None = Field(
        default=None, pattern=r"^\d-\d{2}-\d{2}-\d{2}$", examples=["6-04-02-05"]
    )
    occupation_name: str | None = Field(default=None, min_length=1, max_length=100)
    level: str | None = Field(
        default=None, max_length=32, description="Level aimed at, e.g. `senior`"
    )
    site_id: str | None = Field(
        default=None, max_length=36, description="One of the institution's sites"
    )
    mode: ClassMode = Field(
        default="classroom",
        description="`classroom` 线下课堂, `online` 线上培训, `on_the_job` 在岗培训",
    )


class ClassRead(ResponseModel):
    """A class with its seats."""

    id: str
    institution_id: str
    domain: str
    domain_name_zh: str
    title: str
    occupation_code: str | None
    occupation_name: str | None
    level: str | None
    level_name_zh: str | None
    capacity: int
    seats_taken: int
    seats_left: int
    waiting: int = Field(description="People on the waiting list")
    starts_on: date
    ends_on: date
    year: int = Field(description="Quota year (the year the class starts)")
    site_id: str | None
    town: str
    town_name_zh: str
    mode: ClassMode
    mode_zh: str
    policy_version: str
