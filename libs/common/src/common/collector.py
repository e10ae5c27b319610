"""Pausing Python's cyclic garbage collector around bulk in-memory work.

Bulk work (an import chunk, a batch of the log) keeps tens of thousands of container objects
alive until it ends. The collector keeps promoting them and runs full collections over the whole
heap meanwhile: a fifth to a quarter of the CPU of an import worker and of the indicators consumer
(measured, bench/history/certificate-import.md). Reference counting frees the objects when the
work ends; a pause only delays collecting cycles (an exception's traceback, say) until the next
collection. The pause is process-wide: other threads and tasks of the process run with it too.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector paused inside; left as the caller had it afterwards."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
