"""Pure rules of a certificate posting: its own fields, and its fit with the issuing body."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from common.identifiers import UsccCheck, check_uscc, id_number_problem
from evaluation.certificates.schemas import CertificateCreate
from evaluation.rules import (
    EARLIEST_ISSUE_DATE,
    ENTERPRISE_ASSESSMENT,
    BodyState,
    BodyType,
    CertificatePolicy,
    level_digit_matches,
    number_format,
    number_matches_body,
    number_year_matches,
)

Problem = dict[str, str]


@dataclass
class Candidate:
    """A posting that passed the rules, with its derived keys."""

    index: int
    data: CertificateCreate
    body: BodyState
    fmt: str
    warnings: list[str]
    person_key: str
    name_digest: str


@lru_cache(maxsize=8192)
def _uscc(code: str) -> UsccCheck:
    """USCC checks, cached: an import names the same employers again and again."""
    return check_uscc(code)


def _problem(field: str, reason: str, message: str) -> Problem:
    return {"field": field, "reason": reason, "message": message}


def check_certificate(
    data: CertificateCreate, *, policy: CertificatePolicy, today: date
) -> tuple[str, list[str], list[Problem]]:
    """Check a certificate against the rules: (number format, warnings, problems)."""
    problems: list[Problem] = []
    warnings: list[str] = []
    fmt = number_format(data.number)
    if fmt is None:
        problems.append(
            _problem("number", "format", "The certificate number matches no accepted format")
        )
    if data.issued_on > today:
        problems.append(_problem("issued_on", "in_future", "The issue date is in the future"))
    elif data.issued_on < EARLIEST_ISSUE_DATE:
        problems.append(_problem("issued_on", "too_early", "The issue date is before 1990"))
    level = policy.levels.get(data.level)
    if level is None:
        problems.append(_problem("level", "unknown_level", "Unknown level code"))
    elif fmt is not None and not level_digit_matches(data.number, level):
        problems.append(
            _problem(
                "number",
                "level_digit_mismatch",
                "The number's level digit does not match the level",
            )
        )
    if fmt is not None and not number_year_matches(data.number, data.issued_on):
        warnings.append("number_year_mismatch")
    if data.mode not in policy.modes:
        problems.append(_problem("mode", "unknown_mode", "Unknown mode code"))
    if not policy.town_valid_on(data.town, data.issued_on):
        problems.append(
            _problem("town", "unknown_town", "Unknown town code, or not valid on the issue date")
        )
    id_problem = id_number_problem(data.holder_id_number, today=today)
    if id_problem is not None:
        problems.append(
            _problem("holder_id_number", id_problem, "The holder's ID number is not valid")
        )
    if data.employer_uscc is not None:
        uscc = _uscc(data.employer_uscc)
        if not uscc.well_formed:
            problems.append(_problem("employer_uscc", "format", "Not a unified social credit code"))
        elif uscc.warning:
            warnings.append(uscc.warning)
    elif data.mode == ENTERPRISE_ASSESSMENT:
        problems.append(
            _problem(
                "employer_uscc",
                "required_for_mode",
                "An enterprise self-assessment certificate names the enterprise",
            )
        )
    return fmt or "", warnings, problems


def check_against_body(data: CertificateCreate, body: BodyState) -> list[Problem]:
    """The certificate must fit its issuing body.

    A 2019-format number starts with the body's code. An employer (Y) body certifies its own
    employees by self-assessment only: mode `enterprise_assessment` and its own enterprise as the
    employer. A social (S) body never issues `enterprise_assessment` certificates (they earn the
    enterprise a reward, so only the enterprise's own body may issue them). The legacy body of
    imported stock is exempt from the fit rules.
    """
    problems: list[Problem] = []
    if not number_matches_body(data.number, body.code):
        problems.append(
            _problem(
                "number",
                "body_mismatch",
                "A 2019-format number starts with the issuing body's code",
            )
        )
    if body.legacy:
        return problems
    if body.type == BodyType.EMPLOYER:
        if data.mode != ENTERPRISE_ASSESSMENT:
            problems.append(
                _problem(
                    "mode",
                    "mode_not_allowed_for_body",
                    "An employer body issues enterprise self-assessment certificates only",
                )
            )
        if (data.employer_uscc or "").upper() != (body.uscc or ""):
            problems.append(
                _problem(
                    "employer_uscc",
                    "not_body_enterprise",
                    "An employer body certifies employees of its own enterprise only",
                )
            )
    elif data.mode == ENTERPRISE_ASSESSMENT:
        problems.append(
            _problem(
                "mode",
                "mode_not_allowed_for_body",
                "Only an employer (Y) body issues enterprise self-assessment certificates",
            )
        )
    return problems


def same_certificate(stored: Any, *, posted: Any) -> bool:
    """True when a stored certificate is the one being posted again (an idempotent replay).

    `posted` is the new row (attributes as in `certificates`); a stored row recorded before
    name digests existed matches any name.
    """
    return (
        stored.holder_person_key == posted.holder_person_key
        and (
            stored.holder_name_digest is None
            or stored.holder_name_digest == posted.holder_name_digest
        )
        and stored.level == posted.level
        and stored.issued_on == posted.issued_on
        and stored.body_code == posted.body_code
        and stored.occupation_code == posted.occupation_code
        and stored.occupation_edition == posted.occupation_edition
        and stored.employer_uscc == posted.employer_uscc
        and stored.mode == posted.mode
        and stored.town == posted.town
    )
