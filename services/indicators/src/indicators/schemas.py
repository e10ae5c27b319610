"""Response bodies of the indicators API."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from common.schemas import ResponseModel


class IndicatorValue(ResponseModel):
    """One indicator for the requested year and date."""

    code: str
    name_zh: str
    unit: str
    value: int | float | None = Field(
        description="Counts are integers; None when a denominator (baseline) is missing"
    )
    target: int | float | None
    progress_percent: float | None
    on_track: bool | None


class IndicatorReport(ResponseModel):
    """Indicators as of a date, with how far the rollups are behind the log."""

    year: int
    as_of: date
    town: str | None
    policy_version: str
    lag_events: int
    indicators: list[IndicatorValue]
