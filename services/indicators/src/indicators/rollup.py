"""The rollup consumer: applies the log to per-person facts and dated delta counters in batches.

For each batch, in one transaction:

1. every event is read with its tolerant model into a change (`indicators.handlers.read_change`);
   an event that cannot be read, or cannot be placed (a revocation of an unknown certificate
   without a person key), goes to the dead-letter table with its error class, as with
   `common.eventlog.consumer.Consumer`;
2. the facts of every person the batch touches are loaded (one query per fact table, planned
   for its keys: `indicators.store.key_lookups`);
3. the changes are applied in log order to those persons in memory; before a person's first change
   their contributions (`indicators.timeline.contributions`) are remembered;
4. the difference between each touched person's contributions after and before becomes deltas,
   written to the calendar-bucket counters with one upsert; new and changed facts are written in
   bulk; the checkpoint advances in the same transaction.

A batch, and a whole catch-up, runs with the cyclic garbage collector paused
(`collector_paused`), and a person first seen in the batch, with no stored facts, contributed
nothing before it.

`RollupConsumer.catch_up` overlaps batches: steps 1–4 of the next batch run in memory while the
previous batch's transaction writes, taking what the previous batch touched from its in-memory
state instead of the database (ADR 0007); and while a batch's lookups (step 2) wait on the
database, the events of the batch after it are read into changes (step 1).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from common.collector import collector_paused
from common.db import unit_of_work
from common.eventlog.consumer import APPLIED, DEAD, Consumer, DeadLetter
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
from indicators.reading import ReadBatch, Reader, ReadingProcess, read_batch
from indicators.rules import REWARDS_FEN, IndicatorPolicy
from indicators.timeline import (
    Certificate,
    DeltaKey,
    Person,
    TimelineRules,
    add_contributions,
    contributions,
)

logger = logging.getLogger("indicators.rollup")
READ_SLICE = 1_000  # events read into changes between two turns of the event loop


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
        """The person, remembering their contributions before the batch changes them.

        `persons` holds every loaded person with stored facts, so one missing from it has none
        yet and contributed nothing (most persons of an import are new).
        """
        person = self.persons.get(person_key)
        if person is None:
            person = self.persons[person_key] = Person(person_key=person_key)
            self.before[person_key] = {}
        elif person_key not in self.before:
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
            add_contributions(self.persons[person_key], self.rules, out)
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


@dataclass
class Named:
    """The ids and person keys a batch's changes name."""

    certificates: set[str] = field(default_factory=set)
    completions: set[str] = field(default_factory=set)
    memberships: set[str] = field(default_factory=set)
    rewards: set[str] = field(default_factory=set)
    persons: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, changes: list[Change]) -> Named:
        """Everything the changes name, in one pass."""
        named = cls()
        for change in changes:
            if isinstance(change, Issue):
                named.certificates.add(change.certificate.certificate_id)
                named.persons.add(change.certificate.person_key)
            elif isinstance(change, Revoke | Flag):
                named.certificates.add(change.certificate_id)
                if change.person_key:
                    named.persons.add(change.person_key)
            elif isinstance(change, Train):
                named.completions.add(change.completion.completion_id)
                named.persons.add(change.completion.person_key)
            elif isinstance(change, Join):
                named.memberships.add(change.membership.membership_id)
                named.persons.add(change.membership.person_key)
            elif isinstance(change, Reward):
                named.rewards.add(change.key)
        return named


async def load_batch(
    session: AsyncSession,
    changes: list[Change],
    rules: TimelineRules,
    *,
    carried: Batch | None = None,
) -> Batch:
    """The stored facts of every person and id the changes touch.

    `carried` is the previous batch, applied in memory but perhaps not committed yet: what it
    holds of the named persons and ids is taken from it (its state after its changes), and only
    the rest is read from the database, which that batch's changes do not concern.
    """
    named = Named.of(changes)
    prior = carried or Batch(rules, {}, {}, set(), set(), set())
    certificate_owner = _taken(prior.certificate_owner, named.certificates)
    completion_ids = named.completions & prior.completion_ids
    membership_ids = named.memberships & prior.membership_ids
    reward_keys = named.rewards & prior.reward_keys
    async with store.key_lookups(session):
        certificate_owner |= await store.owners(
            session,
            store.CERTIFICATES,
            "certificate_id",
            named.certificates - certificate_owner.keys(),
        )
        completion_ids |= set(
            await store.owners(
                session, store.COMPLETIONS, "completion_id", named.completions - completion_ids
            )
        )
        membership_ids |= set(
            await store.owners(
                session, store.MEMBERSHIPS, "membership_id", named.memberships - membership_ids
            )
        )
        wanted = named.persons | set(certificate_owner.values())
        persons = _taken(prior.persons, wanted)
        persons |= await store.load_persons(session, wanted - persons.keys())
        reward_keys |= await store.known_reward_keys(session, named.rewards - reward_keys)
    return Batch(
        rules=rules,
        persons=persons,
        certificate_owner=certificate_owner,
        completion_ids=completion_ids,
        membership_ids=membership_ids,
        reward_keys=reward_keys,
    )


def _taken(mapping: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """The entries of `mapping` under `keys`."""
    return {key: mapping[key] for key in keys if key in mapping}


@dataclass
class Applied:
    """A batch of the log applied in memory: what to write, and the state it leaves."""

    batch: Batch
    writes: store.FactWrites
    rows: list[store.BucketRow]
    failed: list[DeadLetter]
    events: int
    last: int  # the log position of its last event


class RollupConsumer(Consumer):
    """The indicators' consumer: batch-applies events to per-person facts and delta counters.

    Same contract as `Consumer.run_once` (effects and checkpoint in one transaction, the
    checkpoint row locked on PostgreSQL, unreadable events dead-lettered with their error class),
    but one batch is one set of bulk reads and writes instead of a savepoint per event.

    `catch_up` is pipelined: while one batch's transaction writes (the database's work), the
    next batch is read from the log and applied in memory (the consumer's), starting from the
    state the first leaves (`load_batch(carried=...)`); it is written only once the first has
    committed, and only if the checkpoint is still where the first left it. See ADR 0007.
    """

    def __init__(
        self,
        *,
        policy: IndicatorPolicy,
        read: Reader,
        reading: ReadingProcess | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(handlers={}, **kwargs)
        self.policy = policy
        self.read = read
        self.reading = reading  # where `catch_up` reads the log into changes (None: here)
        self.rules = timeline_rules(policy)

    async def close(self) -> None:
        """Stop the reading process, if there is one."""
        if self.reading is not None:
            self.reading.close()

    async def apply_batch(self, session: AsyncSession, events: Sequence[LoggedEvent]) -> int:
        """Apply events to the rollups in the session's transaction; returns dead letters."""
        with collector_paused():
            applied = await self._apply_in_memory(session, self._read_all(events))
            await self._write(session, applied)
        return len(applied.failed)

    async def catch_up(self) -> int:
        """Apply batches until the log has no more events; returns the events applied.

        Batch N+1 is read and applied in memory while batch N's transaction runs, so that the
        consumer's CPU work and the database's overlap (two cores on a catch-up). It starts
        from batch N's in-memory state and is written after N commits, in a transaction that
        finds the checkpoint where N left it — or not at all (another replica moved it; the
        next call starts again from the stored checkpoint). Meanwhile N+2 is read from the log
        into changes: in the `reading` process, or here, a slice at a time while N+1's lookups
        wait on the database, so that they are not idle time (a rebuild of the 112,700-row
        import's log into a fresh database: 3.37–3.41 s instead of 3.40–3.67 s, 3 alternated
        rounds). The cyclic garbage collector is paused throughout (`collector_paused`).
        """
        with collector_paused():
            return await self._pipelined_catch_up()

    async def _pipelined_catch_up(self) -> int:
        async with self.sessionmaker() as session:
            position = await self.checkpoint(session)
        total = 0
        carried: Batch | None = None
        writing: asyncio.Task[int] | None = None
        applying: asyncio.Task[Applied] | None = None
        reading = asyncio.create_task(self._next_batch(after=position))
        failure: Exception | None = None
        try:
            read = await reading
            while read.count:
                reading = asyncio.create_task(  # the log's work overlaps this batch's
                    self._next_batch(after=read.last)
                )
                applying = asyncio.create_task(self._applied(read, carried=carried))
                try:
                    following = await reading
                except Exception as exc:  # this batch, read before it, still stands
                    failure, following = exc, ReadBatch(0, 0, 0)
                ready, applying = await applying, None
                if writing is not None:
                    written, writing = await writing, None
                    if not written:
                        return total
                    total += written
                writing = asyncio.create_task(self._commit(ready, after=position))
                carried, position = ready.batch, ready.last
                read = following
            if writing is not None:
                written, writing = await writing, None
                total += written
            if failure is not None:
                raise failure
            return total
        finally:
            reading.cancel()  # a read ahead past a stop or an error is not needed
            await asyncio.gather(reading, return_exceptions=True)
            if applying is not None:  # an error while the next batch was read
                applying.cancel()
                await asyncio.gather(applying, return_exceptions=True)
            if writing is not None:  # an error while the next batch was read: the batch being
                # written stands on its own, so it may finish before the error propagates
                await asyncio.gather(writing, return_exceptions=True)

    async def _next_batch(self, *, after: int) -> ReadBatch:
        """The log's next batch after `after`, read into changes (in the reading process, if
        there is one)."""
        if self.reading is not None:
            return await self.reading.read(after=after, limit=self.batch_size)
        events = await self.log.read(after=after, limit=self.batch_size)
        return await self._read_all_yielding(events)

    async def _applied(self, read: ReadBatch, *, carried: Batch | None) -> Applied:
        """A batch applied in memory, in a reading session of its own (nothing to commit)."""
        async with self.sessionmaker() as session:
            return await self._apply_in_memory(session, read, carried=carried)

    async def _read_all_yielding(self, events: Sequence[LoggedEvent]) -> ReadBatch:
        """`_read_all`, a slice at a time, letting the tasks waiting on the database (the
        batch before's lookups, the one before it's writes) go on between slices."""
        read = ReadBatch(0, 0, 0)
        for start in range(0, len(events), READ_SLICE):
            await asyncio.sleep(0)
            read.extend(self._read_all(events[start : start + READ_SLICE]))
        return read

    async def _commit(self, applied: Applied, *, after: int) -> int:
        """Write a batch applied in memory, if the checkpoint is still `after`; returns the
        events applied (0: the checkpoint had moved, nothing written)."""
        async with unit_of_work(self.sessionmaker) as session:
            position = await self.locked_checkpoint(session)
            if position != after:
                logger.info(
                    "checkpoint moved by another consumer; batch dropped",
                    extra={"expected": after, "found": position},
                )
                return 0
            await self._write(session, applied)
            await self._save_checkpoint(session, old=position, new=applied.last)
        APPLIED.labels(self.name).inc(applied.events)
        if applied.failed:
            DEAD.labels(self.name).inc(len(applied.failed))
        return applied.events

    async def _write(self, session: AsyncSession, applied: Applied) -> None:
        await store.write_facts(session, applied.writes)
        await store.add_to_buckets(session, applied.rows)
        await self.record_dead_letters(session, applied.failed)

    async def _apply_in_memory(
        self, session: AsyncSession, read: ReadBatch, *, carried: Batch | None = None
    ) -> Applied:
        """The facts to write, the counter rows and the dead letters of a batch read into
        changes, starting from the stored facts, or from `carried` for what the previous batch
        touched."""
        batch = await load_batch(session, read.changes, self.rules, carried=carried)
        writes, rows, failed = self._apply(batch, read)
        return Applied(batch, writes, rows, failed, read.count, read.last)

    def _apply(
        self, batch: Batch, read: ReadBatch
    ) -> tuple[store.FactWrites, list[store.BucketRow], list[DeadLetter]]:
        """Apply the changes in log order; a change that raises becomes a dead letter, after
        those of the events that could not be read."""
        failed = list(read.unread)
        for index, change in enumerate(read.changes):
            try:
                batch.apply(change)
            except Exception as exc:
                failed.append(read.dead_letter(index, exc))
        batch.certificate_rows()
        return batch.writes, store.bucket_rows(batch.deltas()), failed

    def _read_all(self, events: Sequence[LoggedEvent]) -> ReadBatch:
        """The events read into changes (None-changes dropped), and dead letters of those that
        cannot be read."""
        return read_batch(events, self.read, self.policy)
