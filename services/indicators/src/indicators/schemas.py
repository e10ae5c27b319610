"""Request and response bodies of the indicators API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from common.schemas import RequestModel, ResponseModel


class IndicatorValue(ResponseModel):
    """One indicator for the requested year and date."""

    code: str
    name_zh: str
    unit: str
    value: int | float | None = Field(
        description="Counts are integers; None when a denominator (baseline) is missing"
    )
    target: int | float | None = Field(description="The district target of the year")
    progress_percent: float | None
    on_track: bool | None
    unit_zh: str = ""
    comparison: str = Field(default=">=", description="`>=` (达到) or `>` (超过) the target")
    targets: dict[str, int | float | None] = Field(
        default_factory=dict, description="District targets by year (policy data)"
    )
    kind: Literal["stock", "flow"] = Field(
        default="stock", description="stock: as of the date; flow: 1 January to the date"
    )
    measure: Literal["count", "share", "money", "awaited"] = Field(
        default="count", description="awaited: defined, its source publishes no events yet (0)"
    )
    source_available: bool = True
    numerator: int | None = Field(default=None, description="For shares (%)")
    denominator: int | None = Field(default=None, description="For shares (%)")
    value_fen: int | None = Field(default=None, description="For money: the amount in fen")


class IndicatorReport(ResponseModel):
    """Indicators as of a date, with how far the rollups are behind the log."""

    year: int
    as_of: date
    town: str | None
    policy_version: str
    lag_events: int = Field(description="Log events the rollups have not applied yet")
    lag_seconds: float = Field(default=0.0, description="Age of the oldest unapplied event")
    log_head: int = 0
    applied_position: int = 0
    town_name_zh: str | None = None
    indicators: list[IndicatorValue]


class BreakdownRow(ResponseModel):
    """One town (or training domain) of a breakdown, with its rank."""

    key: str
    name_zh: str
    value: int | float | None
    rank: int | None = None
    numerator: int | None = None
    denominator: int | None = None
    target: int | float | None = None
    progress_percent: float | None = None
    on_track: bool | None = None


class Breakdown(ResponseModel):
    """An indicator broken down by town (ranked, 指标晾晒) or by training domain."""

    code: str
    name_zh: str
    unit: str
    unit_zh: str
    by: Literal["town", "domain"]
    year: int
    as_of: date
    town: str | None = None
    total: int | float | None = Field(description="The district (or town) value")
    unassigned: int | float | None = Field(
        default=None, description="Counted district-wide but in none of the 13 towns"
    )
    lag_events: int
    rows: list[BreakdownRow]


class TrendPoint(ResponseModel):
    """The value as of one date (flows: from 1 January of that date's year)."""

    date: date
    year: int
    value: int | float | None


class Trend(ResponseModel):
    """An indicator over time."""

    code: str
    name_zh: str
    unit: str
    unit_zh: str
    town: str | None
    interval: Literal["month", "day"]
    lag_events: int
    points: list[TrendPoint]


class TownInfo(ResponseModel):
    """A town or street."""

    code: str
    name_zh: str
    kind: str


class DomainInfo(ResponseModel):
    """A training domain."""

    code: str
    name_zh: str


class Catalogue(ResponseModel):
    """What the dashboard needs to draw itself: indicators, towns, domains, years."""

    policy_version: str
    today: date
    years: list[int]
    towns: list[TownInfo]
    domains: list[DomainInfo]
    indicators: list[IndicatorValue]


class BaselineWrite(RequestModel):
    """The employed-persons baseline of a year (从业人员数)."""

    employed_persons: int = Field(gt=0, le=100_000_000)


class BaselineRead(ResponseModel):
    """A year's baseline with who entered it last."""

    year: int
    employed_persons: int = Field(validation_alias="persons")
    version: int
    updated_by: str | None
    updated_at: datetime | None


class BaselineChangeRead(ResponseModel):
    """One entry of a baseline's audit trail."""

    year: int
    employed_persons: int = Field(validation_alias="persons")
    previous: int | None
    changed_by: str
    changed_at: datetime
    request_id: str | None
