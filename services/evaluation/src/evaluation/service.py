"""Business logic of certificates: validation against policy, storage, outbox. Never commits."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import InvalidField
from common.eventlog.outbox import Outbox
from common.identifiers import check_uscc, id_number_problem, normalise_id_number
from common.ids import new_id
from common.pii import FieldCipher, mask_id_number, mask_name, person_key
from evaluation.events import CERTIFICATE_ISSUED, SOURCE, CertificateIssuedV1
from evaluation.exceptions import CertificateNumberTaken
from evaluation.models import Certificate, outbox
from evaluation.rules import CertificatePolicy, level_digit_matches, number_format
from evaluation.schemas import CertificateCreate

SHANGHAI = ZoneInfo("Asia/Shanghai")
EARLIEST_ISSUE_DATE = date(1990, 1, 1)
events_outbox = Outbox(outbox, source=SOURCE)


def today_in_shanghai() -> date:
    """Today's date in Asia/Shanghai."""
    return datetime.now(SHANGHAI).date()


def validate_certificate(
    *, data: CertificateCreate, policy: CertificatePolicy, today: date
) -> tuple[str, list[str]]:
    """Check a certificate against the rules; returns its number format and warnings."""
    fmt = number_format(data.number)
    if fmt is None:
        raise InvalidField(
            field="number",
            reason="format",
            message="The certificate number matches no accepted format",
        )
    if data.issued_on > today:
        raise InvalidField(
            field="issued_on", reason="in_future", message="The issue date is in the future"
        )
    if data.issued_on < EARLIEST_ISSUE_DATE:
        raise InvalidField(
            field="issued_on", reason="too_early", message="The issue date is before 1990"
        )
    level = policy.levels.get(data.level)
    if level is None:
        raise InvalidField(field="level", reason="unknown_level", message="Unknown level code")
    if not level_digit_matches(data.number, level):
        raise InvalidField(
            field="number",
            reason="level_digit_mismatch",
            message="The number's level digit does not match the level",
        )
    if data.mode not in policy.modes:
        raise InvalidField(field="mode", reason="unknown_mode", message="Unknown mode code")
    if not policy.town_valid_on(data.town, data.issued_on):
        raise InvalidField(
            field="town",
            reason="unknown_town",
            message="Unknown town code, or not valid on the issue date",
        )
    problem = id_number_problem(data.holder_id_number, today=today)
    if problem is not None:
        raise InvalidField(
            field="holder_id_number", reason=problem, message="The holder's ID number is not valid"
        )
    warnings: list[str] = []
    if data.employer_uscc is not None:
        uscc = check_uscc(data.employer_uscc)
        if not uscc.well_formed:
            raise InvalidField(
                field="employer_uscc", reason="format", message="Not a unified social credit code"
            )
        if uscc.warning:
            warnings.append(uscc.warning)
    return fmt, warnings


def _same_certificate(
    existing: Certificate, *, data: CertificateCreate, key: str, body: str
) -> bool:
    return (
        existing.holder_person_key == key
        and existing.level == data.level
        and existing.issued_on == data.issued_on
        and existing.body_code == body
        and existing.occupation_code == data.occupation_code
    )


async def issue_certificate(
    session: AsyncSession,
    *,
    data: CertificateCreate,
    body_code: str,
    policy: CertificatePolicy,
    cipher: FieldCipher,
    pepper: str,
) -> tuple[Certificate, list[str], bool]:
    """Store a certificate and its `issued` event; returns (certificate, warnings, created).

    Posting the same certificate again returns the stored one (idempotent); a different
    certificate under a known number is a conflict.
    """
    fmt, warnings = validate_certificate(data=data, policy=policy, today=today_in_shanghai())
    key = person_key(data.holder_id_number, pepper=pepper)
    existing = (
        await session.execute(select(Certificate).where(Certificate.number == data.number))
    ).scalar_one_or_none()
    if existing is not None:
        if _same_certificate(existing, data=data, key=key, body=body_code):
            return existing, warnings, False
        raise CertificateNumberTaken()
    id_number = normalise_id_number(data.holder_id_number)
    certificate = Certificate(
        id=new_id(),
        number=data.number,
        number_format=fmt,
        level=data.level,
        occupation_code=data.occupation_code,
        occupation_name=data.occupation_name,
        occupation_edition=data.occupation_edition,
        holder_person_key=key,
        holder_id_cipher=cipher.encrypt(id_number, context=b"certificates.holder_id"),
        holder_name_cipher=cipher.encrypt(data.holder_name, context=b"certificates.holder_name"),
        holder_id_masked=mask_id_number(id_number),
        holder_name_masked=mask_name(data.holder_name),
        issued_on=data.issued_on,
        employer_uscc=data.employer_uscc.upper() if data.employer_uscc else None,
        mode=data.mode,
        town=data.town,
        body_code=body_code,
        status="valid",
        policy_version=policy.version,
    )
    session.add(certificate)
    await session.flush()
    payload = CertificateIssuedV1(
        certificate_id=certificate.id,
        level=certificate.level,
        occupation_code=certificate.occupation_code,
        occupation_edition=certificate.occupation_edition,
        mode=certificate.mode,
        body_code=body_code,
        employer_uscc=certificate.employer_uscc,
        town=certificate.town,
        issued_on=certificate.issued_on,
        policy_version=policy.version,
    )
    await events_outbox.add(
        session,
        events_outbox.event(
            type=CERTIFICATE_ISSUED,
            subject=certificate.id,
            data=payload.model_dump(mode="json"),
            personkey=key,
            town=certificate.town,
        ),
    )
    return certificate, warnings, True
