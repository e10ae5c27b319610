"""Events the finance service publishes (none yet; each gets a versioned model here)."""

from __future__ import annotations

from pydantic import BaseModel

SOURCE = "/services/finance"
EVENT_MODELS: dict[str, type[BaseModel]] = {}
