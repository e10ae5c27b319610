"""Domain errors of the indicators service."""

from __future__ import annotations

from common.errors import InvalidField

__all__ = ["InvalidField"]
