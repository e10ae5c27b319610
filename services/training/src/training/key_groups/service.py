"""Key groups (重点群体): memberships with willingness to train, and the 愿培全培 report.

A membership is one row per person and group (upserted: recording again updates it and publishes
a new event under the same membership id). The report counts, per group and town, the persons
currently willing, how many of them have at least one completion recorded in the year (any
domain, any result: they were trained), and the gap. Never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, case, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import InvalidField
from common.eventlog.outbox import Outbox
from common.ids import new_id
from training.db import dialect_name
from training.events import KEY_GROUP_MEMBERSHIP_RECORDED, SOURCE, KeyGroupMembershipRecordedV1
from training.models import Completion, KeyGroupMembership, outbox
from training.persons import NamedPerson
from training.rules import TrainingPolicy

memberships = cast(Table, KeyGroupMembership.__table__)
events_outbox = Outbox(outbox, source=SOURCE)


@dataclass(frozen=True)
class ReportRow:
    """One group in one town."""

    group: str
    group_name_zh: str
    town: str
    town_name_zh: str
    willing: int
    trained: int
    gap: int


async def record_membership(
    session: AsyncSession,
    *,
    member: NamedPerson,
    group: str,
    town: str,
    willing: bool,
    recorded_by_kind: str,
    recorded_by: str,
    policy: TrainingPolicy,
    today: date,
    now: datetime,
) -> tuple[KeyGroupMembership, bool]:
    """Record (or update) a membership and publish its event; returns (membership, created)."""
    if group not in policy.key_groups:
        raise InvalidField(field="group", reason="unknown_group", message="Unknown key-group code")
    if not policy.town_valid_on(town, today):
        raise InvalidField(field="town", reason="unknown_town", message="Unknown town code")
    values: dict[str, Any] = {
        "town": town,
        "willing": willing,
        "recorded_on": today,
        "recorded_by_kind": recorded_by_kind,
        "recorded_by": recorded_by,
        "policy_version": policy.version,
        "updated_at": now,
    }
    if member.id_cipher is not None:
        values.update(
            id_cipher=member.id_cipher,
            name_cipher=member.name_cipher,
            id_masked=member.id_masked,
            name_masked=member.name_masked,
        )
    new = new_id()
    insert = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
    statement = (
        insert(memberships)
        .values(id=new, person_key=member.person_key, group_code=group, **values)
        .on_conflict_do_update(index_elements=["person_key", "group_code"], set_=values)
        .returning(memberships.c.id)
    )
    membership_id = (await session.execute(statement)).scalar_one()
    membership = (
        await session.execute(
            select(KeyGroupMembership)
            .where(KeyGroupMembership.id == membership_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    payload = KeyGroupMembershipRecordedV1(
        membership_id=membership.id,
        group=group,
        town=town,
        willing=willing,
        recorded_on=today,
        policy_version=policy.version,
    )
    await events_outbox.add(
        session,
        events_outbox.event(
            type=KEY_GROUP_MEMBERSHIP_RECORDED,
            subject=membership.id,
            data=payload.model_dump(mode="json"),
            personkey=member.person_key,
            town=town,
        ),
    )
    return membership, membership_id == new


async def person_memberships(session: AsyncSession, *, person: str) -> list[KeyGroupMembership]:
    """A person's own memberships."""
    query = (
        select(KeyGroupMembership)
        .where(KeyGroupMembership.person_key == person)
        .order_by(KeyGroupMembership.group_code)
    )
    return list((await session.scalars(query)).all())


async def report(
    session: AsyncSession, *, policy: TrainingPolicy, year: int, town: str | None
) -> list[ReportRow]:
    """Willing, trained in the year, and gap, for every group × town in scope (zeros included)."""
    trained = (
        select(literal(1))
        .where(Completion.person_key == KeyGroupMembership.person_key, Completion.year == year)
        .exists()
    )
    query = (
        select(
            KeyGroupMembership.group_code,
            KeyGroupMembership.town,
            func.count(),
            func.sum(case((trained, 1), else_=0)),
        )
        .where(KeyGroupMembership.willing.is_(True))
        .group_by(KeyGroupMembership.group_code, KeyGroupMembership.town)
    )
    if town is not None:
        query = query.where(KeyGroupMembership.town == town)
    counts = {
        (group, row_town): (int(willing), int(done or 0))
        for group, row_town, willing, done in (await session.execute(query)).all()
    }
    towns = [town] if town is not None else list(policy.towns)
    rows = []
    for group in policy.key_groups.values():
        for code in towns:
            willing, done = counts.get((group.code, code), (0, 0))
            rows.append(
                ReportRow(
                    group=group.code,
                    group_name_zh=group.name_zh,
                    town=code,
                    town_name_zh=policy.town_name(code),
                    willing=willing,
                    trained=done,
                    gap=willing - done,
                )
            )
    return rows
