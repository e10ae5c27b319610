"""Response bodies of the 30-minute training circle."""

from __future__ import annotations

from pydantic import Field

from common.schemas import ResponseModel


class ReachableSiteRead(ResponseModel):
    """A training site within the circle."""

    site_id: str
    institution_id: str
    institution_name: str
    name: str
    address: str
    town: str
    latitude: float
    longitude: float
    distance_km: float = Field(description="Great-circle distance")
    minutes: float = Field(description="Estimated travel time")


class Origin(ResponseModel):
    """Where the circle is drawn from."""

    latitude: float
    longitude: float
    town: str | None = Field(description="Set when the origin is a town's (approximate) centre")


class CircleRead(ResponseModel):
    """Sites reachable within the policy's circle minutes by the mode."""

    origin: Origin
    mode: str
    speed_kmh: float
    circle_minutes: int
    detour_factor: float = Field(description="Road distance ≈ great-circle distance × this")
    sites: list[ReachableSiteRead]


class TownGapRead(ResponseModel):
    """A town whose centre has no site within the circle."""

    town: str
    name_zh: str
    latitude: float
    longitude: float
    nearest_site_id: str | None
    nearest_minutes: float | None


class GapsRead(ResponseModel):
    """Towns outside the circle of every site."""

    mode: str
    speed_kmh: float
    circle_minutes: int
    detour_factor: float
    centres_precision_km: float = Field(description="The town centres are approximate")
    towns: list[TownGapRead]
