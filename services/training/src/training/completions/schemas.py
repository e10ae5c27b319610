"""Request and response bodies of completion batches."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from common.schemas import RequestModel

MAX_BATCH = 5000
RejectReason = Literal[
    "invalid_id_number",
    "class_not_found",
    "not_enrolled",
    "already_recorded",
    "completed_on_in_future",
    "completed_on_outside_class",
    "past_submission_deadline",
]


class CompletionRecord(RequestModel):
    """One trainee's completion (结业) of a class."""

    class_id: str = Field(min_length=1, max_length=64)
    id_number: str = Field(min_length=1, max_length=32, description="Trainee's resident ID number")
    name: str = Field(min_length=1, max_length=64, description="Trainee's name")
    result: Literal["passed", "failed"] = Field(description="`passed` 合格 or `failed` 不合格")
    hours: float = Field(gt=0, le=2000, allow_inf_nan=False, description="Training hours (学时)")
    completed_on: date


class CompletionBatchCreate(RequestModel):
    """Up to 5,000 completions; each is accepted or rejected on its own."""

    records: list[CompletionRecord] = Field(min_length=1, max_length=MAX_BATCH)


class RecordResult(BaseModel):
    """The answer to one record, in the order posted."""

    index: int = Field(description="0-based position of the record in the batch")
    class_id: str
    status: Literal["accepted", "rejected"]
    reason: RejectReason | None = Field(description="Why a record was rejected")
    completion_id: str | None


class BatchResult(BaseModel):
    """The answer to a batch (replayed as is for the same Idempotency-Key and body)."""

    batch_id: str
    records: int
    accepted: int
    rejected: int
    results: list[RecordResult]
