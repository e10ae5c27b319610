"""A service endpoint for benchmarks: FastAPI returning a small pydantic model, like `/healthz`."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel


class Health(BaseModel):
    """The body of a health answer."""

    status: str
    service: str


app = FastAPI(title="bench-upstream")


@app.get("/healthz")
async def healthz() -> Health:
    """A small pydantic model, serialised by FastAPI."""
    return Health(status="ok", service="bench-upstream")
