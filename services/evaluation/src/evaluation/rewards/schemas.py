"""Response bodies of the reward ledger."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from common.schemas import ResponseModel


class RewardEntryRead(ResponseModel):
    """One entry: granted, or reversed (with the date and reason)."""

    entry_id: str
    certificate_number: str
    holder_name_masked: str
    amount_fen: int
    amount_yuan: str
    status: str
    granted_on: date
    reversed_on: date | None = None
    reversal_reason: str | None = None
    policy_version: str


class EnterpriseYearLedger(ResponseModel):
    """An enterprise's reward in one year: the granted total never exceeds the cap."""

    enterprise_uscc: str
    year: int
    cap_fen: int | None = Field(description="The annual cap of the policy in effect that year")
    granted_fen: int
    granted_yuan: str
    persons: int
    entries: list[RewardEntryRead]


class RewardLedger(ResponseModel):
    """The ledger of a year (one enterprise, or all)."""

    year: int
    enterprises: list[EnterpriseYearLedger]
