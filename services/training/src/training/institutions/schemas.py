"""Request and response bodies of institutions and sites."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from common.schemas import RequestModel, ResponseModel

InstitutionStatus = Literal["active", "suspended", "exited"]


class InstitutionCreate(RequestModel):
    """A training institution registered by a district official."""

    name: str = Field(min_length=2, max_length=200, description="Registered name (机构名称)")
    uscc: str = Field(min_length=18, max_length=18, description="Unified social credit code")


class InstitutionStatusUpdate(RequestModel):
    """A status change: `active` 正常, `suspended` 暂停, `exited` 已退出."""

    status: InstitutionStatus


class InstitutionRead(ResponseModel):
    """A registered institution; its token's `subject` is `id`."""

    id: str
    name: str
    uscc: str
    status: InstitutionStatus
    status_zh: str
    created_at: datetime
    warnings: list[str] = Field(default_factory=list)


class SiteCreate(RequestModel):
    """A training site (培训点) of an institution."""

    name: str = Field(min_length=1, max_length=200)
    address: str = Field(min_length=1, max_length=300)
    town: str = Field(max_length=32, description="Town/street code (POLICY.md §6)")
    latitude: float = Field(ge=-90, le=90, allow_inf_nan=False, description="WGS-84 degrees")
    longitude: float = Field(ge=-180, le=180, allow_inf_nan=False, description="WGS-84 degrees")


class SiteRead(ResponseModel):
    """A training site."""

    id: str
    institution_id: str
    name: str
    address: str
    town: str
    latitude: float
    longitude: float
