"""Domain errors of the evaluation service, each with its HTTP status and problem type."""

from __future__ import annotations

from common.errors import Conflict


class CertificateNumberTaken(Conflict):
    """Another certificate already has this number."""

    slug = "certificate-number-taken"
    title = "A different certificate with this number exists"
