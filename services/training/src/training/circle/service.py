"""The 30-minute training circle: sites reachable from a point, towns left outside. Never commits.

Travel time is estimated, not routed: great-circle distance × `DETOUR_FACTOR` (rules.py) at the
policy's speed for the mode (`training.travel_speeds_kmh`), compared with `circle_minutes`. Only
sites of active institutions count. Sea crossings are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from training.circle.rules import TownCentres
from training.models import Institution, Site
from training.rules import bounding_box, great_circle_km, reach_km, travel_minutes


@dataclass(frozen=True)
class ReachableSite:
    """A site within the circle."""

    site_id: str
    institution_id: str
    institution_name: str
    name: str
    address: str
    town: str
    latitude: float
    longitude: float
    distance_km: float
    minutes: float


@dataclass(frozen=True)
class TownGap:
    """A town whose centre has no site within the circle."""

    town: str
    name_zh: str
    latitude: float
    longitude: float
    nearest_site_id: str | None
    nearest_minutes: float | None


async def _sites_near(
    session: AsyncSession, *, latitude: float, longitude: float, radius_km: float
) -> list[tuple[Site, str]]:
    min_lat, max_lat, min_lon, max_lon = bounding_box(latitude, longitude, radius_km)
    rows = await session.execute(
        select(Site, Institution.name)
        .join(Institution, Institution.id == Site.institution_id)
        .where(
            Institution.status == "active",
            Site.latitude.between(min_lat, max_lat),
            Site.longitude.between(min_lon, max_lon),
        )
    )
    return [(site, name) for site, name in rows.all()]


async def reachable_sites(
    session: AsyncSession,
    *,
    latitude: float,
    longitude: float,
    speed_kmh: float,
    minutes: float,
) -> list[ReachableSite]:
    """Sites within `minutes` at `speed_kmh`, nearest first."""
    found = []
    radius = reach_km(minutes, speed_kmh)
    for site, institution_name in await _sites_near(
        session, latitude=latitude, longitude=longitude, radius_km=radius
    ):
        distance = great_circle_km(latitude, longitude, site.latitude, site.longitude)
        travel = travel_minutes(distance, speed_kmh)
        if travel <= minutes:
            found.append(
                ReachableSite(
                    site_id=site.id,
                    institution_id=site.institution_id,
                    institution_name=institution_name,
                    name=site.name,
                    address=site.address,
                    town=site.town,
                    latitude=site.latitude,
                    longitude=site.longitude,
                    distance_km=round(distance, 2),
                    minutes=round(travel, 1),
                )
            )
    return sorted(found, key=lambda s: (s.minutes, s.site_id))


async def gaps(
    session: AsyncSession,
    *,
    centres: TownCentres,
    towns: list[str],
    speed_kmh: float,
    minutes: float,
) -> list[TownGap]:
    """Towns whose centre reaches no site within the circle, with the nearest site if any."""
    rows = await session.execute(
        select(Site.id, Site.latitude, Site.longitude)
        .join(Institution, Institution.id == Site.institution_id)
        .where(Institution.status == "active")
    )
    sites = rows.all()
    result = []
    for code in towns:
        centre = centres.centres.get(code)
        if centre is None:
            continue
        nearest: tuple[float, str] | None = None
        for site_id, lat, lon in sites:
            travel = travel_minutes(
                great_circle_km(centre.latitude, centre.longitude, lat, lon), speed_kmh
            )
            if nearest is None or travel < nearest[0]:
                nearest = (travel, site_id)
        if nearest is None or nearest[0] > minutes:
            result.append(
                TownGap(
                    town=code,
                    name_zh=centre.name_zh,
                    latitude=centre.latitude,
                    longitude=centre.longitude,
                    nearest_site_id=nearest[1] if nearest else None,
                    nearest_minutes=round(nearest[0], 1) if nearest else None,
                )
            )
    return result
