"""Certificate and outbox rows: built as tuples, written many at once (Core executemany, or
COPY on PostgreSQL), and looked up by number.

Everything runs on the caller's session, inside its transaction (never commits).
"""

from __future__ import annotations

import os
import time
from array import array
from collections.abc import Sequence
from datetime import datetime
from operator import itemgetter
from types import SimpleNamespace
from typing import Any

import asyncpg
import orjson
from sqlalchemy import JSON, Table, Text, any_, bindparam, cast, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import key_array
from common.eventlog.envelope import RECORD_COLUMNS, Event, encode_data
from common.eventlog.outbox import Outbox, outbox_row, pack, wake_relay
from common.identifiers import normalise_id_number
from common.pii import FieldCipher, mask_id_number, mask_name
from evaluation.certificates.rules import Candidate
from evaluation.context import EvaluationContext
from evaluation.events import CERTIFICATE_ISSUED, SOURCE
from evaluation.models import Certificate, outbox

certificates: Table = Certificate.__table__
events_outbox = Outbox(outbox, source=SOURCE)
# Below this many rows a multi-row INSERT is as fast as COPY and simpler; from this many
# events on, they go into the outbox as batch rows.
COPY_THRESHOLD = 200
CERTIFICATE_COLUMNS = (
    "id",
    "number",
    "number_format",
    "level",
    "occupation_code",
    "occupation_name",
    "occupation_edition",
    "holder_person_key",
    "holder_cipher",
    "holder_id_masked",
    "holder_name_masked",
    "holder_name_digest",
    "issued_on",
    "employer_uscc",
    "mode",
    "town",
    "body_code",
    "status",
    "revoked_on",
    "revocation_reason",
    "revoked_at",
    "flagged_reason",
    "flagged_on",
    "import_job_id",
    "policy_version",
)
Row = tuple[Any, ...]  # a certificate or outbox row, its values in column order
NUMBER = CERTIFICATE_COLUMNS.index("number")
ISSUED_ON = CERTIFICATE_COLUMNS.index("issued_on")
EMPLOYER_USCC = CERTIFICATE_COLUMNS.index("employer_uscc")
MODE = CERTIFICATE_COLUMNS.index("mode")
BODY_CODE = CERTIFICATE_COLUMNS.index("body_code")
POLICY_VERSION = CERTIFICATE_COLUMNS.index("policy_version")
OUTBOX_COLUMNS = RECORD_COLUMNS


def ordered_ids(count: int) -> list[str]:
    """`count` UUIDv7 strings (RFC 9562) of this millisecond, increasing in list order.

    UUIDv7s made one by one are random within a millisecond; rows written together take their
    ids from one counter instead (method 2 of RFC 9562 §6.2), so that ordering by id follows the
    order of the items — the order in which holders become eligible for rewards. The counter's
    39 bits fill `rand_a` and the top of `rand_b`; 32 random bits follow. An import makes two
    ids a row, so the text before the counter's low 30 bits is formatted once per change of its
    high bits, not per id.
    """
    millis = time.time_ns() // 1_000_000
    start = int.from_bytes(os.urandom(5), "big") >> 1  # 39 bits: room for the counter
    noise = array("I", os.urandom(4 * count))  # one 32-bit random number per id
    stamp = f"{millis & 0xFFFF_FFFF_FFFF:012x}"
    head = f"{stamp[:8]}-{stamp[8:]}-7"  # version 7
    ids: list[str] = []
    high, prefix = -1, ""
    for i, random_bits in enumerate(noise):
        counter = start + i
        if counter >> 30 != high:
            high = counter >> 30
            prefix = f"{head}{high & 0xFFF:03x}-"
        low = 0x8000_0000_0000_0000 | (counter & 0x3FFF_FFFF) << 32 | random_bits  # variant 10
        ids.append(f"{prefix}{low >> 48:04x}-{low & 0xFFFF_FFFF_FFFF:012x}")
    return ids


def is_postgres(session: AsyncSession) -> bool:
    """True when the session talks to PostgreSQL."""
    return session.get_bind().dialect.name == "postgresql"


async def _copy(
    session: AsyncSession, table: str, columns: Sequence[str], records: list[tuple[Any, ...]]
) -> None:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(table, records=records, columns=list(columns))


async def copy_certificates(session: AsyncSession, records: list[tuple[Any, ...]]) -> bool:
    """Insert certificate rows by COPY inside a savepoint (PostgreSQL); False, with nothing
    written, when one of the numbers is stored already (or by a concurrent writer meanwhile).

    In number order: two writers that insert some of the same numbers then wait on each
    other's index entries in one order only, never in a cycle (a deadlock).
    """
    try:
        async with session.begin_nested():
            await _copy(
                session,
                "certificates",
                CERTIFICATE_COLUMNS,
                sorted(records, key=itemgetter(NUMBER)),
            )
        return True
    except asyncpg.UniqueViolationError:
        return False


async def insert_certificates(session: AsyncSession, records: list[tuple[Any, ...]]) -> set[str]:
    """Insert certificate rows (tuples in `CERTIFICATE_COLUMNS` order); a number already stored
    (by a concurrent writer) is skipped. Returns the numbers inserted.

    On PostgreSQL large sets go by COPY (`copy_certificates`); if a concurrent writer stored one
    of the numbers meanwhile, they go by `INSERT ... ON CONFLICT DO NOTHING` instead.
    """
    if not records:
        return set()
    if is_postgres(session) and len(records) >= COPY_THRESHOLD:
        if await copy_certificates(session, records):
            return {r[NUMBER] for r in records}
    records = sorted(records, key=itemgetter(NUMBER))  # as in `copy_certificates`
    dialect_insert = pg_insert if is_postgres(session) else sqlite_insert
    statement = (
        dialect_insert(certificates)
        .on_conflict_do_nothing(index_elements=["number"])
        .returning(certificates.c.number)
    )
    connection = await session.connection()
    result = await connection.execute(
        statement, [dict(zip(CERTIFICATE_COLUMNS, r, strict=True)) for r in records]
    )
    return set(result.scalars().all())


async def insert_event_rows(session: AsyncSession, rows: list[Row]) -> None:
    """Write outbox rows (tuples in `OUTBOX_COLUMNS` order, `data` as JSON text); large sets
    packed into batch rows (`common.eventlog.outbox.pack`), which the relay splits again."""
    if not rows:
        return
    if len(rows) >= COPY_THRESHOLD:
        rows = pack(rows)
    # The data is JSON text already: bound as text, not serialised again by the JSON type
    # (PostgreSQL wants the text cast to json; SQLite stores JSON as text).
    data: Any = bindparam("data", type_=Text)
    statement = insert(outbox).values(data=cast(data, JSON) if is_postgres(session) else data)
    await session.execute(statement, [dict(zip(OUTBOX_COLUMNS, r, strict=True)) for r in rows])
    await wake_relay(session)


async def insert_events(session: AsyncSession, events: list[Event]) -> None:
    """Write outbox rows for the events."""
    rows = []
    for event in events:
        row = outbox_row(event)
        row["data"] = encode_data(row["data"])
        rows.append(tuple(row[c] for c in OUTBOX_COLUMNS))
    await insert_event_rows(session, rows)


# Everything but the ciphertexts: what replays and conflict checks compare and return.
STORED_COLUMNS = [c for c in certificates.c if not c.name.endswith("_cipher")]


async def stored_by_number(session: AsyncSession, numbers: Sequence[str]) -> dict[str, Any]:
    """Stored certificates among `numbers`, by number (without their ciphertexts)."""
    found: dict[str, Any] = {}
    unique = sorted(set(numbers))
    if not unique:
        return found
    if is_postgres(session):  # one array value instead of thousands of bound values
        condition = certificates.c.number == any_(key_array("numbers", unique))
        for row in await session.execute(select(*STORED_COLUMNS).where(condition)):
            found[row.number] = row
        return found
    for start in range(0, len(unique), 5_000):
        rows = await session.execute(
            select(*STORED_COLUMNS).where(certificates.c.number.in_(unique[start : start + 5_000]))
        )
        for row in rows:
            found[row.number] = row
    return found


# --- Rows of new certificates and of their `issued` events ---------------------------------


def certificate_rows(
    candidates: list[Candidate], ctx: EvaluationContext, import_job_id: str | None
) -> list[tuple[Any, ...]]:
    ids = ordered_ids(len(candidates))  # in item order: the order of eligibility for rewards
    return [_row(c, ctx, import_job_id, i) for c, i in zip(candidates, ids, strict=True)]


def _row(
    c: Candidate, ctx: EvaluationContext, import_job_id: str | None, certificate_id: str
) -> tuple[Any, ...]:
    """A certificate row, its values in `CERTIFICATE_COLUMNS` order."""
    data = c.data
    id_number = normalise_id_number(data.holder_id_number)
    return (
        certificate_id,
        data.number,
        c.fmt,
        data.level,
        data.occupation_code,
        data.occupation_name,
        data.occupation_edition,
        c.person_key,
        seal_holder(ctx.cipher, id_number=id_number, name=data.holder_name),
        mask_id_number(id_number),
        mask_name(data.holder_name),
        c.name_digest,
        data.issued_on,
        data.employer_uscc.upper() if data.employer_uscc else None,
        data.mode,
        data.town,
        c.body.code,
        "valid",
        None,
        None,
        None,
        None,
        None,
        import_job_id,
        ctx.policy.version,
    )


HOLDER_CONTEXT = b"certificates.holder"  # bound as associated data: the column it belongs in


def seal_holder(cipher: FieldCipher, *, id_number: str, name: str) -> bytes:
    """The holder's normalised ID number and name in one SM4-GCM ciphertext (ADR 0011).

    One operation instead of one per field: an import encrypts a hundred thousand holders, and
    setting up an SM4-GCM operation is most of what encrypting a short field costs.
    """
    return cipher.encrypt(orjson.dumps([id_number, name]).decode(), context=HOLDER_CONTEXT)


def open_holder(cipher: FieldCipher, row: Any) -> tuple[str, str]:
    """A stored certificate's holder as (ID number, name), from either form of row: one
    ciphertext (`seal_holder`), or one per field (rows recorded before migration 0005)."""
    if row.holder_cipher is not None:
        id_number, name = orjson.loads(cipher.decrypt(row.holder_cipher, context=HOLDER_CONTEXT))
        return str(id_number), str(name)
    return (
        cipher.decrypt(row.holder_id_cipher, context=b"certificates.holder_id"),
        cipher.decrypt(row.holder_name_cipher, context=b"certificates.holder_name"),
    )


def as_columns(record: tuple[Any, ...]) -> dict[str, Any]:
    """A certificate row tuple as a column -> value mapping."""
    return dict(zip(CERTIFICATE_COLUMNS, record, strict=True))


def as_certificate(record: tuple[Any, ...]) -> SimpleNamespace:
    """A certificate row tuple with attribute access (responses, rules)."""
    return SimpleNamespace(**as_columns(record))


def issued_event_row(record: Row, *, event_id: str, time: datetime, request_id: str | None) -> Row:
    """The outbox row (`OUTBOX_COLUMNS` order, data as JSON text) of the `certificate.issued`
    event of a new row.

    Built directly, without an `Event` and a model per row (an import makes a hundred thousand
    of these); a test checks the data against `CertificateIssuedV1`, the published contract.
    """
    (certificate_id, _, _, level, occupation_code, _, occupation_edition, holder) = record[:8]
    issued_on, employer, mode, town, body_code = record[ISSUED_ON : BODY_CODE + 1]
    return (
        event_id,
        CERTIFICATE_ISSUED,
        SOURCE,
        certificate_id,
        time,
        holder,
        town,
        None,
        request_id,
        encode_data(
            {
                "certificate_id": certificate_id,
                "level": level,
                "occupation_code": occupation_code,
                "occupation_edition": occupation_edition,
                "mode": mode,
                "body_code": body_code,
                "employer_uscc": employer,
                "town": town,
                "issued_on": issued_on.isoformat(),
                "policy_version": record[POLICY_VERSION],
            }
        ),
    )
