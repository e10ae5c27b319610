"""Domain errors of the awards service, each with its HTTP status and problem type."""

from __future__ import annotations
