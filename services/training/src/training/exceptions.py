"""Domain errors of the training service, each with its HTTP status and problem type."""

from __future__ import annotations

from common.errors import Conflict, Forbidden, NotFound


class InstitutionNotFound(NotFound):
    """No such institution (or the caller may not see it)."""

    slug = "institution-not-found"
    title = "Institution not found"


class InstitutionNotRegistered(Forbidden):
    """The token's institution is not registered with the district."""

    slug = "institution-not-registered"
    title = "This institution is not registered"


class InstitutionInactive(Forbidden):
    """A suspended or exited institution may not change anything."""

    slug = "institution-inactive"
    title = "This institution is not active"


class InstitutionUsccTaken(Conflict):
    """Another institution is registered under this USCC."""

    slug = "institution-uscc-taken"
    title = "Another institution is registered under this USCC"


class ClassNotFound(NotFound):
    """No such class (or another institution's class: same answer, no existence oracle)."""

    slug = "class-not-found"
    title = "Class not found"


class EnrolmentNotFound(NotFound):
    """No such enrolment (or not the caller's)."""

    slug = "enrolment-not-found"
    title = "Enrolment not found"


class ProgrammeNotFound(NotFound):
    """No such programme (domain) in the policy for that year."""

    slug = "programme-not-found"
    title = "Programme not found"


class AlreadyEnrolled(Conflict):
    """The person already has an active (enrolled or waiting) enrolment in this class."""

    slug = "already-enrolled"
    title = "Already enrolled or waiting in this class"


class QuotaExhausted(Conflict):
    """The programme's annual person-times quota is used up."""

    slug = "quota-exhausted"
    title = "The programme's quota for the year is used up"


class EnrolmentClosed(Conflict):
    """Too late to enrol: citizens until the class starts, institutions until it ends."""

    slug = "enrolment-closed"
    title = "Enrolment in this class is closed"


class EnrolmentNotActive(Conflict):
    """The enrolment is already cancelled."""

    slug = "enrolment-not-active"
    title = "The enrolment is not active"


class ClassEnded(Conflict):
    """The class has ended; its enrolments can no longer change."""

    slug = "class-ended"
    title = "The class has ended"


class CompletionAlreadyRecorded(Conflict):
    """A completion is recorded for this enrolment; it can no longer be cancelled."""

    slug = "completion-recorded"
    title = "A completion is recorded for this enrolment"


class QuotaBelowUsed(Conflict):
    """A quota cannot be set below what is already used."""

    slug = "quota-below-used"
    title = "The quota cannot be set below what is already used"


class OtherTown(Forbidden):
    """A town officer asked about another town."""

    slug = "other-town"
    title = "Town officers see their own town only"


class ConcurrentCompletionBatch(Conflict):
    """Another batch recorded some of these completions at the same moment; retry."""

    slug = "completion-batch-conflict"
    title = "A concurrent batch recorded some of these completions; retry the batch"
