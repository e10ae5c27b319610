"""The rollup consumer: applies the log to per-person facts and dated delta counters in batches.

For each batch, in one transaction:

1. every event is read with its tolerant model into a change (`indicators.handlers.read_change`);
   an event that cannot be read, or cannot be placed (a revocation of an unknown certificate
   without a person key), goes to the dead-letter table with its error class, as with
   `common.eventlog.consumer.Consumer`;
2. the facts of every person the batch touches are loaded (one query per fact table);
3. the changes are applied in log order to those persons in memory; before a person's first change
   their contributions (`indicators.timeline.contributions`) are remembered;
4. the difference between each touched person's contributions after and before becomes deltas,
   written to the calendar-bucket counters with one upsert; new and changed facts are written in
   bulk; the checkpoint advances in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from common.eventlog.consumer import Consumer
from common.eventlog.envelope import LoggedEvent
from indicators import store
from indicators.changes import (
    Change,
    Flag,
    Issue,
    Join,
    Revoke,
    Reward,
    Train,
    UnknownCertificate,
)
from indicators.rules import REWARDS_FEN, IndicatorPolicy
from indicators.timeline import (
    Certificate,
    DeltaKey,
    Person,
    TimelineRules,
    contributions,
)

Reader = Callable[[LoggedEvent, IndicatorPolicy], Change | None]


def timeline_rules(policy: IndicatorPolicy) -> TimelineRules:
    """The policy facts the per-person timelines need."""
    return TimelineRules(
        high_skilled_rank=policy.high_skilled_rank,
        towns=frozenset(policy.town_codes),
        domains=frozenset(policy.domain_codes),
    )


@dataclass
class Batch:
    """One batch's persons in memory, what changed, and the contributions before the change."""

    rules: TimelineRules
    persons: dict[str, Person]
    certificate_owner: dict[str, str]
    completion_ids: set[str]
    membership_ids: set[str]
    reward_keys: set[str]
    before: dict[str, dict[DeltaKey, int]] = field(default_factory=dict)
    new_certificates: set[str] = field(default_factory=set)
    changed_certificates: set[str] = field(default_factory=set)
    writes: store.FactWrites = field(default_factory=store.FactWrites)
    reward_deltas: defaultdict[DeltaKey, int] = field(default_factory=lambda: defaultdict(int))

    def touch(self, person_key: str) -> Person:
        """The person, remembering their contributions before the batch changes them."""
        person = self.persons.setdefault(person_key, Person(person_key=person_key))
        if person_key not in self.before:
            self.before[person_key] = contributions(person, self.rules)
        return person

    def _certificate(self, certificate_id: str) -> Certificate | None:
        owner = self.certificate_owner.get(certificate_id)
        return None if owner is None else self.persons[owner].certificates[certificate_id]

    def _changed(self, certificate_id: str) -> None:
        if certificate_id not in self.new_certificates:
            self.changed_certificates.add(certificate_id)

    def apply(self, change: Change) -> None:
        """Apply one change in memory (raises before changing anything)."""
        if isinstance(change, Issue):
            self._issue(change.certificate)
        elif isinstance(change, Revoke | Flag):
            self._revoke_or_flag(change)
        elif isinstance(change, Train):
            completion = change.completion
            if completion.completion_id in self.completion_ids:
                return
            self.completion_ids.add(completion.completion_id)
            person = self.touch(completion.person_key)
            person.completions[completion.completion_id] = completion
            self.writes.completions.append(vars(completion).copy())
        elif isinstance(change, Join):
            membership = change.membership
            if membership.membership_id in self.membership_ids:
                return
            self.membership_ids.add(membership.membership_id)
            person = self.touch(membership.person_key)
            person.memberships[membership.membership_id] = membership
            self.writes.memberships.append(vars(membership).copy())
        elif isinstance(change, Reward):
            if change.key in self.reward_keys:
                return
            self.reward_keys.add(change.key)
            town = self.rules.town(change.town)
            self.reward_deltas[(REWARDS_FEN, town, change.effective_on)] += change.amount_fen
            self.writes.rewards.append(
                {
                    "key": change.key,
                    "entry_id": change.entry_id,
                    "amount_fen": change.amount_fen,
                    "effective_on": change.effective_on,
                    "town": change.town,
                }
            )

    def _issue(self, incoming: Certificate) -> None:
        existing = self._certificate(incoming.certificate_id)
        if existing is not None and existing.issued_on is not None:
            return  # the first issue wins; a repeat (producer retry) changes nothing
        person = self.touch(incoming.person_key)
        if existing is None:
            person.certificates[incoming.certificate_id] = incoming
            self.certificate_owner[incoming.certificate_id] = incoming.person_key
            self.new_certificates.add(incoming.certificate_id)
            return
        # A revocation or flag came first: complete it (the issue names the person).
        holder = self.touch(existing.person_key)
        del holder.certificates[existing.certificate_id]
        incoming.revoked_on = existing.revoked_on
        incoming.flagged_on = existing.flagged_on
        person.certificates[incoming.certificate_id] = incoming
        self.certificate_owner[incoming.certificate_id] = incoming.person_key
        self._changed(incoming.certificate_id)

    def _revoke_or_flag(self, change: Revoke | Flag) -> None:
        existing = self._certificate(change.certificate_id)
        if existing is None:
            if change.person_key is None:
                raise UnknownCertificate(change.certificate_id)
            person = self.touch(change.person_key)
            existing = Certificate(
                certificate_id=change.certificate_id, person_key=person.person_key
            )
            person.certificates[change.certificate_id] = existing
            self.certificate_owner[change.certificate_id] = person.person_key
            self.new_certificates.add(change.certificate_id)
        else:
            self.touch(existing.person_key)
        if isinstance(change, Revoke):
            if existing.revoked_on is None or change.revoked_on < existing.revoked_on:
                existing.revoked_on = change.revoked_on
                self._changed(change.certificate_id)
        elif existing.flagged_on is None or change.flagged_on < existing.flagged_on:
            existing.flagged_on = change.flagged_on
            self._changed(change.certificate_id)

    def deltas(self) -> dict[DeltaKey, int]:
        """Contributions after minus before, for every touched person, plus money flows."""
        out: defaultdict[DeltaKey, int] = defaultdict(int, self.reward_deltas)
        for person_key, before in self.before.items():
            after = contributions(self.persons[person_key], self.rules)
            for key, value in after.items():
                out[key] += value
            for key, value in before.items():
                out[key] -= value
        return {key: value for key, value in out.items() if value}

    def certificate_rows(self) -> None:
        """Queue the new and changed certificates for writing."""
        for certificate_id in sorted(self.new_certificates):
            certificate = self._certificate(certificate_id)
            assert certificate is not None
            self.writes.certificates.append(store.certificate_row(certificate))
        for certificate_id in sorted(self.changed_certificates - self.new_certificates):
            certificate = self._certificate(certificate_id)
            assert certificate is not None
            self.writes.certificate_updates.append(store.certificate_row(certificate))


async def load_batch(session: AsyncSession, changes: list[Change], rules: TimelineRules) -> Batch:
    """The stored facts of every person and id the changes touch."""
    certificate_ids = {
        c.certificate.certificate_id if isinstance(c, Issue) else c.certificate_id
        for c in changes
        if isinstance(c, Issue | Revoke | Flag)
    }
    completion_ids = {c.completion.completion_id for c in changes if isinstance(c, Train)}
    membership_ids = {c.membership.membership_id for c in changes if isinstance(c, Join)}
    certificate_owner = await store.owners(
        session, store.CERTIFICATES, "certificate_id", certificate_ids
    )
    completion_owner = await store.owners(
        session, store.COMPLETIONS, "completion_id", completion_ids
    )
    membership_owner = await store.owners(
        session, store.MEMBERSHIPS, "membership_id", membership_ids
    )
    person_keys = set(certificate_owner.values())
    for change in changes:
        if isinstance(change, Issue):
            person_keys.add(change.certificate.person_key)
        elif isinstance(change, Revoke | Flag) and change.person_key:
            person_keys.add(change.person_key)
        elif isinstance(change, Train):
            person_keys.add(change.completion.person_key)
        elif isinstance(change, Join):
            person_keys.add(change.membership.person_key)
    persons = await store.load_persons(session, person_keys)
    reward_keys = await store.known_reward_keys(
        session, {c.key for c in changes if isinstance(c, Reward)}
    )
    return Batch(
        rules=rules,
        persons=persons,
        certificate_owner=certificate_owner,
        completion_ids=set(completion_owner),
        membership_ids=set(membership_owner),
        reward_keys=reward_keys,
    )


class RollupConsumer(Consumer):
    """The indicators' consumer: batch-applies events to per-person facts and delta counters.

    Same contract as `Consumer.run_once` (effects and checkpoint in one transaction, the
    checkpoint row locked on PostgreSQL, unreadable events dead-lettered with their error class),
    but one batch is one set of bulk reads and writes instead of a savepoint per event.
    """

    def __init__(self, *, policy: IndicatorPolicy, read: Reader, **kwargs: Any) -> None:
        super().__init__(handlers={}, **kwargs)
        self.policy = policy
        self.read = read
        self.rules = timeline_rules(policy)

    async def apply_batch(self, session: AsyncSession, events: Sequence[LoggedEvent]) -> int:
        """Apply events to the rollups in the session's transaction; returns dead letters."""
        failed: list[tuple[LoggedEvent, Exception]] = []
        read: list[tuple[LoggedEvent, Change]] = []
        for logged in events:
            try:
                change = self.read(logged, self.policy)
            except Exception as exc:
                failed.append((logged, exc))
                continue
            if change is not None:
                read.append((logged, change))
        batch = await load_batch(session, [change for _, change in read], self.rules)
        for logged, change in read:
            try:
                batch.apply(change)
            except Exception as exc:
                failed.append((logged, exc))
        batch.certificate_rows()
        await store.write_facts(session, batch.writes)
        await store.add_deltas(session, batch.deltas())
        await self.dead_letter(session, failed)
        return len(failed)
