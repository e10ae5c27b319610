"""What an event means to the indicators: one *change* to a person's facts (or to money flows).

Built from events by the tolerant readers of `indicators.handlers`; applied by the rollup consumer
(`indicators.rollup`) and, independently, by the recount (`indicators.reconcile`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from indicators.timeline import Certificate, Completion, Membership


class MissingPersonKey(ValueError):
    """The event has no `personkey` extension but needs one."""


class UnknownCertificate(ValueError):
    """A revocation or flag names a certificate nobody has heard of, and no person."""


@dataclass(frozen=True)
class Issue:
    """A certificate was issued."""

    certificate: Certificate


@dataclass(frozen=True)
class Revoke:
    """A certificate stops counting from a date."""

    certificate_id: str
    person_key: str | None
    revoked_on: date


@dataclass(frozen=True)
class Flag:
    """A certificate was flagged."""

    certificate_id: str
    person_key: str | None
    flagged_on: date


@dataclass(frozen=True)
class Train:
    """A training completion was recorded."""

    completion: Completion


@dataclass(frozen=True)
class Join:
    """A key-group membership was recorded."""

    membership: Membership


@dataclass(frozen=True)
class Reward:
    """Money granted (positive) or taken back (negative) on a date."""

    key: str
    entry_id: str
    amount_fen: int
    effective_on: date
    town: str | None = None  # the certificate's town (CloudEvents extension)


Change = Issue | Revoke | Flag | Train | Join | Reward
