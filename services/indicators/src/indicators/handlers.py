"""Events the indicators consume, read with their own tolerant models (not the producers').

Each reader takes the fields the indicators need (no more than the producer's contract requires)
and turns the event into a *change* (`indicators.changes`); `read_change` raises for an event that
cannot be read (a missing or malformed field, no `personkey` where one is needed, an id longer
than the columns), and the consumer dead-letters it. The rollup consumer that applies the changes
is `indicators.rollup.RollupConsumer`, built here by `consumer_factory`.

Fact rules (docs/indicators.md §2): facts are keyed by certificate, completion, membership and
reward-entry ids, so applying an event twice changes nothing; the first issue of a certificate
wins; of two revocations the earlier effective date wins; a revocation or flag that arrives before
its certificate is kept until it does. Flagged certificates still count as talents (a flag only
excludes a certificate from rewards and subsidies, which evaluation decides).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.eventlog.backend import EventLog
from common.eventlog.consumer import Consumer
from common.eventlog.envelope import LoggedEvent
from common.eventlog.runner import ConsumerFactory
from indicators.changes import (
    Change,
    Flag,
    Issue,
    Join,
    MissingPersonKey,
    Revoke,
    Reward,
    Train,
)
from indicators.models import checkpoints, dead_letters
from indicators.reading import ReadingProcess
from indicators.rollup import RollupConsumer
from indicators.rules import KEY_GROUPS_DOMAIN, IndicatorPolicy
from indicators.timeline import Certificate, Completion, Membership

CONSUMER_NAME = "indicators.rollups"
_PREFIX = "cn.dinghai.skills."
CERTIFICATE_ISSUED = _PREFIX + "evaluation.certificate.issued.v1"
CERTIFICATE_REVOKED = _PREFIX + "evaluation.certificate.revoked.v1"
CERTIFICATE_FLAGGED = _PREFIX + "evaluation.certificate.flagged.v1"
REWARD_GRANTED = _PREFIX + "evaluation.reward.granted.v1"
REWARD_REVERSED = _PREFIX + "evaluation.reward.reversed.v1"
COMPLETION_RECORDED = _PREFIX + "training.completion.recorded.v1"
MEMBERSHIP_RECORDED = _PREFIX + "training.key_group_membership.recorded.v1"

Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class _Reader(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CertificateIssued(_Reader):
    """The fields of `certificate.issued.v1` this service reads."""

    certificate_id: Id
    level: Code
    town: Code
    issued_on: date
    occupation_code: Annotated[str, StringConstraints(max_length=16)]


class CertificateRevoked(_Reader):
    """`certificate.revoked.v1`: the certificate stops counting from `revoked_on`."""

    certificate_id: Id
    revoked_on: date


class CertificateFlagged(_Reader):
    """`certificate.flagged.v1` (e.g. issued after its body exited); recorded, still counted."""

    certificate_id: Id
    flagged_on: date

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> CertificateFlagged:
        """`flagged_on` may carry a time; the date is what counts."""
        value = data.get("flagged_on")
        if isinstance(value, str) and len(value) > 10:
            data = {**data, "flagged_on": value[:10]}
        return cls.model_validate(data)


class RewardGranted(_Reader):
    """`reward.granted.v1`: an enterprise self-assessment reward, in fen."""

    entry_id: Id
    amount_fen: int = Field(ge=0)
    granted_on: date


class RewardReversed(_Reader):
    """`reward.reversed.v1`: `amount_fen` (positive) taken back on `reversed_on`."""

    entry_id: Id
    amount_fen: int = Field(ge=0)
    reversed_on: date


class CompletionRecorded(_Reader):
    """`completion.recorded.v1`: one person completed (passed or failed) one class."""

    completion_id: Id
    domain: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    town: Code
    key_groups: list[str] = []
    completed_on: date
    result: Annotated[str, StringConstraints(max_length=16)] = ""


class MembershipRecorded(_Reader):
    """`key_group_membership.recorded.v1`: a person's membership of a key group, and willingness."""

    membership_id: Id
    group: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    town: Code
    willing: bool
    recorded_on: date


def _person(logged: LoggedEvent, *, required: bool = True) -> str | None:
    key = logged.event.personkey
    if key is not None and not 1 <= len(key) <= 64:
        raise MissingPersonKey("personkey has an invalid length")
    if key is None and required:
        raise MissingPersonKey(logged.event.type)
    return key


def _issue(logged: LoggedEvent, policy: IndicatorPolicy) -> Change:
    data = CertificateIssued.model_validate(logged.event.data)
    person = _person(logged)
    assert person is not None
    return Issue(
        Certificate(
            certificate_id=data.certificate_id,
            person_key=person,
            level=data.level,
            level_rank=policy.level_rank(data.level),
            town=data.town,
            occupation_code=data.occupation_code or None,
            issued_on=data.issued_on,
        )
    )


def _revoke(logged: LoggedEvent, _policy: IndicatorPolicy) -> Change:
    data = CertificateRevoked.model_validate(logged.event.data)
    return Revoke(data.certificate_id, _person(logged, required=False), data.revoked_on)


def _flag(logged: LoggedEvent, _policy: IndicatorPolicy) -> Change:
    data = CertificateFlagged.from_data(logged.event.data)
    return Flag(data.certificate_id, _person(logged, required=False), data.flagged_on)


def _grant(logged: LoggedEvent, _policy: IndicatorPolicy) -> Change:
    data = RewardGranted.model_validate(logged.event.data)
    return Reward(
        f"g:{data.entry_id}", data.entry_id, data.amount_fen, data.granted_on, logged.event.town
    )


def _reverse(logged: LoggedEvent, _policy: IndicatorPolicy) -> Change:
    data = RewardReversed.model_validate(logged.event.data)
    key = f"r:{data.entry_id}:{data.reversed_on.isoformat()}:{data.amount_fen}"
    return Reward(key, data.entry_id, -data.amount_fen, data.reversed_on, logged.event.town)


def _train(logged: LoggedEvent, _policy: IndicatorPolicy) -> Change:
    data = CompletionRecorded.model_validate(logged.event.data)
    person = _person(logged)
    assert person is not None
    return Train(
        Completion(
            completion_id=data.completion_id,
            person_key=person,
            domain=data.domain,
            town=data.town,
            completed_on=data.completed_on,
            key_group=bool(data.key_groups) or data.domain == KEY_GROUPS_DOMAIN,
            result=data.result,
        )
    )


def _join(logged: LoggedEvent, _policy: IndicatorPolicy) -> Change:
    data = MembershipRecorded.model_validate(logged.event.data)
    person = _person(logged)
    assert person is not None
    return Join(
        Membership(
            membership_id=data.membership_id,
            person_key=person,
            group=data.group,
            town=data.town,
            willing=data.willing,
            recorded_on=data.recorded_on,
            position=logged.position,
        )
    )


READERS: dict[str, Callable[[LoggedEvent, IndicatorPolicy], Change]] = {
    CERTIFICATE_ISSUED: _issue,
    CERTIFICATE_REVOKED: _revoke,
    CERTIFICATE_FLAGGED: _flag,
    REWARD_GRANTED: _grant,
    REWARD_REVERSED: _reverse,
    COMPLETION_RECORDED: _train,
    MEMBERSHIP_RECORDED: _join,
}


def read_change(logged: LoggedEvent, policy: IndicatorPolicy) -> Change | None:
    """The change an event means to the indicators (None for event types they ignore)."""
    reader = READERS.get(logged.event.type)
    return reader(logged, policy) if reader else None


def consumer_factory(policy: IndicatorPolicy, *, reading_url: str | None = None) -> ConsumerFactory:
    """The rollup consumer, built by the runner with this service's sessions and the log; given
    the log's URL as `reading_url`, its catch-up reads the log into changes in a process of its
    own (`indicators.reading.ReadingProcess`)."""

    def build(
        sessionmaker: async_sessionmaker[AsyncSession], log: EventLog, batch_size: int = 500
    ) -> Consumer:
        reading = (
            ReadingProcess(eventlog_url=reading_url, read=read_change, policy=policy)
            if reading_url
            else None
        )
        return RollupConsumer(
            policy=policy,
            read=read_change,
            reading=reading,
            name=CONSUMER_NAME,
            log=log,
            sessionmaker=sessionmaker,
            checkpoints=checkpoints,
            dead_letters=dead_letters,
            batch_size=batch_size,
        )

    return build
