"""Gateway hop benchmark: a service endpoint measured directly and through the gateway, with wrk.

Run: `uv run python bench/gateway_hop.py` (needs wrk: `apt-get install -y wrk`).
Starts the upstream (bench/apps/upstream.py) and the gateway as uvicorn subprocesses (1 worker,
uvloop, httptools, no access log), runs direct and gateway rounds interleaved, and writes
bench/results/gateway_hop.json. Every process it starts is stopped by PID, even on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "gateway_hop.json"
UPSTREAM_APP = "bench.apps.upstream:app"
GATEWAY_APP = "gateway.main:create_app"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The figures of shared/research/perf-baseline.md (same kind of machine, 2026-11-27, c=16).
BASELINE = {
    "fastapi_endpoint_direct_rps": 5250,
    "fastapi_gateway_shared_httpx_rps": 460,
    "fastapi_gateway_aiohttp_session_rps": 2070,
    "note": "perf-baseline.md: wrk -t2, 10 s, c=16, medians of 3; compare ratios, not absolutes",
}


@dataclass
class Server:
    """A uvicorn subprocess."""

    name: str
    process: subprocess.Popen[bytes]
    port: int

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(*, name: str, app: str, factory: bool, env: dict[str, str], log: Path) -> Server:
    """Start one uvicorn worker and wait until its /healthz answers."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ] + (["--factory"] if factory else [])
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(name=name, process=process, port=port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited early; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{name} did not become healthy; see {log}")


def stop(server: Server) -> None:
    """Stop a server by its PID: SIGTERM, then SIGKILL after 10 s."""
    if server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait()


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(
    *, url: str, connections: int, threads: int, seconds: int, server: Server, also: Server | None
) -> dict[str, float]:
    """One wrk run: req/s, p99 and the CPU time per request of the server(s) measured."""
    cpu_before = server.cpu_seconds()
    also_before = also.cpu_seconds() if also else 0.0
    out = subprocess.run(
        ["wrk", "--latency", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    cpu = server.cpu_seconds() - cpu_before
    also_cpu = (also.cpu_seconds() - also_before) if also else 0.0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if errors or socket_errors:
        print(f"  warning: {url}: {errors.group(0) if errors else socket_errors.group(0)}")  # type: ignore[union-attr]
    result = {
        "rps": rps,
        "p99_ms": _ms(p99.group(1), p99.group(2)) if p99 else float("nan"),
        "cpu_us_per_request": round(cpu / max(total, 1) * 1e6, 1),
    }
    if also is not None:
        result["upstream_cpu_us_per_request"] = round(also_cpu / max(total, 1) * 1e6, 1)
    return result


def summarise(runs: list[dict[str, float]]) -> dict[str, Any]:
    """Medians over rounds, plus the raw rounds."""
    keys = runs[0].keys()
    return {
        **{f"median_{k}": round(statistics.median(r[k] for r in runs), 2) for k in keys},
        "rounds": runs,
    }


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "wrk": wrk_version.splitlines()[0] if wrk_version else "",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def wait_for_quiet(max_load: float) -> None:
    """Wait until the 1-minute load average is below `max_load` (others share this machine)."""
    if max_load <= 0:
        return
    deadline = time.monotonic() + 600
    while os.getloadavg()[0] >= max_load and time.monotonic() < deadline:
        print(f"waiting for load < {max_load} (now {os.getloadavg()[0]:.2f})")
        time.sleep(15)


def parse_args() -> argparse.Namespace:
    """Command-line options (the defaults are the recorded configuration)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--gateway-app",
        default=GATEWAY_APP,
        help="factory of the app under test (variants: bench/apps/proxy_variants.py)",
    )
    parser.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the gateway, e.g. GATEWAY_LOG_LEVEL=WARNING",
    )
    parser.add_argument(
        "--max-load",
        type=float,
        default=0.0,
        help="on a shared machine: first wait (up to 10 min) for the 1-minute load average "
        "to fall below this (0 = do not wait)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS,
        help="where to write the JSON results ('-' for stdout only)",
    )
    return parser.parse_args()


def main() -> int:
    """Start both servers, measure interleaved, write the results, stop the servers."""
    args = parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: run `apt-get install -y wrk` (Debian package) and retry.")
        return 2
    wait_for_quiet(args.max_load)
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    servers: list[Server] = []
    workdir = Path(tempfile.mkdtemp(prefix="gateway-hop-"))
    try:
        upstream = start(
            name="upstream", app=UPSTREAM_APP, factory=False, env={}, log=workdir / "upstream.log"
        )
        servers.append(upstream)
        gateway_env = {
            "GATEWAY_TRAINING_URL": f"http://127.0.0.1:{upstream.port}",
            "GATEWAY_SIGNING_KEY_PATH": str(workdir / "signing-key.json"),
            "GATEWAY_AUTH_JWKS_PATH": str(workdir / "jwks.json"),
            **dict(item.split("=", 1) for item in args.gateway_env),
        }
        gateway = start(
            name="gateway",
            app=args.gateway_app,
            factory=True,
            env=gateway_env,
            log=workdir / "gateway.log",
        )
        servers.append(gateway)
        direct_url = f"http://127.0.0.1:{upstream.port}/healthz"
        gateway_url = f"http://127.0.0.1:{gateway.port}/api/training/healthz"
        for url in (direct_url, gateway_url):  # warm-up
            run_wrk(
                url=url, connections=16, threads=args.threads, seconds=1, server=upstream, also=None
            )
        figures: dict[str, Any] = {}
        for connections in args.connections:
            direct: list[dict[str, float]] = []
            through: list[dict[str, float]] = []
            for round_no in range(1, args.rounds + 1):
                direct.append(
                    run_wrk(
                        url=direct_url,
                        connections=connections,
                        threads=args.threads,
                        seconds=args.seconds,
                        server=upstream,
                        also=None,
                    )
                )
                through.append(
                    run_wrk(
                        url=gateway_url,
                        connections=connections,
                        threads=args.threads,
                        seconds=args.seconds,
                        server=gateway,
                        also=upstream,
                    )
                )
                print(
                    f"c={connections} round {round_no}: direct {direct[-1]['rps']:.0f} req/s, "
                    f"gateway {through[-1]['rps']:.0f} req/s"
                )
            d, g = summarise(direct), summarise(through)
            ratio = round(g["median_rps"] / d["median_rps"], 3)
            pair_ratios = [
                round(b["rps"] / a["rps"], 3) for a, b in zip(direct, through, strict=True)
            ]
            figures[f"c{connections}"] = {
                "direct": d,
                "gateway": g,
                "ratio": ratio,
                "round_ratios": pair_ratios,
            }
            print(
                f"c={connections}: direct {d['median_rps']:.0f} req/s "
                f"(p99 {d['median_p99_ms']} ms), gateway {g['median_rps']:.0f} req/s "
                f"(p99 {g['median_p99_ms']} ms, {g['median_cpu_us_per_request']} µs CPU/req), "
                f"ratio {ratio}"
            )
        result = {
            "benchmark": "gateway_hop",
            "what": "GET /healthz (FastAPI, small pydantic model) direct vs via "
            "/api/training/healthz on the gateway",
            "config": {
                "rounds": args.rounds,
                "seconds": args.seconds,
                "connections": args.connections,
                "wrk_threads": args.threads,
                "gateway_app": args.gateway_app,
                "gateway_env": args.gateway_env,
                "server": "uvicorn, 1 worker, uvloop, httptools, no access log",
            },
            "figures": figures,
            "ratio": {k: v["ratio"] for k, v in figures.items()},
            "goal": "ratio >= 0.5",
            "baseline": BASELINE,
            "machine": {**machine(), "load_average_at_start": load_at_start},
        }
        if str(args.output) != "-":
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(result, indent=2) + "\n")
            print(f"wrote {args.output}")
        else:
            print(json.dumps(result, indent=2))
        return 0
    finally:
        for server in reversed(servers):
            stop(server)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
