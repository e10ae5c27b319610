"""What the platform benchmarks share: starting and stopping the platform on PostgreSQL, its
databases, and reading the machine and the CPU time of its processes from /proc.

The scripts in this folder run as `python bench/<name>.py`, so this module is importable as
`benchkit`.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("training", "evaluation", "finance", "awards", "indicators", "eventlog")


def load_average() -> list[float]:
    """1, 5 and 15-minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> list[tuple[int, int, str, list[bytes]]]:
    """(pid, parent pid, name, argv) of every process (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        found.append((int(entry.name), parent, name, argv))
    return found


def process_pid(platform_pid: int, *words: str) -> int | None:
    """The PID of the platform's child whose command line holds every word (a module, a port)."""
    for pid, parent, _name, argv in _processes():
        if parent == platform_pid and all(word.encode() in argv for word in words):
            return pid
    return None


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process and its live descendants so far (0 if unknown)."""
    if pid is None:
        return 0.0
    table = _processes()
    family, grew = {pid}, True
    while grew:
        more = {p for p, parent, _n, _a in table if parent in family} - family
        family |= more
        grew = bool(more)
    return sum(_own_cpu(p) for p in family)


def postgres_cpu() -> float:
    """CPU seconds of the PostgreSQL server: its live processes, and the backends that have
    exited since it started (counted in the postmaster's reaped-children time)."""
    table = _processes()
    server = {pid for pid, _parent, name, _argv in table if name == "postgres"}
    postmasters = [
        pid for pid, parent, _name, _argv in table if pid in server and parent not in server
    ]
    return sum(_own_cpu(pid) for pid in server) + sum(_reaped_cpu(pid) for pid in postmasters)


def cpu_snapshot(pids: dict[str, int | None]) -> dict[str, float]:
    """CPU seconds so far of each named process (with its children) and of PostgreSQL."""
    return {**{name: cpu_seconds(pid) for name, pid in pids.items()}, "postgres": postgres_cpu()}


def _own_cpu(pid: int) -> float:
    return _stat_seconds(pid, 11, 12)  # utime, stime


def _reaped_cpu(pid: int) -> float:
    """CPU seconds of a process's children that have exited and been waited for."""
    return _stat_seconds(pid, 13, 14)  # cutime, cstime


def _stat_seconds(pid: int, *fields: int) -> float:
    """The sum of clock-tick fields of /proc/PID/stat (counted after the command name), in
    seconds; 0 for a process that is gone."""
    try:
        values = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(values[field]) for field in fields) / CLOCK_TICKS


def dsn(admin_url: str, database: str) -> str:
    """An asyncpg DSN for one database on the server."""
    url = make_url(admin_url).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


async def drop_databases(admin_url: str, prefix: str) -> None:
    """Drop the platform's databases (`<prefix>_<service>`)."""
    conn = await asyncpg.connect(dsn(admin_url, "postgres"))
    try:
        for name in SERVICES:
            await conn.execute(f'DROP DATABASE IF EXISTS "{prefix}_{name}" WITH (FORCE)')
    finally:
        await conn.close()


def start_platform(
    args: argparse.Namespace, *, extra: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    """tools/run_platform.py on PostgreSQL, without demo data, with `extra` options and `env`
    added to the environment; its output goes to a log file. Returns when it is ready."""
    var = Path(args.var)
    var.mkdir(parents=True, exist_ok=True)
    log = var / "bench-platform.log"
    command = [
        sys.executable,
        str(ROOT / "tools" / "run_platform.py"),
        "--var",
        str(var),
        "--port",
        str(args.port),
        "--service-port-base",
        str(args.service_port_base),
        "--postgres",
        args.postgres,
        "--database-prefix",
        args.database_prefix,
        "--no-demo",
        *extra,
    ]
    handle = log.open("wb")
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "Press Ctrl-C" in text:
            return process, log
        if process.poll() is not None:
            raise RuntimeError(f"the platform did not start; see {log}")
        time.sleep(0.5)
    stop_platform(process)
    raise RuntimeError(f"the platform was not ready in time; see {log}")


def stop_platform(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the runner (it stops its children), SIGKILL after 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
