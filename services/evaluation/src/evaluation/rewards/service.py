"""The enterprise self-assessment reward ledger (500 yuan a person, capped a year). Never commits.

One entry per (enterprise USCC, calendar year of issue, person) while the person is eligible:
they hold a valid, unflagged `enterprise_assessment` certificate naming that enterprise as the
employer, issued that year by a registered (not legacy) body, under a policy version that has the
reward. Whenever that can change — a certificate issued, revoked or flagged — the enterprise-year
is settled under a lock on its row: entries of persons no longer eligible are reversed and
waiting persons get entries in the order they became eligible, never beyond the cap
(`rules.plan_rewards`). So the granted total is always min(cap, per_person × eligible persons).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Integer,
    Table,
    bindparam,
    cast,
    exists,
    extract,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from common.eventlog.envelope import Event
from common.eventlog.outbox import Outbox
from evaluation.certificates.store import insert_events, ordered_ids
from evaluation.context import EvaluationContext
from evaluation.events import (
    REWARD_GRANTED,
    REWARD_REVERSED,
    SOURCE,
    RewardGrantedV1,
    RewardReversedV1,
)
from evaluation.models import Certificate, RewardEnterpriseYear, RewardEntry, outbox
from evaluation.rules import (
    ENTERPRISE_ASSESSMENT,
    LEGACY_BODY_CODE,
    EligiblePerson,
    GrantedEntry,
    plan_rewards,
)

certificates: Table = Certificate.__table__
entries: Table = RewardEntry.__table__
enterprise_years: Table = RewardEnterpriseYear.__table__
events_outbox = Outbox(outbox, source=SOURCE)
# An entry at its own per-person amount: what `plan_rewards` passes over (`held.amount_fen >=
# held.per_person_fen`), in SQL, for the settlement after issuing only.
FULL_ENTRY = entries.c.amount_fen >= entries.c.per_person_fen


def reward_key_of(
    *, mode: str, employer_uscc: str | None, body_code: str, issued_on: date
) -> tuple[str, int] | None:
    """The enterprise-year a certificate with these fields may earn a reward in, or None."""
    if mode == ENTERPRISE_ASSESSMENT and employer_uscc and body_code != LEGACY_BODY_CODE:
        return employer_uscc, issued_on.year
    return None


def reward_key(certificate: Any) -> tuple[str, int] | None:
    """The enterprise-year a certificate (any object with its fields) may earn a reward in."""
    return reward_key_of(
        mode=certificate.mode,
        employer_uscc=certificate.employer_uscc,
        body_code=certificate.body_code,
        issued_on=certificate.issued_on,
    )


def _postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def _lock(session: AsyncSession, keys: list[tuple[str, int]]) -> None:
    """Create the enterprise-year rows if missing and lock them, in key order (PostgreSQL;
    SQLite's transaction already holds the database's write lock)."""
    now = datetime.now(UTC)
    dialect_insert = pg_insert if _postgres(session) else sqlite_insert
    for start in range(0, len(keys), 1_000):
        batch = keys[start : start + 1_000]
        await session.execute(
            dialect_insert(enterprise_years)
            .values(
                [
                    {
                        "enterprise_uscc": uscc,
                        "year": year,
                        "granted_fen": 0,
                        "persons": 0,
                        "updated_at": now,
                    }
                    for uscc, year in batch
                ]
            )
            .on_conflict_do_nothing(index_elements=["enterprise_uscc", "year"])
        )
        if _postgres(session):
            await session.execute(
                select(enterprise_years.c.year)
                .where(
                    tuple_(enterprise_years.c.enterprise_uscc, enterprise_years.c.year).in_(batch)
                )
                .order_by(enterprise_years.c.enterprise_uscc, enterprise_years.c.year)
                .with_for_update()
            )


async def eligible_persons(
    session: AsyncSession,
    *,
    keys: list[tuple[str, int]],
    ctx: EvaluationContext,
    without_full_entries: bool = False,
) -> dict[tuple[str, int], list[EligiblePerson]]:
    """Eligible persons of each enterprise-year, in the order they became eligible
    (`without_full_entries`: leaving out those who hold a full granted entry in it)."""
    wanted = set(keys)
    result: dict[tuple[str, int], dict[str, EligiblePerson]] = {key: {} for key in keys}
    usccs = sorted({uscc for uscc, _ in keys})
    years = [year for _, year in keys]
    for start in range(0, len(usccs), 1_000):
        query = select(
            certificates.c.id,
            certificates.c.employer_uscc,
            certificates.c.holder_person_key,
            certificates.c.issued_on,
            certificates.c.town,
        ).where(
            certificates.c.employer_uscc.in_(usccs[start : start + 1_000]),
            certificates.c.mode == ENTERPRISE_ASSESSMENT,
            certificates.c.status == "valid",
            certificates.c.flagged_reason.is_(None),
            certificates.c.body_code != LEGACY_BODY_CODE,
            certificates.c.issued_on >= date(min(years), 1, 1),
            certificates.c.issued_on <= date(max(years), 12, 31),
        )
        if without_full_entries:
            query = query.where(~exists(_full_entry_of_holder()))
        rows = await session.execute(query.order_by(certificates.c.created_at, certificates.c.id))
        for row in rows:
            key = (row.employer_uscc, row.issued_on.year)
            if key not in wanted or row.holder_person_key in result[key]:
                continue
            policy = ctx.rewards.for_day(row.issued_on)
            if policy is None:
                continue
            result[key][row.holder_person_key] = EligiblePerson(
                person_key=row.holder_person_key,
                certificate_id=row.id,
                town=row.town,
                policy=policy,
            )
    return {key: list(persons.values()) for key, persons in result.items()}


def _full_entry_of_holder() -> Any:
    """A granted, full entry of the certificate's holder in its enterprise-year (a correlated
    subquery of `eligible_persons`; served by the unique index of granted entries)."""
    return select(entries.c.id).where(
        entries.c.enterprise_uscc == certificates.c.employer_uscc,
        entries.c.year == cast(extract("year", certificates.c.issued_on), Integer),
        entries.c.person_key == certificates.c.holder_person_key,
        entries.c.status == "granted",
        FULL_ENTRY,
    )


async def _granted(
    session: AsyncSession, keys: list[tuple[str, int]], *, partial_only: bool = False
) -> dict[tuple[str, int], list[Any]]:
    result: dict[tuple[str, int], list[Any]] = {key: [] for key in keys}
    for start in range(0, len(keys), 1_000):
        query = select(entries).where(
            tuple_(entries.c.enterprise_uscc, entries.c.year).in_(keys[start : start + 1_000]),
            entries.c.status == "granted",
        )
        if partial_only:
            query = query.where(~FULL_ENTRY)
        rows = await session.execute(query.order_by(entries.c.created_at, entries.c.id))
        for row in rows:
            result[(row.enterprise_uscc, row.year)].append(row)
    return result


async def _full_totals(
    session: AsyncSession, keys: list[tuple[str, int]]
) -> dict[tuple[str, int], tuple[int, int]]:
    """(sum in fen, count) of the granted, full entries of each enterprise-year."""
    result: dict[tuple[str, int], tuple[int, int]] = {}
    for start in range(0, len(keys), 1_000):
        rows = await session.execute(
            select(
                entries.c.enterprise_uscc,
                entries.c.year,
                func.sum(entries.c.amount_fen),
                func.count(),
            )
            .where(
                tuple_(entries.c.enterprise_uscc, entries.c.year).in_(keys[start : start + 1_000]),
                entries.c.status == "granted",
                FULL_ENTRY,
            )
            .group_by(entries.c.enterprise_uscc, entries.c.year)
        )
        for uscc, year, total, count in rows:
            result[(uscc, year)] = (int(total), int(count))
    return result


async def settle_rewards(
    session: AsyncSession,
    *,
    keys: Iterable[tuple[str, int]],
    ctx: EvaluationContext,
    reason: str,
    issued_only: bool = False,
) -> None:
    """Bring each enterprise-year's entries in line with who is eligible now.

    Years without a reward rule are skipped. The enterprise-years are locked in sorted order
    (so concurrent settlements never deadlock), then read and written in a few statements.

    `issued_only`: nothing but new certificates changed since the last settlement. Then no one
    holding an entry stopped being eligible, and holders of full entries are passed over by
    `plan_rewards`: they and their entries are left out of what is read (their sum is passed
    in instead), so that an import's every chunk does not read the enterprise-years' whole
    ledgers and eligible certificates again.
    """
    wanted = sorted({key for key in keys if ctx.rewards.covers_year(key[1])})
    if not wanted:
        return
    today = ctx.today()
    now = datetime.now(UTC)
    await _lock(session, wanted)
    full = await _full_totals(session, wanted) if issued_only else {}
    eligible = await eligible_persons(
        session, keys=wanted, ctx=ctx, without_full_entries=issued_only
    )
    granted = await _granted(session, wanted, partial_only=issued_only)
    events: list[Event] = []
    reversals: list[dict[str, Any]] = []
    new_rows: list[dict[str, Any]] = []
    totals: list[dict[str, Any]] = []
    for uscc, year in wanted:
        rows = {row.id: row for row in granted[(uscc, year)]}
        full_fen, full_count = full.get((uscc, year), (0, 0))
        plan = plan_rewards(
            eligible=eligible[(uscc, year)],
            granted=[
                GrantedEntry(
                    entry_id=row.id,
                    person_key=row.person_key,
                    amount_fen=row.amount_fen,
                    per_person_fen=row.per_person_fen,
                )
                for row in rows.values()
            ],
            reason=reason,
            held_elsewhere_fen=full_fen,
        )
        if not plan.reversals and not plan.grants:
            continue
        for entry, why in plan.reversals:
            row = rows[entry.entry_id]
            reversals.append({"b_id": row.id, "b_reason": why})
            events.append(
                events_outbox.event(
                    type=REWARD_REVERSED,
                    subject=row.id,
                    data=RewardReversedV1(
                        entry_id=row.id,
                        enterprise_uscc=uscc,
                        year=year,
                        amount_fen=row.amount_fen,
                        certificate_id=row.certificate_id,
                        reversed_on=today,
                        policy_version=row.policy_version,
                    ).model_dump(mode="json"),
                    personkey=row.person_key,
                    town=row.town,
                )
            )
        ids = ordered_ids(len(plan.grants))  # in grant order
        added = []
        for (person, amount), entry_id in zip(plan.grants, ids, strict=True):
            added.append(
                {
                    "id": entry_id,
                    "enterprise_uscc": uscc,
                    "year": year,
                    "person_key": person.person_key,
                    "certificate_id": person.certificate_id,
                    "town": person.town,
                    "amount_fen": amount,
                    "per_person_fen": person.policy.per_person_fen,
                    "status": "granted",
                    "granted_on": today,
                    "reversed_on": None,
                    "reversal_reason": None,
                    "policy_version": person.policy.version,
                    "created_at": now,
                    "reversed_at": None,
                }
            )
            events.append(
                events_outbox.event(
                    type=REWARD_GRANTED,
                    subject=entry_id,
                    data=RewardGrantedV1(
                        entry_id=entry_id,
                        enterprise_uscc=uscc,
                        year=year,
                        amount_fen=amount,
                        certificate_id=person.certificate_id,
                        granted_on=today,
                        policy_version=person.policy.version,
                    ).model_dump(mode="json"),
                    personkey=person.person_key,
                    town=person.town,
                )
            )
        new_rows += added
        reversed_ids = {e.entry_id for e, _ in plan.reversals}
        kept = [r for r in rows.values() if r.id not in reversed_ids]
        totals.append(
            {
                "b_uscc": uscc,
                "b_year": year,
                "b_total": full_fen
                + sum(r.amount_fen for r in kept)
                + sum(r["amount_fen"] for r in added),
                "b_persons": full_count + len(kept) + len(added),
            }
        )
    # Reversals first: a person's new entry may replace their reversed one (partial top-up).
    if reversals:
        await session.execute(
            update(entries)
            .where(entries.c.id == bindparam("b_id"))
            .values(
                status="reversed",
                reversed_on=today,
                reversal_reason=bindparam("b_reason"),
                reversed_at=now,
            ),
            reversals,
        )
    if new_rows:
        await session.execute(entries.insert(), new_rows)
    if totals:
        await session.execute(
            update(enterprise_years)
            .where(
                enterprise_years.c.enterprise_uscc == bindparam("b_uscc"),
                enterprise_years.c.year == bindparam("b_year"),
            )
            .values(
                granted_fen=bindparam("b_total"), persons=bindparam("b_persons"), updated_at=now
            ),
            totals,
        )
    if events:
        await insert_events(session, events)


async def ledger(
    session: AsyncSession, *, year: int, uscc: str | None
) -> list[tuple[Any, list[Any]]]:
    """Enterprise-years of `year` (one when `uscc` is given) with their entries, oldest first,
    each entry with its certificate's number and masked holder name."""
    query = select(enterprise_years).where(enterprise_years.c.year == year)
    if uscc is not None:
        query = query.where(enterprise_years.c.enterprise_uscc == uscc)
    totals = (await session.execute(query.order_by(enterprise_years.c.enterprise_uscc))).all()
    entry_query = (
        select(
            entries,
            certificates.c.number.label("certificate_number"),
            certificates.c.holder_name_masked,
        )
        .join(certificates, certificates.c.id == entries.c.certificate_id)
        .where(entries.c.year == year)
        .order_by(entries.c.enterprise_uscc, entries.c.created_at, entries.c.id)
    )
    if uscc is not None:
        entry_query = entry_query.where(entries.c.enterprise_uscc == uscc)
    by_enterprise: dict[str, list[Any]] = {}
    for row in await session.execute(entry_query):
        by_enterprise.setdefault(row.enterprise_uscc, []).append(row)
    return [(total, by_enterprise.get(total.enterprise_uscc, [])) for total in totals]
