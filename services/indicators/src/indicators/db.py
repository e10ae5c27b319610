"""This service's database: the request session (one transaction) and its migration history."""

from __future__ import annotations

from common.db import SessionDep

MIGRATIONS = "indicators:migrations"

__all__ = ["MIGRATIONS", "SessionDep"]
