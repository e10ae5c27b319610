"""Where an import's rows are read, checked and encrypted: a worker process, or a thread.

The CPU work of an import (schema and rules per row, HMAC keys, two SM4-GCM encryptions, row and
event tuples: ~50 µs a row) would otherwise hold the web process's interpreter lock for most of
the import, so that the writes and every other request wait for it. A worker process does it in
parallel with the writes. The process keeps each job's open file between calls, so a chunk
crosses the process boundary once, as plain tuples (`Prepared`), never as models or exceptions.

The same functions run in a thread of the web process when no worker process is configured
(`import_worker_process = false`), with the same results.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from evaluation.context import EvaluationContext
from evaluation.imports import reader
from evaluation.imports.service import PreparedChunk, prepare_chunk
from evaluation.rules import BodyState

T = TypeVar("T")


@dataclass
class _Job:
    """One job's open file and what its rows are checked against (lives where rows are read)."""

    rows: Iterator[reader.Row]
    bodies: Mapping[str, BodyState]
    ctx: EvaluationContext
    today: date
    chunk_rows: int


_jobs: dict[str, _Job] = {}  # per process: the worker process, or the web process's threads


def open_job(
    *,
    job_id: str,
    csv_path: Path,
    bodies: Mapping[str, BodyState],
    ctx: EvaluationContext,
    today: date,
    chunk_rows: int,
) -> None:
    """Open a job's file for reading chunk by chunk."""
    _jobs[job_id] = _Job(reader.iter_rows(csv_path), bodies, ctx, today, chunk_rows)


def next_chunk(job_id: str) -> PreparedChunk | None:
    """The job's next chunk, checked and prepared; None (and the file closed) at the end."""
    job = _jobs[job_id]
    rows = reader.take(job.rows, job.chunk_rows)
    if not rows:
        close_job(job_id)
        return None
    return prepare_chunk(job_id=job_id, rows=rows, bodies=job.bodies, ctx=job.ctx, today=job.today)


def close_job(job_id: str) -> None:
    """Forget a job and close its file (no-op if already closed)."""
    job = _jobs.pop(job_id, None)
    if job is not None and hasattr(job.rows, "close"):
        job.rows.close()


def _exit_with(parent: int) -> None:
    """Worker process start: exit when the web process is gone (a killed web process leaves
    its pool workers blocked on their queue, which they hold both ends of, for ever)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class Preparer:
    """Runs the functions above in the worker process (started on first use), or in threads.

    One worker process serves every job of this web process, one call at a time: a job's
    calls must reach the process that holds its file, and a second job's chunks simply queue.
    """

    def __init__(self, *, worker_process: bool) -> None:
        self.worker_process = worker_process
        self._pool: ProcessPoolExecutor | None = None

    @property
    def process_running(self) -> bool:
        """True once the worker process has been started (and not shut down)."""
        return self._pool is not None

    def _executor(self) -> Executor | None:
        if not self.worker_process:
            return None
        if self._pool is None:
            # spawn, not fork: forking a process that runs an event loop and threads is unsafe.
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_exit_with,
                initargs=(os.getpid(),),
            )
        return self._pool

    async def call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Run `function` where the rows are read; a dead worker process is replaced next time."""
        executor = self._executor()
        if executor is None:
            return await asyncio.to_thread(function, *args, **kwargs)
        try:
            return await asyncio.get_running_loop().run_in_executor(
                executor, partial(function, *args, **kwargs)
            )
        except BrokenProcessPool:
            self._pool = None
            raise

    def shutdown(self) -> None:
        """Stop the worker process (queued calls are cancelled)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
