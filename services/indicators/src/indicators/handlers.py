"""Events the indicators consume, read with their own tolerant models (not the producer's)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.eventlog.backend import EventLog
from common.eventlog.consumer import Consumer, Handler
from common.eventlog.envelope import LoggedEvent
from common.eventlog.runner import ConsumerFactory
from indicators.models import CertificateFact, checkpoints, dead_letters
from indicators.rules import IndicatorPolicy

CONSUMER_NAME = "indicators.rollups"
CERTIFICATE_ISSUED = "cn.dinghai.skills.evaluation.certificate.issued.v1"


class CertificateIssued(BaseModel):
    """The fields of `certificate.issued.v1` this service reads."""

    model_config = ConfigDict(extra="ignore")

    certificate_id: str
    level: str
    town: str
    issued_on: date


def build_handlers(policy: IndicatorPolicy) -> dict[str, Handler]:
    """Handlers by event type; each is idempotent."""

    async def on_certificate_issued(session: AsyncSession, logged: LoggedEvent) -> None:
        data = CertificateIssued.model_validate(logged.event.data)
        known = await session.get(CertificateFact, data.certificate_id)
        if known is not None or logged.event.personkey is None:
            return
        session.add(
            CertificateFact(
                certificate_id=data.certificate_id,
                person_key=logged.event.personkey,
                level=data.level,
                level_rank=policy.level_rank(data.level),
                town=data.town,
                issued_on=data.issued_on,
                revoked_on=None,
            )
        )

    return {CERTIFICATE_ISSUED: on_certificate_issued}


def consumer_factory(policy: IndicatorPolicy) -> ConsumerFactory:
    """The rollup consumer, built by the runner with this service's sessions and the log."""

    def build(
        sessionmaker: async_sessionmaker[AsyncSession], log: EventLog, batch_size: int = 500
    ) -> Consumer:
        return Consumer(
            name=CONSUMER_NAME,
            log=log,
            sessionmaker=sessionmaker,
            checkpoints=checkpoints,
            dead_letters=dead_letters,
            handlers=build_handlers(policy),
            batch_size=batch_size,
        )

    return build
