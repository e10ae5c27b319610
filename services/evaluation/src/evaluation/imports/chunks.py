"""Where an import's rows are read, checked and encrypted: a worker process, or a thread.

The CPU work of an import (schema and rules per row, HMAC keys, an SM4-GCM encryption, row and
event tuples: ~35 µs a row) would otherwise hold the web process's interpreter lock for most of
the import, so that the writes and every other request wait for it. A worker process does it in
parallel with the writes. The process keeps each job's open file between calls; a chunk that the
web process writes crosses the process boundary once, as plain tuples (`Prepared`), never as
models or exceptions.

Two processes by default (`import_processes`), so that on two cores the import is not bound to
one. On PostgreSQL each process also writes the chunks it prepares, one transaction each, over
a connection of its own (`write_chunk`), taking the file's next chunk whenever it is done with
one: a single writer in the web process was the import's bottleneck (~0.65 s a 5,000-row chunk
while the workers waited for it, measured). Rows are inserted in number order and
enterprise-years locked in sorted order, so two writers that meet the same keys wait on each
other in one order only; a chunk whose transaction still loses a deadlock or serialization
conflict is written again (ADR 0006). On SQLite (one writer at a time anyway) the processes only
prepare, every N-th chunk each (`next_chunk`), and the web process writes the chunks in file
order. With `import_processes = 0` the same functions run in a thread of the web process, with
the same results.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date
from functools import partial
from itertools import count
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from common.collector import collector_paused
from common.db import make_engine, make_sessionmaker, unit_of_work
from common.processes import single_process_pool
from evaluation.context import EvaluationContext
from evaluation.imports import reader
from evaluation.imports.service import ChunkResult, PreparedChunk, prepare_chunk, store_chunk
from evaluation.rules import BodyState

RETRIES = 3  # a chunk written again after a deadlock or serialization failure
_RETRY_STATES = {"40P01", "40001"}


@dataclass
class _Job:
    """One job's file, its shard, and what its rows are checked against (lives where the rows
    are read)."""

    chunks: reader.ChunkReader
    shard: Iterator[int]  # the indexes of the shard's chunks: shard, shard + N, …
    bodies: Mapping[str, BodyState]
    ctx: EvaluationContext
    today: date
    engine: AsyncEngine | None = None  # where this process writes the job's chunks
    # (index, chunk) prepared before the job was cleared to write
    ahead: tuple[int, PreparedChunk | None] | None = None


logger = logging.getLogger("evaluation.imports")
_jobs: dict[str, _Job] = {}  # per process: a worker process, or the web process's threads


def open_job(
    *,
    job_id: str,
    csv_path: Path,
    bodies: Mapping[str, BodyState],
    ctx: EvaluationContext,
    today: date,
    chunk_rows: int,
    shard: int = 0,
    shards: int = 1,
    database_url: str | None = None,
) -> None:
    """Open a job's file for reading chunk by chunk: shard k of N is chunks k, k + N, … for
    `next_chunk` (given `database_url`, the database this process writes chunks to)."""
    chunks = reader.ChunkReader(csv_path, size=chunk_rows)
    engine = make_engine(database_url, pool_size=1) if database_url else None
    _jobs[job_id] = _Job(chunks, count(shard, shards), bodies, ctx, today, engine)


def prepare_ahead(job_id: str) -> None:
    """Prepare the shard's first chunk and keep it for the call that asks for it.

    The web process counts the file's rows before anything is written (a file over the row
    limit is refused whole, ~0.2 s for 100,000 rows on one core); meanwhile the worker
    processes prepare their first chunks, CPU work only, instead of waiting.
    """
    job = _jobs[job_id]
    if job.ahead is None:
        index = next(job.shard)
        job.ahead = (index, _prepare(job_id, job, index))


def next_chunk(job_id: str) -> PreparedChunk | None:
    """The shard's next chunk, checked and prepared; None (and the file closed) at the end."""
    job = _jobs[job_id]
    return _taken(job_id, job, job.ahead[0] if job.ahead else next(job.shard))


def _taken(job_id: str, job: _Job, index: int) -> PreparedChunk | None:
    """Chunk `index`, prepared (or the one prepared ahead, if it is that one); None (and the
    file closed) past the end of the file."""
    if job.ahead is not None and job.ahead[0] == index:
        prepared, job.ahead = job.ahead[1], None
    else:
        prepared = _prepare(job_id, job, index)
    if prepared is None:
        close_job(job_id)
    return prepared


def _prepare(job_id: str, job: _Job, index: int) -> PreparedChunk | None:
    """Read and prepare chunk `index` (None past the end of the file).

    With the cyclic collector paused: a chunk's rows, models and tuples stay alive until it is
    written, and collections over them cost a fifth of the preparation (51 -> 41 µs a row,
    measured over a two-shard read of 40,000 rows).
    """
    with collector_paused():
        rows = job.chunks.take(index)
        if not rows:
            return None
        return prepare_chunk(
            job_id=job_id, rows=rows, bodies=job.bodies, ctx=job.ctx, today=job.today
        )


def write_chunk(job_id: str, index: int) -> ChunkResult | None:
    """Prepare chunk `index` and write it in a transaction of its own; None (and the file
    closed) past the end of the file. Each process is given increasing indexes."""
    job = _jobs[job_id]
    assert job.engine is not None, "the job was opened without a database"
    # As in `next_chunk` (in the web process's import thread, its requests share the pause).
    with collector_paused():
        prepared = _taken(job_id, job, index)
        if prepared is None:
            return None
        result = _loop().run_until_complete(_write(job.engine, prepared, job.ctx))
        # Freed before the collector resumes: alive then, the chunk's objects would be the
        # young generation its first collection walks (0.10 instead of 0.03 s of collections in
        # a single-process write of 112,700 rows, ~2 % of its CPU, measured).
        del prepared
        return result


async def _write(
    engine: AsyncEngine, prepared: PreparedChunk, ctx: EvaluationContext
) -> ChunkResult:
    sessionmaker = make_sessionmaker(engine)
    for attempt in range(RETRIES + 1):
        try:
            async with unit_of_work(sessionmaker) as session:
                return await store_chunk(session, chunk=prepared, ctx=ctx)
        except Exception as exc:
            if attempt == RETRIES or _sqlstate(exc) not in _RETRY_STATES:
                raise
            logger.warning("import chunk written again", extra={"attempt": attempt + 1})
    raise AssertionError("unreachable")


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error, raised directly or wrapped by SQLAlchemy."""
    for candidate in (exc, getattr(exc, "orig", None), exc.__cause__):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


_event_loop: asyncio.AbstractEventLoop | None = None


def _loop() -> asyncio.AbstractEventLoop:
    """This worker process's event loop (its connections belong to it), made on first use."""
    global _event_loop
    if _event_loop is None:
        _event_loop = asyncio.new_event_loop()
    return _event_loop


def close_job(job_id: str) -> None:
    """Forget a job, close its file and its connections (no-op if already closed)."""
    job = _jobs.pop(job_id, None)
    if job is not None:
        job.chunks.close()
        if job.engine is not None:
            _loop().run_until_complete(job.engine.dispose())


def ready() -> bool:
    """Nothing: calling it makes a fresh worker process import this module (warm-up)."""
    return True


class Preparer:
    """Runs the functions above in worker processes (started on first use), or in threads.

    With N processes, a job's chunks are prepared and written by whichever process is free
    next (PostgreSQL), or read in N shards, chunk k by process k mod N, while the web process
    writes the chunks in file order. Each process is a pool of its own, so a job's
    calls reach the process that holds its shard; a second job's chunks queue behind the first.
    With no processes, one shard is read in one thread of the web process (one, so that
    calls asked for ahead run in order, as they do in a process).
    """

    def __init__(self, *, processes: int) -> None:
        self.processes = processes
        self._pools: list[ProcessPoolExecutor] = []
        self._thread: ThreadPoolExecutor | None = None

    @property
    def shards(self) -> int:
        """How many shards a job's file is read in."""
        return max(1, self.processes)

    @property
    def process_running(self) -> bool:
        """True once the worker processes have been started (and not shut down)."""
        return bool(self._pools)

    def _executor(self, shard: int) -> Executor:
        if not self.processes:
            if self._thread is None:
                self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import")
            return self._thread
        if not self._pools:
            self._pools = [single_process_pool() for _ in range(self.processes)]
        return self._pools[shard]

    async def warm_up(self) -> None:
        """Start the worker processes and let them import what they run (~1.6 s of CPU each),
        so that the first import does not wait for it."""
        if not self.processes:
            return
        try:
            await asyncio.gather(*(self.call(shard, ready) for shard in range(self.processes)))
        except Exception:  # the first import starts them again, and reports what fails
            logger.warning("import worker processes did not start", exc_info=True)

    async def call(self, shard: int, function: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Run `function` where the shard's rows are read; dead workers are replaced next time."""
        executor = self._executor(shard)
        call = partial(function, *args, **kwargs)
        if not self.processes:  # like asyncio.to_thread: the thread sees the task's context
            call = partial(contextvars.copy_context().run, call)
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, call)
        except BrokenProcessPool:
            self.shutdown()
            raise

    def shutdown(self, *, wait: bool = False) -> None:
        """Stop the worker processes (queued calls are cancelled); `wait` until they have
        exited, so that their queues' semaphores are released too."""
        pools: list[Executor] = [*self._pools, *([self._thread] if self._thread else [])]
        self._pools, self._thread = [], None
        for pool in pools:
            pool.shutdown(wait=wait, cancel_futures=True)
