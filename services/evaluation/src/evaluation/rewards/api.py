"""HTTP handlers of the reward ledger: officials read and export it; an enterprise sees its own."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from common.identifiers import check_uscc
from common.schemas import yuan
from evaluation.api import ContextDep, EnterprisePrincipal, LedgerReader
from evaluation.audit import record_read
from evaluation.context import EvaluationContext
from evaluation.db import SessionDep
from evaluation.exceptions import InvalidFields
from evaluation.rewards import export, service
from evaluation.rewards.schemas import EnterpriseYearLedger, RewardEntryRead, RewardLedger

router = APIRouter(prefix="/v1", tags=["self-assessment rewards"])
Year = Annotated[int, Query(ge=1990, le=2100, description="Calendar year of issue")]
Uscc = Annotated[str | None, Query(min_length=18, max_length=18, description="Enterprise USCC")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _uscc(value: str | None) -> str | None:
    if value is None:
        return None
    check = check_uscc(value)
    if not check.well_formed:
        raise InvalidFields(
            [{"field": "uscc", "reason": "format", "message": "Not a unified social credit code"}]
        )
    return check.code


def _ledger(year: int, rows: list[tuple[Any, list[Any]]], ctx: EvaluationContext) -> RewardLedger:
    policy = ctx.rewards.for_day(date(year, 12, 31)) or ctx.rewards.for_day(date(year, 1, 1))
    return RewardLedger(
        year=year,
        enterprises=[
            EnterpriseYearLedger(
                enterprise_uscc=total.enterprise_uscc,
                year=total.year,
                cap_fen=policy.annual_cap_fen if policy else None,
                granted_fen=total.granted_fen,
                granted_yuan=yuan(total.granted_fen),
                persons=total.persons,
                entries=[
                    RewardEntryRead(
                        entry_id=e.id,
                        certificate_number=e.certificate_number,
                        holder_name_masked=e.holder_name_masked,
                        amount_fen=e.amount_fen,
                        amount_yuan=yuan(e.amount_fen),
                        status=e.status,
                        granted_on=e.granted_on,
                        reversed_on=e.reversed_on,
                        reversal_reason=e.reversal_reason,
                        policy_version=e.policy_version,
                    )
                    for e in entries
                ],
            )
            for total, entries in rows
        ],
    )


@router.get(
    "/rewards",
    response_model=RewardLedger,
    summary="The reward ledger of a year, per enterprise (officials)",
)
async def read_ledger(
    principal: LedgerReader,
    session: SessionDep,
    ctx: ContextDep,
    year: Year,
    uscc: Uscc = None,
) -> RewardLedger:
    """Totals and entries (granted and reversed) of every enterprise, or of one."""
    code = _uscc(uscc)
    rows = await service.ledger(session, year=year, uscc=code)
    await record_read(
        session,
        principal=principal,
        action="rewards.read",
        target=f"year={year} uscc={code or '*'}",
    )
    return _ledger(year, rows, ctx)


@router.get(
    "/rewards/export.csv",
    summary="The reward ledger of a year as CSV (officials)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_csv(
    principal: LedgerReader, session: SessionDep, year: Year, uscc: Uscc = None
) -> Response:
    """One row per entry, Chinese headers, UTF-8 with BOM, formula-injection safe."""
    code = _uscc(uscc)
    rows = await service.ledger(session, year=year, uscc=code)
    await record_read(
        session, principal=principal, action="rewards.export", target=f"csv year={year}"
    )
    return Response(
        export.to_csv(export.ledger_rows(rows)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="rewards-{year}.csv"'},
    )


@router.get(
    "/rewards/export.xlsx",
    summary="The reward ledger of a year as XLSX (officials)",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}},
)
async def export_xlsx(
    principal: LedgerReader, session: SessionDep, year: Year, uscc: Uscc = None
) -> Response:
    """One row per entry, Chinese headers, text cells typed as text."""
    code = _uscc(uscc)
    rows = await service.ledger(session, year=year, uscc=code)
    await record_read(
        session, principal=principal, action="rewards.export", target=f"xlsx year={year}"
    )
    return Response(
        export.to_xlsx(export.ledger_rows(rows)),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="rewards-{year}.xlsx"'},
    )


@router.get(
    "/enterprises/me/rewards",
    response_model=RewardLedger,
    summary="The caller's own reward ledger of a year (enterprises)",
)
async def my_rewards(
    principal: EnterprisePrincipal, session: SessionDep, ctx: ContextDep, year: Year
) -> RewardLedger:
    """The enterprise's entries of the year (masked holder names)."""
    rows = await service.ledger(session, year=year, uscc=principal.subject.upper())
    return _ledger(year, rows, ctx)
