"""Worker processes of a service process: started by `spawn`, ended with their parent."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any


def exit_with(parent: int) -> None:
    """Worker process start: exit when the parent process is gone (a killed parent leaves its
    pool workers blocked on their queue, which they hold both ends of, for ever)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _start(parent: int, initializer: Callable[..., None] | None, args: tuple[Any, ...]) -> None:
    # Ctrl-C reaches the whole process group: the parent stops its workers itself (a worker
    # stopped by it printed a KeyboardInterrupt traceback into the service's log).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with(parent)
    if initializer is not None:
        initializer(*args)


def single_process_pool(
    initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()
) -> ProcessPoolExecutor:
    """A pool of one worker process, started by `spawn` (forking a process that runs an event
    loop and threads is unsafe), which exits with this process and then runs `initializer`."""
    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start,
        initargs=(os.getpid(), initializer, initargs),
    )
