"""HTTP handlers of the indicators service. Indicators are public aggregates (指标晾晒)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from common.auth import OfficialRole, Principal, PrincipalKind, require
from common.clock import today_in_shanghai
from common.errors import InvalidField, NotFound
from common.observability import request_id_var
from indicators import exports, service
from indicators.db import SessionDep
from indicators.handlers import CONSUMER_NAME
from indicators.rules import CULTIVATED, PERSON_TIMES, UNIT_ZH, IndicatorPolicy
from indicators.schemas import (
    BaselineChangeRead,
    BaselineRead,
    BaselineWrite,
    Breakdown,
    Catalogue,
    DomainInfo,
    IndicatorReport,
    TownInfo,
    Trend,
)

router = APIRouter(prefix="/v1", tags=["indicators"])
FIRST_YEAR = 2025
DistrictAdmin = Annotated[
    Principal, Depends(require(PrincipalKind.OFFICIAL, roles=[OfficialRole.DISTRICT_ADMIN]))
]
AnyOfficial = Annotated[Principal, Depends(require(PrincipalKind.OFFICIAL))]
Officials = Annotated[
    Principal,
    Depends(
        require(PrincipalKind.OFFICIAL, roles=[OfficialRole.DISTRICT_ADMIN, OfficialRole.AUDITOR])
    ),
]
YearQuery = Annotated[
    int | None,
    Query(description="Stocks at the end of the year (now for the current year), flows during it"),
]
AsOfQuery = Annotated[
    date | None, Query(description="Where things stood on this date (within the year)")
]
TownQuery = Annotated[str | None, Query(max_length=32, description="A town/street code")]


def _resolve_dates(year: int | None, as_of: date | None) -> tuple[int, date]:
    now = today_in_shanghai()
    if year is None:
        year = as_of.year if as_of else now.year
    if year < FIRST_YEAR or year > now.year + 1:
        raise InvalidField(
            field="year",
            reason="out_of_range",
            message=f"The year must be between {FIRST_YEAR} and {now.year + 1}",
        )
    if as_of is None:
        as_of = service.resolve_year(year, now)
    elif as_of.year != year:
        raise InvalidField(
            field="as_of",
            reason="outside_year",
            message="as_of must fall within the requested year",
        )
    return year, as_of


def _policy(request: Request) -> IndicatorPolicy:
    policy: IndicatorPolicy = request.app.state.policy
    return policy


def _check_town(request: Request, town: str | None) -> None:
    if town is not None and town not in request.app.state.town_codes:
        raise InvalidField(field="town", reason="unknown_town", message="Unknown town code")


def _check_code(policy: IndicatorPolicy, code: str) -> None:
    if policy.definition(code) is None:
        raise InvalidField(field="code", reason="unknown_code", message="Unknown indicator code")


async def _lag(request: Request, session: SessionDep) -> service.LagInfo:
    return await service.lag(session, log=request.app.state.eventlog, consumer=CONSUMER_NAME)


@router.get("/indicators", response_model=IndicatorReport, summary="The district's indicators")
async def read_indicators(
    request: Request,
    session: SessionDep,
    year: YearQuery = None,
    as_of: AsOfQuery = None,
    town: TownQuery = None,
) -> IndicatorReport:
    """Every indicator with its target, progress and whether it is on track."""
    policy = _policy(request)
    _check_town(request, town)
    year, as_of = _resolve_dates(year, as_of)
    values = await service.indicator_values(
        session, policy=policy, year=year, as_of=as_of, town=town
    )
    lag = await _lag(request, session)
    return IndicatorReport(
        year=year,
        as_of=as_of,
        town=town,
        town_name_zh=policy.town_name(town) if town else None,
        policy_version=policy.version,
        lag_events=lag.events,
        lag_seconds=round(lag.seconds, 3),
        log_head=lag.log_head,
        applied_position=lag.applied_position,
        indicators=values,
    )


@router.get(
    "/indicators/catalogue",
    response_model=Catalogue,
    summary="Indicator definitions, targets, towns and domains (for the dashboard)",
)
async def read_catalogue(request: Request) -> Catalogue:
    """What every indicator is, without values."""
    policy = _policy(request)
    now = today_in_shanghai()
    empty = service.Computed(None)
    return Catalogue(
        policy_version=policy.version,
        today=now,
        years=list(range(FIRST_YEAR, now.year + 1)),
        towns=[TownInfo(code=t.code, name_zh=t.name_zh, kind=t.kind) for t in policy.towns],
        domains=[DomainInfo(code=d.code, name_zh=d.name_zh) for d in policy.domains],
        indicators=[
            service.indicator_value(d, empty, year=now.year, town=None)
            for d in policy.all_definitions()
        ],
    )


@router.get(
    "/indicators/breakdown",
    response_model=Breakdown,
    summary="One indicator by town (ranked) or by training domain",
)
async def read_breakdown(
    request: Request,
    session: SessionDep,
    code: Annotated[str, Query(max_length=96, description="Indicator code (by=domain: family)")],
    by: Annotated[Literal["town", "domain"], Query()] = "town",
    year: YearQuery = None,
    as_of: AsOfQuery = None,
    town: Annotated[
        str | None, Query(max_length=32, description="by=domain only: one town")
    ] = None,
) -> Breakdown:
    """by=town: the 13 towns ranked (指标晾晒); by=domain: `training_person_times` or
    `talents_cultivated` per training domain, with each domain's target."""
    policy = _policy(request)
    _check_town(request, town)
    year, as_of = _resolve_dates(year, as_of)
    lag = await _lag(request, session)
    if by == "domain":
        family = code.split(".")[0]
        if family not in (PERSON_TIMES, CULTIVATED):
            raise InvalidField(
                field="code",
                reason="no_domains",
                message=f"by=domain takes {PERSON_TIMES} or {CULTIVATED}",
            )
        rows = await service.domain_breakdown(
            session, policy=policy, family=family, year=year, as_of=as_of, town=town
        )
        total = (
            await service.person_times_total(session, year=year, as_of=as_of, town=town)
            if family == PERSON_TIMES
            else None
        )
        return Breakdown(
            code=family,
            name_zh="培训人次" if family == PERSON_TIMES else "培育技能人才",
            unit="person_times" if family == PERSON_TIMES else "persons",
            unit_zh="人次" if family == PERSON_TIMES else "人",
            by="domain",
            year=year,
            as_of=as_of,
            town=town,
            total=total,
            lag_events=lag.events,
            rows=rows,
        )
    if town is not None:
        raise InvalidField(field="town", reason="not_with_town", message="by=town covers all towns")
    _check_code(policy, code)
    definition = policy.definition(code)
    assert definition is not None
    rows, unassigned = await service.town_breakdown(
        session, policy=policy, code=code, year=year, as_of=as_of
    )
    district = next(
        v
        for v in await service.indicator_values(
            session, policy=policy, year=year, as_of=as_of, town=None
        )
        if v.code == code
    )
    return Breakdown(
        code=code,
        name_zh=definition.name_zh,
        unit=definition.unit,
        unit_zh=UNIT_ZH.get(definition.unit, definition.unit),
        by="town",
        year=year,
        as_of=as_of,
        total=district.value,
        unassigned=unassigned,
        lag_events=lag.events,
        rows=rows,
    )


@router.get("/indicators/trend", response_model=Trend, summary="One indicator over time")
async def read_trend(
    request: Request,
    session: SessionDep,
    code: Annotated[str, Query(max_length=96)],
    start: Annotated[
        date | None, Query(alias="from", description="First date (default 2025-01-01)")
    ] = None,
    end: Annotated[date | None, Query(alias="to", description="Last date (default today)")] = None,
    interval: Annotated[Literal["month", "day"], Query()] = "month",
    town: TownQuery = None,
) -> Trend:
    """Value at each month end (or day); flows are year-to-date at each point."""
    policy = _policy(request)
    _check_town(request, town)
    _check_code(policy, code)
    now = today_in_shanghai()
    start = start or date(FIRST_YEAR, 1, 1)
    end = min(end or now, now)
    if start > end:
        raise InvalidField(field="from", reason="after_to", message="from must not be after to")
    if start.year < 2000:
        raise InvalidField(field="from", reason="out_of_range", message="from is before 2000")
    if interval == "day" and (end - start).days > 366:
        raise InvalidField(
            field="to", reason="too_many_points", message="At most 367 days per request"
        )
    definition = policy.definition(code)
    assert definition is not None
    points = await service.trend(
        session, policy=policy, code=code, start=start, end=end, interval=interval, town=town
    )
    lag = await _lag(request, session)
    return Trend(
        code=code,
        name_zh=definition.name_zh,
        unit=definition.unit,
        unit_zh=UNIT_ZH.get(definition.unit, definition.unit),
        town=town,
        interval=interval,
        lag_events=lag.events,
        points=points,
    )


def _etag(version: int) -> str:
    return f'"{version}"'


def _if_match(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip().removeprefix("W/").strip('"'))
    except ValueError as exc:
        raise InvalidField(
            field="If-Match", reason="invalid", message="If-Match must be an ETag of this API"
        ) from exc


@router.get("/baselines", response_model=list[BaselineRead], summary="Employed-persons baselines")
async def list_baselines(_principal: AnyOfficial, session: SessionDep) -> list[BaselineRead]:
    """Every year's employed persons (从业人员), the denominator of skilled_talent_share."""
    return [BaselineRead.model_validate(b) for b in await service.baselines(session)]


@router.get(
    "/baselines/{year}", response_model=BaselineRead, summary="One year's baseline (officials)"
)
async def read_baseline(
    year: int, _principal: AnyOfficial, session: SessionDep, response: Response
) -> BaselineRead:
    """The baseline with its ETag (send it back as If-Match when changing it)."""
    rows = {b.year: b for b in await service.baselines(session)}
    if year not in rows:
        raise NotFound("No baseline has been entered for this year")
    response.headers["ETag"] = _etag(rows[year].version)
    return BaselineRead.model_validate(rows[year])


@router.put(
    "/baselines/{year}",
    response_model=BaselineRead,
    summary="Enter a year's employed persons (district administrators)",
)
async def put_baseline(
    year: int,
    body: BaselineWrite,
    principal: DistrictAdmin,
    session: SessionDep,
    response: Response,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> BaselineRead:
    """Set the baseline; every change is kept with who made it and when."""
    now = today_in_shanghai()
    if year < FIRST_YEAR or year > now.year + 1:
        raise InvalidField(
            field="year",
            reason="out_of_range",
            message=f"The year must be between {FIRST_YEAR} and {now.year + 1}",
        )
    row = await service.set_baseline(
        session,
        year=year,
        persons=body.employed_persons,
        changed_by=f"{principal.kind.value}:{principal.subject}",
        request_id=request_id_var.get() or None,
        expected_version=_if_match(if_match),
    )
    response.headers["ETag"] = _etag(row.version)
    return BaselineRead.model_validate(row)


@router.get(
    "/baselines/{year}/changes",
    response_model=list[BaselineChangeRead],
    summary="Audit trail of a year's baseline (district administrators, auditors)",
)
async def baseline_history(
    year: int, _principal: Officials, session: SessionDep
) -> list[BaselineChangeRead]:
    """Who entered which value when."""
    changes = await service.baseline_changes(session, year)
    return [BaselineChangeRead.model_validate(c) for c in changes]


@router.get(
    "/exports/indicators.csv",
    summary="Indicators with town and domain breakdowns as CSV (UTF-8 with BOM, Chinese headers)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_csv(
    request: Request, session: SessionDep, year: YearQuery = None, as_of: AsOfQuery = None
) -> Response:
    """For Excel: a UTF-8 BOM, formula-like text neutralised."""
    table = await _export_table(request, session, year, as_of)
    return Response(
        exports.to_csv(table),
        media_type="text/csv; charset=utf-8",
        headers=exports.disposition(table, "csv"),
    )


@router.get(
    "/exports/indicators.xlsx",
    summary="Indicators with town and domain breakdowns as an Excel workbook",
    response_class=Response,
    responses={200: {"content": {exports.XLSX_MEDIA_TYPE: {}}}},
)
async def export_xlsx(
    request: Request, session: SessionDep, year: YearQuery = None, as_of: AsOfQuery = None
) -> Response:
    """Three sheets: 指标, 镇街分解 (town by town), 培训领域 (training domains)."""
    table = await _export_table(request, session, year, as_of)
    return Response(
        exports.to_xlsx(table),
        media_type=exports.XLSX_MEDIA_TYPE,
        headers=exports.disposition(table, "xlsx"),
    )


async def _export_table(
    request: Request, session: SessionDep, year: int | None, as_of: date | None
) -> exports.ExportTable:
    policy = _policy(request)
    year, as_of = _resolve_dates(year, as_of)
    district = await service.indicator_values(
        session, policy=policy, year=year, as_of=as_of, town=None
    )
    towns = await service.town_values(session, policy=policy, year=year, as_of=as_of)
    lag = await _lag(request, session)
    return exports.ExportTable(
        year=year,
        as_of=as_of,
        policy_version=policy.version,
        lag_events=lag.events,
        district=district,
        towns=[(policy.town_name(code), code, values) for code, values in towns],
        domains=[(d.code, d.name_zh) for d in policy.domains],
    )
