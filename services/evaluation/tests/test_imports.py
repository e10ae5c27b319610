"""Bulk import of the existing stock: CSV and XLSX, per-row errors, re-import, limits, jobs."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from common.eventlog.outbox import BATCH_TYPE
from evaluation.models import Certificate, ImportJob

from .conftest import EMPLOYER, VALID_ID, cert_number, id_number, uscc

COLUMNS = [
    "number",
    "level",
    "occupation_code",
    "occupation_name",
    "holder_id_number",
    "holder_name",
    "issued_on",
    "employer_uscc",
    "mode",
    "town",
    "body_code",
]


def row(n: int, **overrides: Any) -> dict[str, Any]:
    values = {
        "number": cert_number(n),
        "level": "senior",
        "occupation_code": "6-04-02-05",
        "occupation_name": "焊工",
        "holder_id_number": id_number(n),
        "holder_name": f"持证人{n}",
        "issued_on": "2025-03-01",
        "employer_uscc": EMPLOYER,
        "mode": "social_evaluation",
        "town": "changguo",
        "body_code": "S0001",
    }
    values.update(overrides)
    return values


def csv_file(rows: list[dict[str, Any]], columns: list[str] = COLUMNS) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


async def upload(env, content: bytes, filename: str = "stock.csv", headers=None):
    return await env.client.post(
        "/v1/imports",
        files={"file": (filename, content, "application/octet-stream")},
        headers=headers or env.admin,
    )


async def run(env, content: bytes, filename: str = "stock.csv") -> dict[str, Any]:
    """Upload, wait for the job, return its final state."""
    response = await upload(env, content, filename)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] in ("queued", "running", "completed")
    await env.app.state.import_tasks.wait()
    final = await env.client.get(f"/v1/imports/{job['id']}", headers=env.admin)
    assert final.status_code == 200
    return final.json()


async def error_report(env, job_id: str) -> list[list[str]]:
    response = await env.client.get(f"/v1/imports/{job_id}/errors.csv", headers=env.admin)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.text)))


@pytest.mark.parametrize("processes", [2, 1, 0], ids=["two-processes", "one-process", "thread"])
async def test_csv_import_creates_certificates_and_events(make_env, processes) -> None:
    """Rows are prepared in worker processes (two shards by default), or in a thread: the same
    result, in file order."""
    env = await make_env(import_chunk_rows=7, import_processes=processes)
    job = await run(env, csv_file([row(n) for n in range(30)]))
    assert job["status"] == "completed", job
    assert env.app.state.import_tasks.preparer.process_running is (processes > 0)
    assert (job["total_rows"], job["processed_rows"], job["created"]) == (30, 30, 30)
    assert (job["duplicates"], job["errors"]) == (0, 0)
    assert job["errors_url"] == f"/v1/imports/{job['id']}/errors.csv"
    assert await env.counts() == (30, 30)
    async with env.engine.connect() as conn:
        jobs = {r for (r,) in await conn.execute(select(Certificate.import_job_id))}
    assert jobs == {job["id"]}
    verified = await env.client.post(
        "/v1/verifications", json={"number": cert_number(3), "name": "持证人3"}
    )
    assert verified.json()["result"] == "valid"


@pytest.mark.parametrize("processes", [2, 0], ids=["two-processes", "thread"])
async def test_row_errors_and_the_report(make_env, processes) -> None:
    """Chunks of three rows: the errors of every shard land on their own row numbers."""
    env = await make_env(import_chunk_rows=3, import_processes=processes)
    await env.register("S0002", filed_on="2025-06-01")
    await env.register("S0003")
    await env.set_status("S0003", "suspended", "2025-01-01", "暂停")
    await env.issue(number=cert_number(90), holder_id_number=id_number(90), holder_name="持证人90")
    rows = [
        row(1),
        row(2, holder_id_number="110105194912310021"),  # checksum
        row(3, body_code="S0999", number=cert_number(3, body="S0999")),  # not registered
        row(4, town="atlantis", level="wizard"),  # two problems
        row(90, holder_name="持证人90"),  # identical to a stored certificate: duplicate
        row(90, number=cert_number(90), holder_id_number=id_number(91)),  # conflict
        row(6, body_code="S0002", number=cert_number(6, body="S0002")),  # before filing
        row(7, body_code="S0003", number=cert_number(7, body="S0003")),  # suspended then
        row(8, issued_on="2025-02-30"),
        row(9, body_code=""),
        row(10, mode="enterprise_assessment"),  # an S body
    ]
    job = await run(env, csv_file(rows))
    assert job["status"] == "completed"
    assert (job["created"], job["duplicates"], job["errors"]) == (1, 1, 9)
    report = await error_report(env, job["id"])
    assert report[0] == ["row", "field", "reason", "message"]
    lines = [tuple(r[:3]) for r in report[1:]]
    assert lines == [
        ("3", "holder_id_number", "checksum"),
        ("4", "body_code", "body_not_registered"),
        ("5", "level", "unknown_level"),
        ("5", "town", "unknown_town"),
        ("7", "number", "conflicts_with_stored_certificate"),
        ("8", "body_code", "body_not_filed"),
        ("9", "body_code", "body_suspended"),
        ("10", "issued_on", "date_from_datetime_parsing"),
        ("11", "body_code", "missing"),
        ("12", "mode", "mode_not_allowed_for_body"),
    ]
    text = "\n".join(",".join(r) for r in report)
    assert "110105194912310021" not in text and "持证人" not in text and "atlantis" not in text


async def test_reimporting_creates_nothing_new(env) -> None:
    content = csv_file([row(n) for n in range(12)] + [row(99, town="atlantis")])
    first = await run(env, content)
    assert (first["created"], first["duplicates"], first["errors"]) == (12, 0, 1)
    again = await run(env, content)
    assert (again["created"], again["duplicates"], again["errors"]) == (0, 12, 1)
    overlapping = await run(env, csv_file([row(n) for n in range(10, 15)]))
    assert (overlapping["created"], overlapping["duplicates"]) == (3, 2)
    assert await env.counts() == (15, 15)


async def test_xlsx_import(env) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append([c.upper() for c in [*COLUMNS, "occupation_edition"]])
    for n in range(5):
        values = row(n)
        values["issued_on"] = date(2025, 3, 1) if n % 2 else datetime(2025, 3, 1, 0, 0)
        sheet.append([values[c] for c in COLUMNS] + ["2015"])
    legacy = row(5, number=912003000300127, body_code="LEGACY", employer_uscc=None)
    sheet.append([legacy[c] for c in COLUMNS] + [None])
    sheet.append([None] * len(COLUMNS))  # blank rows are skipped
    buffer = io.BytesIO()
    workbook.save(buffer)
    job = await run(env, buffer.getvalue(), "stock.xlsx")
    assert job["file_format"] == "xlsx"
    assert (job["status"], job["total_rows"], job["created"], job["errors"]) == (
        "completed",
        6,
        6,
        0,
    )
    async with env.engine.connect() as conn:
        stored = {
            r.number: r
            for r in await conn.execute(
                select(Certificate.number, Certificate.occupation_edition, Certificate.issued_on)
            )
        }
    assert stored[cert_number(0)].occupation_edition == "2015"
    assert stored[cert_number(1)].issued_on == date(2025, 3, 1)
    assert stored["912003000300127"].occupation_edition == "2022"


async def test_legacy_stock_and_bodies_that_stopped_since(env) -> None:
    await env.set_status("S0001", "exited", "2025-10-01", "退出")
    rows = [
        row(1, issued_on="2019-05-01", number=cert_number(1, year=2019)),  # before the exit
        row(2, issued_on="2025-11-01", number=cert_number(2)),  # after it: refused
        row(
            3,
            body_code="LEGACY",
            number=cert_number(3, body="S0777", year=2016),
            issued_on="2016-04-01",
        ),
    ]
    job = await run(env, csv_file(rows))
    assert (job["created"], job["errors"]) == (2, 1)
    report = await error_report(env, job["id"])
    assert report[1][:3] == ["3", "body_code", "body_exited"]


async def test_imported_self_assessment_earns_rewards_but_legacy_does_not(env) -> None:
    enterprise = uscc(5)
    await env.register("Y0005", uscc=enterprise)
    rows = [
        row(
            n,
            body_code="Y0005",
            number=cert_number(n, body="Y0005"),
            mode="enterprise_assessment",
            employer_uscc=enterprise,
        )
        for n in range(3)
    ]
    rows.append(
        row(
            3,
            body_code="LEGACY",
            mode="enterprise_assessment",
            employer_uscc=enterprise,
            number="LEGACY-3",
        )
    )
    job = await run(env, csv_file(rows))
    assert job["created"] == 4
    book = await env.client.get(f"/v1/rewards?year=2025&uscc={enterprise}", headers=env.admin)
    assert book.json()["enterprises"][0]["granted_fen"] == 150_000


@pytest.mark.parametrize(
    ("columns", "reason"),
    [
        ([c for c in COLUMNS if c != "town"], "missing_column"),
        ([*COLUMNS, "phone"], "unknown_column"),
        ([*COLUMNS, "level"], "repeated_column"),
    ],
)
async def test_header_problems_are_refused_at_once(env, columns, reason) -> None:
    response = await upload(env, csv_file([row(1)], columns))
    assert response.status_code == 422
    assert any(e["reason"] == reason for e in response.json()["errors"])
    async with env.engine.connect() as conn:
        assert (await conn.execute(select(ImportJob))).first() is None


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, 415),  # legacy .xls
        ("number,level\n".encode("gbk") + "证书".encode("gbk") * 10, 415),  # not UTF-8
        (b"PK\x03\x04not really a workbook", 415),
        (b"", 422),
    ],
)
async def test_unsupported_files(env, content, status) -> None:
    response = await upload(env, content)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_upload_must_be_multipart_with_a_file_field(env) -> None:
    raw = await env.client.post(
        "/v1/imports", content=csv_file([row(1)]), headers={**env.admin, "content-type": "text/csv"}
    )
    assert raw.status_code == 415
    other_field = await env.client.post(
        "/v1/imports", files={"upload": ("a.csv", csv_file([row(1)]))}, headers=env.admin
    )
    assert other_field.status_code == 422


async def test_size_limit(make_env) -> None:
    env = await make_env(import_max_bytes=500)
    response = await upload(env, csv_file([row(n) for n in range(20)]))
    assert response.status_code == 413
    assert list(env.app.state.settings.import_path().iterdir()) == []


async def test_row_limit_fails_the_job_before_any_row(make_env) -> None:
    env = await make_env(import_max_rows=5)
    job = await run(env, csv_file([row(n) for n in range(6)]))
    assert job["status"] == "failed" and job["failure_reason"].startswith("too_many_rows")
    assert job["created"] == 0 and await env.counts() == (0, 0)


async def test_uploaded_files_are_removed(env) -> None:
    await run(env, csv_file([row(1)]))
    assert list(env.app.state.settings.import_path().iterdir()) == []


async def _insert_job(env, *, job_id: str, status: str, rows: int, beat_ago: timedelta) -> None:
    """A job row as a worker leaves it, `rows` processed and created, its heartbeat `beat_ago`."""
    async with env.engine.begin() as conn:
        await conn.execute(
            ImportJob.__table__.insert().values(
                id=job_id,
                status=status,
                file_format="csv",
                file_sha256="0" * 64,
                size_bytes=1,
                processed_rows=rows,
                created=rows,
                duplicates=0,
                errors=0,
                submitted_by="admin-1",
                created_at=datetime.now(UTC) - timedelta(minutes=10),
                heartbeat_at=datetime.now(UTC) - beat_ago,
            )
        )


async def test_a_job_without_heartbeat_is_interrupted(env) -> None:
    await _insert_job(
        env, job_id="job-stale", status="running", rows=5_000, beat_ago=timedelta(minutes=5)
    )
    job = (await env.client.get("/v1/imports/job-stale", headers=env.admin)).json()
    assert job["status"] == "interrupted" and job["processed_rows"] == 5_000


async def _start_a_stuck_import(env, monkeypatch) -> str:
    """Upload a file whose job starts writing and then waits for ever; returns its id."""
    from evaluation.imports import worker

    started = asyncio.Event()

    async def stuck(*_args: Any, **_kwargs: Any) -> None:
        started.set()
        await asyncio.sleep(3600)

    monkeypatch.setattr(worker, "store_chunk", stuck)  # the web process writes (SQLite)
    monkeypatch.setattr(worker, "_run_writers", stuck)  # the worker processes write
    response = await upload(env, csv_file([row(1)]))
    # Generous: the worker processes start on this first import (seconds on a slow machine).
    await asyncio.wait_for(started.wait(), 60)
    return str(response.json()["id"])


async def test_stopping_the_service_interrupts_a_running_job(env, monkeypatch) -> None:
    job_id = await _start_a_stuck_import(env, monkeypatch)
    await env.app.state.import_tasks.cancel_all()
    job = (await env.client.get(f"/v1/imports/{job_id}", headers=env.admin)).json()
    assert job["status"] == "interrupted" and job["failure_reason"] == "service_stopped"


async def test_a_writing_import_holds_the_relay_until_it_ends(make_env, monkeypatch) -> None:
    """The relay leaves the outbox alone while an import writes (ADR 0008), and relays
    everything once the job has ended."""
    from common.eventlog.relay import OutboxRelay
    from evaluation.events import SOURCE
    from evaluation.imports.service import import_writing
    from evaluation.models import outbox

    env = await make_env(with_log=True)
    assert (await env.issue()).status_code == 201  # an event waiting in the outbox
    relay = OutboxRelay(
        engine=env.engine, table=outbox, log=env.log, source=SOURCE, hold=import_writing
    )
    await _start_a_stuck_import(env, monkeypatch)
    await relay.wakeup.watch()  # listens on PostgreSQL
    assert await relay.drain() == 0 and await env.log.head() == 0
    await env.app.state.import_tasks.cancel_all()  # the job ends (interrupted)
    # On PostgreSQL the job's end wakes the relay (`wake_relay`), without waiting for a poll.
    assert relay.wakeup.listening is (env.engine.dialect.name == "postgresql")
    if relay.wakeup.listening:
        assert await relay.wakeup.wait(60.0)
    assert await relay.drain() == 1 and await env.log.head() == 1
    await relay.close()


@pytest.mark.parametrize(
    ("status", "beat_seconds_ago", "holds"),
    [("running", 2, True), ("running", 30, False), ("completed", 2, False)],
)
async def test_only_a_running_job_with_a_recent_heartbeat_holds_the_relay(
    env, status, beat_seconds_ago, holds
) -> None:
    from evaluation.imports.service import import_writing

    await _insert_job(
        env, job_id="job-1", status=status, rows=0, beat_ago=timedelta(seconds=beat_seconds_ago)
    )
    async with env.engine.connect() as conn:
        assert await import_writing(conn) is holds


async def test_unknown_job(env) -> None:
    assert (await env.client.get("/v1/imports/nope", headers=env.admin)).status_code == 404
    errors = await env.client.get("/v1/imports/nope/errors.csv", headers=env.admin)
    assert errors.status_code == 404


async def test_personal_data_never_in_the_job(env) -> None:
    response = await upload(env, csv_file([row(1, holder_id_number=VALID_ID, holder_name="张三")]))
    assert VALID_ID not in response.text and "张三" not in response.text


async def test_a_large_chunk_and_a_concurrent_writer(make_env, monkeypatch) -> None:
    """300 rows in one chunk (COPY on PostgreSQL). A number stored by someone else after the
    chunk looked is detected at insert time and reported like any stored certificate (written
    by the web process here, where the lookup can be blinded)."""
    from evaluation.certificates import service as issuing

    env = await make_env(import_processes=0)

    await env.issue(number=cert_number(5), holder_id_number=id_number(5), holder_name="持证人5")
    await env.issue(number=cert_number(6), holder_id_number=id_number(66))
    real = issuing.stored_by_number
    calls = {"n": 0}

    async def blind_first(session, numbers):
        calls["n"] += 1
        return {} if calls["n"] == 1 else await real(session, numbers)

    monkeypatch.setattr(issuing, "stored_by_number", blind_first)
    job = await run(env, csv_file([row(n) for n in range(300)]))
    assert (job["created"], job["duplicates"], job["errors"]) == (298, 1, 1)
    assert await env.counts() == (300, 300)
    events = await env.events(".certificate.issued.v1")
    assert all(isinstance(e.data, dict) and e.data["body_code"] == "S0001" for e in events)
    report = await error_report(env, job["id"])
    assert report[1][:3] == ["8", "number", "conflicts_with_stored_certificate"]


async def test_a_large_chunk_of_new_rows_is_copied_without_a_lookup(make_env, monkeypatch) -> None:
    """On PostgreSQL a chunk of new, distinct, issuable rows goes by COPY at once; its numbers
    are looked up only when that fails (a re-import), and each row is then met as before.
    Elsewhere every chunk is looked up first."""
    from evaluation.certificates import service as issuing
    from evaluation.certificates.store import COPY_THRESHOLD

    env = await make_env(import_processes=0)
    real = issuing.stored_by_number
    looked_up: list[int] = []

    async def counted(session, numbers):
        looked_up.append(len(numbers))
        return await real(session, numbers)

    monkeypatch.setattr(issuing, "stored_by_number", counted)
    rows = COPY_THRESHOLD + 50
    content = csv_file([row(n) for n in range(rows)])
    first = await run(env, content)
    assert (first["created"], first["duplicates"], first["errors"]) == (rows, 0, 0)
    postgres = env.engine.dialect.name == "postgresql"
    assert looked_up == ([] if postgres else [rows])
    again = await run(env, content)
    assert (again["created"], again["duplicates"], again["errors"]) == (0, rows, 0)
    assert looked_up[-1] == rows
    assert await env.counts() == (rows, rows)


async def test_batch_rows_are_compressed_with_lz4_on_postgresql(env) -> None:
    """An import's outbox batch rows are stored lz4-compressed (migration 0003; pglz where the
    server was built without lz4), and read back whole."""
    if env.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL storage setting")
    async with env.engine.connect() as conn:
        try:
            async with conn.begin():
                await conn.execute(text("SET LOCAL default_toast_compression = 'lz4'"))
            server_has_lz4 = True
        except DBAPIError:
            server_has_lz4 = False
        method = await conn.scalar(
            text(
                "SELECT attcompression::text FROM pg_attribute"
                " WHERE attrelid = 'outbox'::regclass AND attname = 'data'"
            )
        )
    job = await run(env, csv_file([row(n) for n in range(400)]))
    assert job["created"] == 400
    assert len(await env.events(".certificate.issued.v1")) == 400
    async with env.engine.connect() as conn:
        compressed = await conn.scalar(
            text("SELECT pg_column_compression(data) FROM outbox WHERE type = :t"),
            {"t": BATCH_TYPE},
        )
    assert (method, compressed) == (("l", "lz4") if server_has_lz4 else ("", "pglz"))


@pytest.mark.parametrize("processes", [2, 0], ids=["two-processes", "thread"])
async def test_the_same_rows_in_two_chunks_written_at_once(make_env, processes) -> None:
    """Two chunks holding the same 40 rows, the second in reverse order, written at the same time
    by two worker processes on PostgreSQL: each row is created once and met once as a duplicate,
    with no deadlock between the writers."""
    env = await make_env(import_chunk_rows=40, import_processes=processes)
    rows = [row(n) for n in range(40)]
    job = await run(env, csv_file(rows + rows[::-1]))
    assert job["status"] == "completed", job
    assert (job["created"], job["duplicates"], job["errors"]) == (40, 40, 0)
    assert await env.counts() == (40, 40)


async def test_worker_processes_start_with_the_service(make_env) -> None:
    env = await make_env(import_prestart=True)
    preparer = env.app.state.import_tasks.preparer
    assert preparer.process_running
    await env.app.state.import_tasks.wait()  # the warm-up
    pids = {await preparer.call(shard, os.getpid) for shard in range(preparer.shards)}
    assert len(pids) == 2 and os.getpid() not in pids
    job = await run(env, csv_file([row(n) for n in range(3)]))
    assert job["created"] == 3


def _running(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_worker_process_exits_when_the_web_process_is_killed(tmp_path) -> None:
    """A killed web process cannot shut its pool down; the worker notices and exits itself."""
    script = tmp_path / "web_process.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, os, signal
            from evaluation.imports.chunks import Preparer

            async def main():
                preparer = Preparer(processes=1)
                print(await preparer.call(0, os.getpid), flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

            if __name__ == "__main__":
                asyncio.run(main())
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == -9, done.stderr
    worker = int(done.stdout.strip())
    deadline = time.monotonic() + 10
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(worker)


def test_shards_read_every_other_chunk_with_spreadsheet_row_numbers(tmp_path) -> None:
    from itertools import count

    from evaluation.imports.reader import ChunkReader

    path = tmp_path / "rows.csv"
    lines = ["number,level,holder_name"] + [f"N{i},senior,持证人{i}" for i in range(7)]
    lines.insert(3, ",,")  # a blank row (row 4) is skipped and not counted
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def shard_chunks(shard: int, shards: int) -> list[list[Any]]:
        """Chunks shard, shard + shards, … until the first empty one (as `chunks.next_chunk`)."""
        reader, found = ChunkReader(path, size=2), []
        for index in count(shard, shards):
            if not (chunk := reader.take(index)):
                break
            found.append(chunk)
        reader.close()
        return found

    def numbers(shard: int, shards: int) -> list[list[int]]:
        return [[n for n, _ in chunk] for chunk in shard_chunks(shard, shards)]

    assert numbers(0, 1) == [[2, 3], [5, 6], [7, 8], [9]]
    assert numbers(0, 2) == [[2, 3], [7, 8]]
    assert numbers(1, 2) == [[5, 6], [9]]
    [first, *_] = shard_chunks(0, 1)[0]
    assert first[1]["number"] == "N0" and first[1]["employer_uscc"] is None


def test_chunks_are_read_by_increasing_index(tmp_path) -> None:
    """A reader passes over the chunks it is not given (counting their rows, blank ones not),
    ends empty past the file's end, and never goes back."""
    from evaluation.imports.reader import ChunkReader

    path = tmp_path / "rows.csv"
    lines = ["number,level"] + [f"N{i},senior" for i in range(7)]
    lines.insert(3, ",")  # row 4, blank
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    chunks = ChunkReader(path, size=2)
    assert [n for n, _ in chunks.take(1)] == [5, 6]
    assert [v["number"] for _, v in chunks.take(2)] == ["N4", "N5"]
    assert [n for n, _ in chunks.take(3)] == [9]
    assert chunks.take(4) == [] and chunks.take(7) == []
    with pytest.raises(ValueError, match="passed already"):
        chunks.take(0)
    chunks.close()


async def test_writer_processes_take_the_next_chunk_when_free() -> None:
    """On PostgreSQL each process first writes the chunk it prepared ahead (k for process k),
    then whichever is free takes the file's next one, so that a slow process takes fewer."""
    from evaluation.imports import chunks, worker
    from evaluation.imports.service import ChunkResult

    written: list[tuple[int, int]] = []
    last_chunk = 6

    class Processes:
        shards = 2

        async def call(self, shard: int, function, job_id: str, index: int):
            assert function is chunks.write_chunk and job_id == "job"
            await asyncio.sleep(0.05 if shard == 0 else 0.01)
            if index > last_chunk:
                return None
            written.append((shard, index))
            return ChunkResult(created=1, duplicates=0, error_rows=0)

    await worker._run_writers(Processes(), job_id="job")  # type: ignore[arg-type]
    assert sorted(index for _, index in written) == list(range(last_chunk + 1))
    by_shard = {shard: [i for s, i in written if s == shard] for shard in (0, 1)}
    assert by_shard[0][0] == 0 and by_shard[1][0] == 1
    assert all(a < b for a, b in zip(by_shard[1], by_shard[1][1:], strict=False))
    assert len(by_shard[1]) > len(by_shard[0])


def test_a_chunk_is_read_and_prepared_with_the_collector_paused(tmp_path, monkeypatch) -> None:
    import gc
    from datetime import date

    from evaluation.imports import chunks

    path = tmp_path / "rows.csv"
    path.write_text("number,level\nN1,senior\nN2,senior\nN3,senior\n", encoding="utf-8")
    seen = []

    def prepare(*, rows, **_: object) -> list:
        seen.append((len(rows), gc.isenabled()))
        return rows

    monkeypatch.setattr(chunks, "prepare_chunk", prepare)
    chunks.open_job(
        job_id="gc", csv_path=path, bodies={}, ctx=None, today=date(2026, 1, 1), chunk_rows=2
    )
    while chunks.next_chunk("gc") is not None:
        assert gc.isenabled()
    assert seen == [(2, False), (1, False)] and gc.isenabled()


def test_a_chunk_prepared_ahead_is_the_next_one_handed_out(tmp_path, monkeypatch) -> None:
    """`prepare_ahead` (while the rows are counted) prepares the shard's first chunk once;
    `next_chunk` hands it out first, then reads on; a shard without rows ends the job."""
    from datetime import date

    from evaluation.imports import chunks

    path = tmp_path / "rows.csv"
    path.write_text("number,level\nN1,senior\nN2,senior\n", encoding="utf-8")
    prepared = []

    def prepare(*, rows, **_: object) -> list:
        prepared.append([number for number, _ in rows])
        return rows

    monkeypatch.setattr(chunks, "prepare_chunk", prepare)
    for shard in (0, 1):
        chunks.open_job(
            job_id=f"ahead{shard}",
            csv_path=path,
            bodies={},
            ctx=None,
            today=date(2026, 1, 1),
            chunk_rows=2,
            shard=shard,
            shards=2,
        )
        chunks.prepare_ahead(f"ahead{shard}")
        chunks.prepare_ahead(f"ahead{shard}")  # a second call prepares nothing more
    assert prepared == [[2, 3]]
    assert [n for n, _ in chunks.next_chunk("ahead0")] == [2, 3]
    assert chunks.next_chunk("ahead0") is None and "ahead0" not in chunks._jobs
    assert chunks.next_chunk("ahead1") is None and "ahead1" not in chunks._jobs
    assert prepared == [[2, 3]]


class _DriverError(Exception):
    """Stands in for a driver error with its SQLSTATE, as asyncpg raises them."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(["40P01"], "written"), (["40001", "40P01"], "written"), (["23505"], "raised")],
    ids=["deadlock", "serialization-then-deadlock", "other-error"],
)
async def test_a_chunk_that_loses_a_deadlock_is_written_again(
    env, monkeypatch, failures, expected
) -> None:
    """A worker's chunk transaction that loses a deadlock or serialization conflict is rolled
    back and written again; any other error goes up at once."""
    from evaluation.imports import chunks
    from evaluation.imports.service import ChunkResult

    left = list(failures)
    calls = []

    async def flaky(session, *, chunk, ctx):
        calls.append(chunk)
        if left:
            raise _DriverError(left.pop(0))
        return ChunkResult(created=1, duplicates=0, error_rows=0)

    monkeypatch.setattr(chunks, "store_chunk", flaky)
    chunk = object()
    ctx = env.app.state.evaluation
    if expected == "written":
        result = await chunks._write(env.engine, chunk, ctx)  # type: ignore[arg-type]
        assert result.created == 1 and len(calls) == len(failures) + 1
    else:
        with pytest.raises(_DriverError):
            await chunks._write(env.engine, chunk, ctx)  # type: ignore[arg-type]
        assert len(calls) == 1


def _rows_by_csv_module(path: Path) -> int:
    """The reference count: the csv module, as the rows are read for the import."""
    from evaluation.imports.reader import _blank

    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        return sum(1 for r in reader if not _blank(r))


_PIECES = ["a", "名", ",", " ", "\t", "\u3000", "\x85", "\x0b", "\n", "\r\n", "\r", '"', '""', "é"]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pieces=st.lists(st.sampled_from(_PIECES), max_size=60), bom=st.booleans())
def test_rows_are_counted_as_the_csv_module_reads_them(tmp_path, pieces, bom) -> None:
    """Files without quotes or lone CRs are counted over bytes; every file, counted either way,
    has as many data rows as the csv module reads (blank rows, a BOM, a missing final newline,
    Unicode spaces, quoted line breaks)."""
    from evaluation.imports import reader

    path = tmp_path / "rows.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + "".join(pieces).encode("utf-8"))
    assert reader.count_rows(path) == _rows_by_csv_module(path)


def test_rows_of_a_large_file_are_counted_in_blocks(tmp_path, monkeypatch) -> None:
    from evaluation.imports import reader

    monkeypatch.setattr(reader, "_BLOCK_BYTES", 64)  # lines cross block boundaries
    path = tmp_path / "rows.csv"
    lines = ["number,level"] + [("," if i % 7 == 0 else f"N{i},senior") for i in range(500)]
    path.write_text("\r\n".join(lines), encoding="utf-8")
    assert reader._count_lines(path.open("rb")) == _rows_by_csv_module(path) == 428
    path.write_bytes(b"number\n\xff\xfe\n")
    with pytest.raises(UnicodeDecodeError):
        reader.count_rows(path)


def test_the_byte_count_strips_what_the_csv_reader_strips() -> None:
    from evaluation.imports import reader

    stripped = {chr(b) for b in reader._BLANK_BYTES} | {
        s.decode() for group in reader._BLANK_SEQUENCES.values() for s in group
    }
    whitespace = {chr(c) for c in range(0x110000) if chr(c).isspace()}
    assert stripped == whitespace - {"\n"} | {","}
