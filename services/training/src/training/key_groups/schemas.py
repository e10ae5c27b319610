"""Request and response bodies of key-group memberships and the coverage report."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from common.schemas import RequestModel, ResponseModel


class MembershipCreate(RequestModel):
    """A citizen records their own membership (no ID number or name); an officer a person's."""

    group: str = Field(max_length=32, description="Key-group code, e.g. `unemployed` 失业人员")
    willing: bool = Field(description="Willing to train (愿培)")
    town: str = Field(max_length=32, description="Town/street code (POLICY.md §6)")
    id_number: str | None = Field(default=None, min_length=15, max_length=18)
    name: str | None = Field(default=None, min_length=1, max_length=64)


class MembershipRead(ResponseModel):
    """A membership (personal data masked; absent when the person recorded it themself)."""

    id: str
    group: str
    group_name_zh: str
    town: str
    town_name_zh: str
    willing: bool
    recorded_on: date
    recorded_by_kind: str
    id_number_masked: str | None
    name_masked: str | None


class ReportRowRead(ResponseModel):
    """One group in one town: willing persons, those trained in the year, and the gap."""

    group: str
    group_name_zh: str
    town: str
    town_name_zh: str
    willing: int
    trained: int
    gap: int


class KeyGroupReport(ResponseModel):
    """愿培全培 coverage for a year."""

    year: int
    town: str | None
    rows: list[ReportRowRead]
    willing: int
    trained: int
    gap: int
