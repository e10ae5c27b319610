"""Base models for request and response bodies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """A request body: unknown fields are refused (422), strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ResponseModel(BaseModel):
    """A response body built from attributes of ORM rows or dataclasses."""

    model_config = ConfigDict(from_attributes=True)


def yuan(fen: int) -> str:
    """An amount in fen as a yuan string for display: 160000 → "1600.00"."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"
