"""What the service layer needs from the app: policy, reward rules, the field cipher, the pepper,
and today's date. Built once by `main.create_app`; tests build their own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from common.clock import today_in_shanghai
from common.pii import FieldCipher
from evaluation.rules import CertificatePolicy, RewardPolicies


@dataclass(frozen=True)
class EvaluationContext:
    """The app-wide collaborators of the service functions."""

    policy: CertificatePolicy
    rewards: RewardPolicies
    cipher: FieldCipher
    pepper: str
    today: Callable[[], date] = field(default=today_in_shanghai)
