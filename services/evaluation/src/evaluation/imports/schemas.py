"""Response bodies of the import API."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from common.schemas import ResponseModel


class ImportJobRead(ResponseModel):
    """An import job and its progress.

    `status`: `queued`, `running`, `completed` (every row processed; some may have errors),
    `failed` (the file could not be processed; `failure_reason` says why) or `interrupted`
    (the process stopped mid-way: upload the file again — rows already imported count as
    duplicates).
    """

    id: str
    status: str
    file_format: str
    size_bytes: int
    total_rows: int | None
    processed_rows: int
    created: int
    duplicates: int
    errors: int = Field(description="Rows with at least one error (see the error report)")
    failure_reason: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    errors_url: str = Field(default="", description="The per-row error report (CSV)")
