"""HTTP handlers of the indicators service. Indicators are public aggregates (指标晾晒)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request

from common.errors import InvalidField
from indicators import service
from indicators.db import SessionDep
from indicators.handlers import CONSUMER_NAME
from indicators.rules import year_end
from indicators.schemas import IndicatorReport

router = APIRouter(prefix="/v1", tags=["indicators"])
SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST_YEAR = 2025


def _resolve_dates(year: int | None, as_of: date | None) -> tuple[int, date]:
    today = datetime.now(SHANGHAI).date()
    if year is None:
        year = as_of.year if as_of else today.year
    if year < FIRST_YEAR or year > today.year + 1:
        raise InvalidField(
            field="year",
            reason="out_of_range",
            message=f"The year must be between {FIRST_YEAR} and {today.year + 1}",
        )
    if as_of is None:
        as_of = min(year_end(year), today)
    elif as_of.year != year:
        raise InvalidField(
            field="as_of",
            reason="outside_year",
            message="as_of must fall within the requested year",
        )
    return year, as_of


@router.get("/indicators", response_model=IndicatorReport, summary="The district's indicators")
async def read_indicators(
    request: Request,
    session: SessionDep,
    year: Annotated[
        int | None, Query(description="Stocks at the end of the year, flows during it")
    ] = None,
    as_of: Annotated[date | None, Query(description="Where things stood on this date")] = None,
    town: Annotated[str | None, Query(max_length=32, description="A town/street code")] = None,
) -> IndicatorReport:
    """Every indicator with its target, progress and whether it is on track."""
    policy = request.app.state.policy
    if town is not None and town not in request.app.state.town_codes:
        raise InvalidField(field="town", reason="unknown_town", message="Unknown town code")
    year, as_of = _resolve_dates(year, as_of)
    values = await service.indicator_values(
        session, policy=policy, year=year, as_of=as_of, town=town
    )
    lag = await service.lag(session, log=request.app.state.eventlog, consumer=CONSUMER_NAME)
    return IndicatorReport(
        year=year,
        as_of=as_of,
        town=town,
        policy_version=policy.version,
        lag_events=lag,
        indicators=values,
    )
