"""The platform's clock: dates are Asia/Shanghai dates (DESIGN.md: dates in Asia/Shanghai)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def today_in_shanghai() -> date:
    """Today's date in Asia/Shanghai."""
    return datetime.now(SHANGHAI).date()
