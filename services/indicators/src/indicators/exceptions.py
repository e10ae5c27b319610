"""Domain errors of the indicators service."""

from __future__ import annotations

from common.errors import DomainError, InvalidField


class BaselineVersionMismatch(DomainError):
    """`If-Match` names a baseline version that is no longer current."""

    status_code = 412
    slug = "precondition-failed"
    title = "Precondition failed"


__all__ = ["BaselineVersionMismatch", "InvalidField"]
