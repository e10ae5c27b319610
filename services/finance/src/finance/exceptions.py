"""Domain errors of the finance service, each with its HTTP status and problem type."""

from __future__ import annotations
