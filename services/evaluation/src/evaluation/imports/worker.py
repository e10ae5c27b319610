"""Running an import job as a background task of the web process (asyncio).

The job's state lives in the database: progress after every chunk (each chunk is one
transaction), a heartbeat, and the final status. A job whose process stops mid-way is recorded
as `interrupted` (on shutdown right away; after a crash once its heartbeat is stale), and the
uploaded file is deleted: the official uploads it again and the rows already imported count as
duplicates. The rows' CPU work (checks, keys, encryption) runs in worker processes
(`evaluation.imports.chunks`); on PostgreSQL they write their chunks too, otherwise this task
writes the prepared chunks in file order (ADR 0006). A job queue consumer could run
`run_import` instead of the web process: it needs only a sessionmaker, the service context and a
`Preparer`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import is_postgres_url, unit_of_work
from common.eventlog.outbox import wake_relay
from evaluation.context import EvaluationContext
from evaluation.exceptions import UnsupportedUpload
from evaluation.imports import chunks, reader
from evaluation.imports.service import registered_bodies, set_job, store_chunk
from evaluation.rules import BodyState

logger = logging.getLogger("evaluation.imports")
PREFETCH_PER_SHARD = 2  # chunks asked for ahead from each shard while one is written


async def run_import(
    *,
    job_id: str,
    upload: reader.Upload,
    sessionmaker: async_sessionmaker[AsyncSession],
    ctx: EvaluationContext,
    preparer: chunks.Preparer,
    chunk_rows: int,
    max_rows: int,
    database_url: str | None = None,
) -> None:
    """Process every row of the uploaded file, chunk by chunk, then delete the file.

    Given the `database_url` of a PostgreSQL database, worker processes write their chunks
    themselves (`chunks.write_chunk`); otherwise this task writes them.
    """
    writers = database_url if preparer.processes and is_postgres_url(database_url) else None
    csv_path: Path = upload.path
    try:
        async with unit_of_work(sessionmaker) as session:
            await set_job(session, job_id, status="running", started_at=datetime.now(UTC))
        if upload.file_format == "xlsx":
            csv_path = await asyncio.to_thread(reader.xlsx_to_csv, upload.path)
        async with unit_of_work(sessionmaker) as session:
            bodies = await registered_bodies(session)
        await _open_shards(
            preparer,
            job_id=job_id,
            csv_path=csv_path,
            bodies=bodies,
            ctx=ctx,
            chunk_rows=chunk_rows,
            database_url=writers,
        )
        try:
            # The workers prepare their first chunks while the rows are counted; nothing is
            # written before the count is within the limit.
            total, _ = await asyncio.gather(
                asyncio.to_thread(reader.count_rows, csv_path),
                _prepare_ahead(preparer, job_id=job_id),
            )
            if total > max_rows:
                await _finish(
                    sessionmaker, job_id, "failed", f"too_many_rows: {total} > {max_rows}"
                )
                return
            async with unit_of_work(sessionmaker) as session:
                await set_job(session, job_id, total_rows=total)
            if writers:
                await _run_writers(preparer, job_id=job_id)
            else:
                await _write_chunks(preparer, job_id=job_id, sessionmaker=sessionmaker, ctx=ctx)
        finally:
            for shard in range(preparer.shards):
                await asyncio.shield(_close(preparer, shard, job_id))
        await _finish(sessionmaker, job_id, "completed", None)
        logger.info("import completed", extra={"count": total})
    except asyncio.CancelledError:
        await asyncio.shield(_finish(sessionmaker, job_id, "interrupted", "service_stopped"))
        raise
    except UnsupportedUpload:
        await _finish(sessionmaker, job_id, "failed", "unreadable_file")
    except UnicodeDecodeError:
        await _finish(sessionmaker, job_id, "failed", "not_utf8")
    except Exception:
        logger.exception("import failed")
        await _finish(sessionmaker, job_id, "failed", "internal_error")
    finally:
        reader.remove(upload.path, csv_path)


async def _open_shards(
    preparer: chunks.Preparer,
    *,
    job_id: str,
    csv_path: Path,
    bodies: dict[str, BodyState],
    ctx: EvaluationContext,
    chunk_rows: int,
    database_url: str | None,
) -> None:
    """Open the file where each shard of it is read (and written, given `database_url`)."""
    for shard in range(preparer.shards):
        await preparer.call(
            shard,
            chunks.open_job,
            job_id=job_id,
            csv_path=csv_path,
            bodies=bodies,
            ctx=ctx,
            today=ctx.today(),
            chunk_rows=chunk_rows,
            shard=shard,
            shards=preparer.shards,
            database_url=database_url,
        )


async def _prepare_ahead(preparer: chunks.Preparer, *, job_id: str) -> None:
    """Let every shard prepare its first chunk (`chunks.prepare_ahead`)."""
    await asyncio.gather(
        *(preparer.call(shard, chunks.prepare_ahead, job_id) for shard in range(preparer.shards))
    )


async def _run_writers(preparer: chunks.Preparer, *, job_id: str) -> None:
    """Let every worker process prepare and write chunks, all at once, each taking the file's
    next chunk when it is done with one (the first failure stops the others).

    Not every N-th chunk each: then the process with one chunk more wrote it alone at the end,
    one core idle (0.33 s of a 3.1 s import of 23 chunks, measured).
    """
    claims = count(preparer.shards)  # chunk k < N is process k's, prepared ahead

    async def shard_done(shard: int) -> None:
        index = shard
        while await preparer.call(shard, chunks.write_chunk, job_id, index) is not None:
            index = next(claims)

    shards = [asyncio.ensure_future(shard_done(shard)) for shard in range(preparer.shards)]
    try:
        await asyncio.gather(*shards)
    finally:
        for shard in shards:
            shard.cancel()


async def _write_chunks(
    preparer: chunks.Preparer,
    *,
    job_id: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    ctx: EvaluationContext,
) -> None:
    """Write the chunks in file order, one transaction each, while the next ones are prepared
    (chunk k comes from shard k mod shards).

    Each shard has two chunks asked for ahead: with one, a worker that finished its chunk
    early sat idle until the web process had written the chunk before it.
    """
    shards = preparer.shards
    pending = deque(
        asyncio.ensure_future(preparer.call(number % shards, chunks.next_chunk, job_id))
        for number in range(shards * PREFETCH_PER_SHARD)
    )
    try:
        for number in count():
            prepared = await pending.popleft()
            if prepared is None:
                return
            pending.append(
                asyncio.ensure_future(preparer.call(number % shards, chunks.next_chunk, job_id))
            )
            async with unit_of_work(sessionmaker) as session:
                await store_chunk(session, chunk=prepared, ctx=ctx)
    finally:
        for future in pending:
            future.cancel()


async def _close(preparer: chunks.Preparer, shard: int, job_id: str) -> None:
    try:
        await preparer.call(shard, chunks.close_job, job_id)
    except Exception:  # the worker process is gone, and the file with it
        logger.warning("could not close the import file", extra={"job_id": job_id})


async def _finish(
    sessionmaker: async_sessionmaker[AsyncSession], job_id: str, status: str, reason: str | None
) -> None:
    async with unit_of_work(sessionmaker) as session:
        await set_job(
            session, job_id, status=status, failure_reason=reason, finished_at=datetime.now(UTC)
        )
        # The relay held while the job wrote (ADR 0008) goes on as soon as this commits.
        await wake_relay(session)


class ImportTasks:
    """The import tasks running in this process (kept referenced; cancelled on shutdown), and
    where their rows are prepared."""

    def __init__(self, *, processes: int = 2) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self.preparer = chunks.Preparer(processes=processes)

    def start(self, coroutine: object, *, name: str) -> asyncio.Task[None]:
        """Run a job's coroutine in the background."""
        task: asyncio.Task[None] = asyncio.create_task(coroutine, name=name)  # type: ignore[arg-type]
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def wait(self) -> None:
        """Wait for every running job (tests)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def cancel_all(self) -> None:
        """Stop every job; each records itself as interrupted."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*list(self.tasks), return_exceptions=True)
        await asyncio.to_thread(self.preparer.shutdown, wait=True)
