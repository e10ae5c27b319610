"""Reference data of the training circle: approximate town/street centres (no I/O after load)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import yaml

CENTRES_FILE = "town_centres.yaml"


@dataclass(frozen=True)
class TownCentre:
    """The (approximate) centre of a town or street."""

    code: str
    name_zh: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class TownCentres:
    """All centres, with the stated precision of the data."""

    centres: dict[str, TownCentre]
    precision_km: float
    datum: str


def load_town_centres() -> TownCentres:
    """Read `town_centres.yaml` shipped with this package."""
    text = resources.files("training.circle").joinpath(CENTRES_FILE).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    centres = {
        c["code"]: TownCentre(
            code=c["code"],
            name_zh=c["name_zh"],
            latitude=float(c["latitude"]),
            longitude=float(c["longitude"]),
        )
        for c in data["centres"]
    }
    return TownCentres(
        centres=centres, precision_km=float(data["precision_km"]), datum=str(data["datum"])
    )
