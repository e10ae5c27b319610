"""Domain errors of the evaluation service, each with its HTTP status and problem type."""

from __future__ import annotations

from typing import Any

from common.errors import Conflict, DomainError, Forbidden, NotFound


class InvalidFields(DomainError):
    """Fields break rules the schema cannot express; every problem found is listed."""

    status_code = 422
    slug = "validation-error"
    title = "Invalid field"

    def __init__(self, errors: list[dict[str, str]]) -> None:
        message = errors[0]["message"] if len(errors) == 1 else "Several fields are invalid"
        super().__init__(message, errors=errors)
        self.errors = errors


class CertificateNumberTaken(Conflict):
    """Another certificate already has this number."""

    slug = "certificate-number-taken"
    title = "A different certificate with this number exists"


class CertificateNotFound(NotFound):
    """No such certificate among those the caller may see."""

    slug = "certificate-not-found"
    title = "No such certificate"


class CertificateAlreadyRevoked(Conflict):
    """The certificate was revoked before."""

    slug = "certificate-already-revoked"
    title = "The certificate is already revoked"


class BodyNotRegistered(Forbidden):
    """The caller's token names an evaluation body that is not registered."""

    slug = "body-not-registered"
    title = "This evaluation body is not registered"


class BodyMayNotIssue(Conflict):
    """The body's status (on the issue date, or today) does not allow issuing."""

    slug = "body-may-not-issue"
    title = "This evaluation body may not issue certificates"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, **extensions)


class BodyCodeTaken(Conflict):
    """A different body is registered under this code."""

    slug = "body-code-taken"
    title = "A different body is registered under this code"


class BodyExited(Conflict):
    """An exit is final: no status may follow it."""

    slug = "body-exited"
    title = "The body has exited; its status can no longer change"


class BodyNotFound(NotFound):
    """No such body."""

    slug = "body-not-found"
    title = "No such evaluation body"


class ImportJobNotFound(NotFound):
    """No such import job."""

    slug = "import-not-found"
    title = "No such import job"


class UnsupportedUpload(DomainError):
    """The upload is neither a UTF-8 CSV nor an XLSX workbook."""

    status_code = 415
    slug = "unsupported-media-type"
    title = "Upload a CSV (UTF-8) or XLSX file"


class UploadTooLarge(DomainError):
    """The upload exceeds the configured size."""

    status_code = 413
    slug = "payload-too-large"
    title = "The file is too large"
