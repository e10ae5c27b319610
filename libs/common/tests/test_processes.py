"""Worker processes: started by `spawn`, deaf to Ctrl-C (their parent stops them), initialised."""

from __future__ import annotations

import signal

from common.processes import single_process_pool


def test_a_worker_ignores_ctrl_c_and_runs_its_initializer() -> None:
    pool = single_process_pool(signal.signal, (signal.SIGUSR1, signal.SIG_IGN))
    try:
        assert pool.submit(signal.getsignal, signal.SIGINT).result(timeout=60) == signal.SIG_IGN
        assert pool.submit(signal.getsignal, signal.SIGUSR1).result(timeout=60) == signal.SIG_IGN
    finally:
        pool.shutdown()
