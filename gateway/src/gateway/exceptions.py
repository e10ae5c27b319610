"""Errors of the gateway, each carrying its HTTP status (rendered as problem+json)."""

from __future__ import annotations

from common.errors import DomainError, Forbidden


class DevTokensDisabled(Forbidden):
    """The development token issuer is off in this environment."""

    slug = "dev-tokens-disabled"
    title = "Development tokens are disabled"


class PolicyUnavailable(DomainError):
    """The policy data needed to check the request could not be loaded."""

    status_code = 503
    slug = "policy-unavailable"
    title = "Policy data unavailable"


class SigningKeyMissing(RuntimeError):
    """Production start-up without a provisioned signing key (no auto-generation there)."""
