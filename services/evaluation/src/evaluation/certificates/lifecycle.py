"""Stored certificates: revocation by the issuing body, flagging after a body's exit, reads.

No FastAPI here and never a commit: the caller owns the transaction.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from evaluation.certificates.schemas import RevocationCreate
from evaluation.certificates.service import refusal_problem
from evaluation.certificates.store import certificates, events_outbox, insert_events, is_postgres
from evaluation.context import EvaluationContext
from evaluation.events import (
    CERTIFICATE_FLAGGED,
    CERTIFICATE_REVOKED,
    CertificateFlaggedV1,
    CertificateRevokedV1,
)
from evaluation.exceptions import CertificateAlreadyRevoked, CertificateNotFound, InvalidFields
from evaluation.models import Certificate
from evaluation.rewards.service import reward_key, settle_rewards
from evaluation.rules import ISSUED_AFTER_BODY_EXIT, BodyState, looks_personal


async def revoke(
    session: AsyncSession,
    *,
    number: str,
    body: BodyState,
    data: RevocationCreate,
    ctx: EvaluationContext,
) -> Certificate:
    """Revoke one of the body's own certificates (another body's is "not found")."""
    today = ctx.today()
    query = select(Certificate).where(
        Certificate.number == number, Certificate.body_code == body.code
    )
    if is_postgres(session):
        query = query.with_for_update()
    certificate = (await session.execute(query)).scalar_one_or_none()
    if certificate is None:
        raise CertificateNotFound()
    if certificate.status == "revoked":
        raise CertificateAlreadyRevoked(
            revoked_on=certificate.revoked_on.isoformat() if certificate.revoked_on else None
        )
    problems = []
    if data.effective_on > today:
        problems.append(
            {"field": "effective_on", "reason": "in_future", "message": "The date is in the future"}
        )
    elif data.effective_on < certificate.issued_on:
        problems.append(
            {
                "field": "effective_on",
                "reason": "before_issue",
                "message": "The certificate cannot be revoked before it was issued",
            }
        )
    if looks_personal(data.reason):
        problems.append(
            {
                "field": "reason",
                "reason": "personal_data",
                "message": "The reason must not contain personal data",
            }
        )
    if problems:
        raise InvalidFields(problems)
    problem = refusal_problem(body, today, on="today")
    if problem is not None:
        raise problem
    certificate.status = "revoked"
    certificate.revoked_on = data.effective_on
    certificate.revocation_reason = data.reason
    certificate.revoked_at = datetime.now(UTC)
    await session.flush()
    payload = CertificateRevokedV1(
        certificate_id=certificate.id,
        level=certificate.level,
        town=certificate.town,
        revoked_on=data.effective_on,
        reason=data.reason,
        body_code=certificate.body_code,
        policy_version=ctx.policy.version,
    )
    await events_outbox.add(
        session,
        events_outbox.event(
            type=CERTIFICATE_REVOKED,
            subject=certificate.id,
            data=payload.model_dump(mode="json"),
            personkey=certificate.holder_person_key,
            town=certificate.town,
        ),
    )
    key = reward_key(certificate)
    if key is not None:
        await settle_rewards(session, keys={key}, ctx=ctx, reason="certificate_revoked")
    return certificate


async def flag_issued_after_exit(
    session: AsyncSession, *, body_code: str, exit_on: date, ctx: EvaluationContext
) -> int:
    """Flag the body's certificates issued on or after its exit date; returns how many.

    Their status stays; each gets a `certificate.flagged` event, and reward entries they earned
    are reversed (a waiting person may take the freed place).
    """
    today = ctx.today()
    rows = (
        await session.execute(
            update(certificates)
            .where(
                certificates.c.body_code == body_code,
                certificates.c.issued_on >= exit_on,
                certificates.c.flagged_reason.is_(None),
            )
            .values(flagged_reason=ISSUED_AFTER_BODY_EXIT, flagged_on=today)
            .returning(*certificates.c)
        )
    ).all()
    events = [
        events_outbox.event(
            type=CERTIFICATE_FLAGGED,
            subject=row.id,
            data=CertificateFlaggedV1(
                certificate_id=row.id,
                reason=ISSUED_AFTER_BODY_EXIT,
                body_code=body_code,
                flagged_on=today,
            ).model_dump(mode="json"),
            personkey=row.holder_person_key,
            town=row.town,
        )
        for row in rows
    ]
    await insert_events(session, events)
    keys = {key for row in rows if (key := reward_key(row)) is not None}
    if keys:
        await settle_rewards(session, keys=keys, ctx=ctx, reason="certificate_flagged")
    return len(rows)


async def get_certificate(
    session: AsyncSession, *, number: str, body_code: str | None = None, town: str | None = None
) -> Certificate:
    """One certificate, limited to a body's own or a town's when given (else "not found")."""
    query = select(Certificate).where(Certificate.number == number)
    if body_code is not None:
        query = query.where(Certificate.body_code == body_code)
    if town is not None:
        query = query.where(Certificate.town == town)
    certificate = (await session.execute(query)).scalar_one_or_none()
    if certificate is None:
        raise CertificateNotFound()
    return certificate


async def list_certificates(
    session: AsyncSession,
    *,
    body_code: str | None,
    town: str | None,
    status: str | None,
    flagged: bool | None,
    after: str | None,
    limit: int,
) -> tuple[list[Certificate], str | None]:
    """A page of certificates ordered by id, with filters."""
    query = select(Certificate).order_by(Certificate.id).limit(limit + 1)
    if body_code is not None:
        query = query.where(Certificate.body_code == body_code)
    if town is not None:
        query = query.where(Certificate.town == town)
    if status is not None:
        query = query.where(Certificate.status == status)
    if flagged is not None:
        query = query.where(
            Certificate.flagged_reason.is_not(None)
            if flagged
            else Certificate.flagged_reason.is_(None)
        )
    if after is not None:
        query = query.where(Certificate.id > after)
    rows = list((await session.execute(query)).scalars().all())
    more = len(rows) > limit
    page = rows[:limit]
    return page, (page[-1].id if more and page else None)
