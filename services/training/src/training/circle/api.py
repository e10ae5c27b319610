"""HTTP handlers of the 30-minute training circle."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from common.errors import InvalidField
from training.access import AnyCaller, Policies, Today
from training.circle import service
from training.circle.rules import TownCentres
from training.circle.schemas import CircleRead, GapsRead, Origin, ReachableSiteRead, TownGapRead
from training.db import SessionDep
from training.rules import DETOUR_FACTOR, TrainingPolicy

router = APIRouter(prefix="/v1/training-circle", tags=["training circle"])
Mode = Annotated[
    str, Query(max_length=16, description="Travel mode: a key of policy `travel_speeds_kmh`")
]


def _speed(policy: TrainingPolicy, mode: str) -> float:
    speed = policy.travel_speeds_kmh.get(mode)
    if speed is None:
        raise InvalidField(
            field="mode",
            reason="unknown_mode",
            message=f"Unknown mode; one of {', '.join(sorted(policy.travel_speeds_kmh))}",
        )
    return speed


def _centres(request: Request) -> TownCentres:
    return request.app.state.town_centres


@router.get("", response_model=CircleRead, summary="Training sites within the circle of a point")
async def circle(
    request: Request,
    _principal: AnyCaller,
    session: SessionDep,
    policies: Policies,
    today: Today,
    lat: Annotated[float | None, Query(ge=-90, le=90, description="Latitude (WGS-84)")] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180, description="Longitude (WGS-84)")] = None,
    town: Annotated[str | None, Query(max_length=32, description="Or a town's centre")] = None,
    mode: Mode = "bus",
) -> CircleRead:
    """Give `lat` and `lon`, or `town`; sites of active institutions, nearest first."""
    policy = policies.in_effect(today) or policies.latest
    speed = _speed(policy, mode)
    if town is not None:
        if lat is not None or lon is not None:
            raise InvalidField(field="town", reason="ambiguous", message="Give a town or lat/lon")
        centre = _centres(request).centres.get(town)
        if centre is None or town not in policy.towns:
            raise InvalidField(field="town", reason="unknown_town", message="Unknown town code")
        origin = Origin(latitude=centre.latitude, longitude=centre.longitude, town=town)
    elif lat is None or lon is None:
        raise InvalidField(
            field="lat" if lat is None else "lon",
            reason="missing",
            message="Give both lat and lon, or a town",
        )
    else:
        origin = Origin(latitude=lat, longitude=lon, town=None)
    sites = await service.reachable_sites(
        session,
        latitude=origin.latitude,
        longitude=origin.longitude,
        speed_kmh=speed,
        minutes=policy.circle_minutes,
    )
    return CircleRead(
        origin=origin,
        mode=mode,
        speed_kmh=speed,
        circle_minutes=policy.circle_minutes,
        detour_factor=DETOUR_FACTOR,
        sites=[ReachableSiteRead.model_validate(s) for s in sites],
    )


@router.get("/gaps", response_model=GapsRead, summary="Towns with no site within the circle")
async def circle_gaps(
    request: Request,
    _principal: AnyCaller,
    session: SessionDep,
    policies: Policies,
    today: Today,
    mode: Mode = "bus",
) -> GapsRead:
    """Towns whose (approximate) centre reaches no training site within the circle minutes."""
    policy = policies.in_effect(today) or policies.latest
    speed = _speed(policy, mode)
    centres = _centres(request)
    towns = [code for code in policy.towns if policy.town_valid_on(code, today)]
    found = await service.gaps(
        session, centres=centres, towns=towns, speed_kmh=speed, minutes=policy.circle_minutes
    )
    return GapsRead(
        mode=mode,
        speed_kmh=speed,
        circle_minutes=policy.circle_minutes,
        detour_factor=DETOUR_FACTOR,
        centres_precision_km=centres.precision_km,
        towns=[TownGapRead.model_validate(g) for g in found],
    )
