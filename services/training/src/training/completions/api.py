"""HTTP handler of completion batches (the institutions' machine client)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from common.idempotency import IdempotencyKey, IdempotencyStore, fingerprint
from training.access import Cipher, InstitutionCaller, Pepper, Policies, Today
from training.completions import service
from training.completions.schemas import BatchResult, CompletionBatchCreate
from training.db import SessionDep
from training.institutions.service import active_institution
from training.models import idempotency_keys

router = APIRouter(prefix="/v1/completions", tags=["completions"])
idempotency = IdempotencyStore(idempotency_keys)


@router.post(
    "/batches",
    response_model=BatchResult,
    summary="Post up to 5,000 completions (the institution; Idempotency-Key required)",
    responses={
        400: {"description": "Idempotency-Key missing or malformed"},
        422: {"description": "Body invalid (e.g. more than 5,000 records), or key reused"},
    },
)
async def post_batch(
    body: CompletionBatchCreate,
    principal: InstitutionCaller,
    key: IdempotencyKey,
    session: SessionDep,
    policies: Policies,
    today: Today,
    pepper: Pepper,
    cipher: Cipher,
) -> JSONResponse:
    """One result per record: `accepted` (with the completion id) or `rejected` with a reason.

    The same key and body replay the first response; the same key with another body is 422.
    """
    await active_institution(session, principal.subject)
    stored = await idempotency.claim(
        session,
        client=principal.subject,
        key=key,
        fingerprint=fingerprint(body.model_dump_json().encode()),
    )
    if stored is not None:
        return JSONResponse(stored.body, status_code=stored.status_code)
    result = await service.record_batch(
        session,
        institution_id=principal.subject,
        idempotency_key=key,
        records=body.records,
        policies=policies,
        today=today,
        now=datetime.now(UTC),
        pepper=pepper,
        cipher=cipher,
    )
    await idempotency.record(
        session, client=principal.subject, key=key, status_code=200, body=result
    )
    return JSONResponse(result)
