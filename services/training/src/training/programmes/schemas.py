"""Request and response bodies of programmes and quotas."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from common.schemas import RequestModel, ResponseModel


class ProgrammeRead(ResponseModel):
    """A programme (training domain) in a year: quota in person-times (人次), use, target."""

    year: int
    domain: str = Field(description="Domain code (POLICY.md §9)")
    name_zh: str = Field(description="Domain name (领域)")
    quota: int | None = Field(description="Annual person-times quota; null = no cap")
    used: int = Field(description="Seats reserved by enrolments in classes starting that year")
    remaining: int | None
    talents_target: int | None = Field(description="Talents to cultivate (培育技能人才), persons")
    completions: int = Field(description="Completions recorded in the year")
    policy_version: str


class QuotaAdjustmentCreate(RequestModel):
    """A district official's change of a year's quota."""

    quota: int = Field(ge=0, le=1_000_000, description="New annual quota (person-times)")
    reason: str = Field(min_length=2, max_length=500, description="Why (kept in the audit trail)")


class QuotaAdjustmentRead(ResponseModel):
    """One audited quota change."""

    id: str
    year: int
    domain: str
    old_quota: int | None
    new_quota: int
    used: int = Field(description="Used at the time of the change")
    reason: str
    adjusted_by: str
    adjusted_at: datetime
