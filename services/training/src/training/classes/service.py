"""Classes: validation against policy, storage, listing with seat counts. Never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import InvalidField
from common.ids import new_id
from training.exceptions import ClassNotFound
from training.models import Enrolment, Site, TrainingClass
from training.programmes.service import ensure_year, policy_for_year
from training.rules import TrainingPolicies, TrainingPolicy


@dataclass(frozen=True)
class ClassData:
    """What an institution posts to create a class (already schema-checked)."""

    domain: str
    title: str
    capacity: int
    starts_on: date
    ends_on: date
    town: str
    occupation_code: str | None
    occupation_name: str | None
    level: str | None
    site_id: str | None
    mode: str


@dataclass(frozen=True)
class ClassScope:
    """Which classes a caller may list: one institution's, one town's, or all."""

    institution_id: str | None = None
    town: str | None = None


def validate_class(data: ClassData, *, policies: TrainingPolicies) -> TrainingPolicy:
    """Check a class against the policy in effect on its first day; returns that policy."""
    policy = policies.in_effect(data.starts_on)
    if policy is None:
        raise InvalidField(
            field="starts_on", reason="no_policy", message="No policy is in effect on that date"
        )
    if data.ends_on < data.starts_on:
        raise InvalidField(
            field="ends_on", reason="before_start", message="The class ends before it starts"
        )
    if data.domain not in policy.domains:
        raise InvalidField(field="domain", reason="unknown_domain", message="Unknown domain code")
    if not policy.town_valid_on(data.town, data.starts_on):
        raise InvalidField(
            field="town", reason="unknown_town", message="Unknown town code on the start date"
        )
    if data.level is not None and data.level not in policy.levels:
        raise InvalidField(field="level", reason="unknown_level", message="Unknown level code")
    return policy


async def create_class(
    session: AsyncSession,
    *,
    institution_id: str,
    data: ClassData,
    policies: TrainingPolicies,
    now: datetime,
) -> TrainingClass:
    """Store a class of the (active) institution and make sure its year's quotas exist."""
    policy = validate_class(data, policies=policies)
    if data.site_id is not None:
        site = await session.get(Site, data.site_id)
        if site is None or site.institution_id != institution_id:
            raise InvalidField(
                field="site_id", reason="unknown_site", message="Not one of the institution's sites"
            )
        if site.town != data.town:
            raise InvalidField(
                field="town", reason="site_town_mismatch", message="The site is in another town"
            )
    year = data.starts_on.year
    await ensure_year(session, policy=policy_for_year(policies, year), year=year)
    training_class = TrainingClass(
        id=new_id(),
        institution_id=institution_id,
        domain=data.domain,
        title=data.title,
        occupation_code=data.occupation_code,
        occupation_name=data.occupation_name,
        level=data.level,
        capacity=data.capacity,
        seats_taken=0,
        waitlist_seq=0,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        year=year,
        site_id=data.site_id,
        town=data.town,
        mode=data.mode,
        policy_version=policy.version,
        created_at=now,
    )
    session.add(training_class)
    await session.flush()
    return training_class


async def get_class(session: AsyncSession, class_id: str) -> TrainingClass:
    """A class by id; 404 when unknown."""
    training_class = await session.get(TrainingClass, class_id)
    if training_class is None:
        raise ClassNotFound()
    return training_class


async def waiting_counts(session: AsyncSession, class_ids: list[str]) -> dict[str, int]:
    """People on the waiting list, by class."""
    if not class_ids:
        return {}
    rows = await session.execute(
        select(Enrolment.class_id, func.count())
        .where(Enrolment.class_id.in_(class_ids), Enrolment.status == "waiting")
        .group_by(Enrolment.class_id)
    )
    return {class_id: int(count) for class_id, count in rows.all()}


async def list_classes(
    session: AsyncSession,
    *,
    scope: ClassScope,
    domain: str | None,
    town: str | None,
    year: int | None,
    limit: int,
    cursor: str | None,
) -> list[TrainingClass]:
    """Classes visible in the scope, filtered, in creation order."""
    query = select(TrainingClass)
    if scope.institution_id is not None:
        query = query.where(TrainingClass.institution_id == scope.institution_id)
    if scope.town is not None:
        query = query.where(TrainingClass.town == scope.town)
    if domain is not None:
        query = query.where(TrainingClass.domain == domain)
    if town is not None:
        query = query.where(TrainingClass.town == town)
    if year is not None:
        query = query.where(TrainingClass.year == year)
    if cursor:
        query = query.where(TrainingClass.id > cursor)
    return list((await session.scalars(query.order_by(TrainingClass.id).limit(limit))).all())
