"""Run the whole platform on one machine: `make run` (embedded SQLite) or against PostgreSQL.

Creates the development signing key and JWKS, migrates every database, starts every service
(each with its outbox relay or log consumer as a background task, or with `--workers processes`
beside it as a process of its own, as deployed) and the gateway, loads a little demo data
through the gateway, prints the URLs, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from demo_data import load_all  # tools/ is on sys.path when this file runs as a script
from sqlalchemy.engine import make_url

from common.auth import load_signing_key, public_jwks
from common.eventlog.sql_log import LOG_MIGRATIONS
from common.migrations import upgrade

SERVICES = ("training", "evaluation", "finance", "awards", "indicators")


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--var", default="var", help="folder for SQLite files, keys and logs")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="gateway port")
    parser.add_argument("--service-port-base", type=int, default=8101)
    parser.add_argument(
        "--postgres",
        default="",
        help="admin URL of a PostgreSQL server to use "
        "instead of SQLite (databases <prefix>_<service> are created)",
    )
    parser.add_argument("--database-prefix", default="dinghai")
    parser.add_argument("--no-demo", action="store_true", help="do not load demo data")
    parser.add_argument(
        "--workers",
        choices=("embedded", "processes"),
        default="embedded",
        help="run the outbox relays and the indicators consumer inside the services (embedded) "
        "or as processes of their own, as deployed (`python -m <service> relay|consume`)",
    )
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=0,
        metavar="N",
        help="with --workers processes: run them at this nice level, so that on a shared "
        "machine they yield the CPU to the services (as lower CPU shares would in a cluster)",
    )
    return parser.parse_args()


# The pipeline processes of `--workers processes`: (name, module, command).
WORKERS = (
    *((f"{s}-relay", s, "relay") for s in SERVICES if s != "indicators"),
    ("indicators-consumer", "indicators", "consume"),
)


def database_urls(args: argparse.Namespace, var: Path) -> dict[str, str]:
    """SQLAlchemy URLs of every database (five services and the event log)."""
    names = (*SERVICES, "eventlog")
    if not args.postgres:
        return {n: f"sqlite+aiosqlite:///{(var / f'{n}.db').resolve()}" for n in names}
    base = make_url(args.postgres).set(drivername="postgresql+asyncpg")
    return {
        n: base.set(database=f"{args.database_prefix}_{n}").render_as_string(hide_password=False)
        for n in names
    }


async def create_postgres_databases(admin_url: str, urls: dict[str, str]) -> None:
    """Create missing PostgreSQL databases."""
    import asyncpg

    dsn = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
        for url in urls.values():
            name = make_url(url).database
            if name not in existing:
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def migrate(urls: dict[str, str]) -> None:
    """Bring every database to the head of its migration history."""
    await upgrade(urls["eventlog"], LOG_MIGRATIONS)
    for service in SERVICES:
        await upgrade(urls[service], f"{service}:migrations")


def prepare_keys(var: Path) -> tuple[Path, Path]:
    """The gateway's development signing key and the JWKS every service verifies with."""
    key_path = var / "dev-signing-key.json"
    jwks_path = var / "dev-jwks.json"
    jwks_path.write_text(json.dumps(public_jwks([load_signing_key(key_path)])))
    return key_path, jwks_path


def environment(
    args: argparse.Namespace, urls: dict[str, str], key_path: Path, jwks_path: Path
) -> dict[str, str]:
    """Environment shared by every process."""
    env = dict(os.environ)
    env.update(
        {
            "DINGHAI_ENVIRONMENT": env.get("DINGHAI_ENVIRONMENT", "development"),
            "DINGHAI_EMBEDDED_WORKERS": "true" if args.workers == "embedded" else "false",
            "DINGHAI_EVENTLOG_URL": urls["eventlog"],
            "DINGHAI_AUTH_JWKS_PATH": str(jwks_path.resolve()),
            "DINGHAI_POLICY_DIR": str(Path("policy").resolve()),
            "GATEWAY_SIGNING_KEY_PATH": str(key_path.resolve()),
        }
    )
    for index, service in enumerate(SERVICES):
        env[f"{service.upper()}_DATABASE_URL"] = urls[service]
        env[f"GATEWAY_{service.upper()}_URL"] = (
            f"http://{args.host}:{args.service_port_base + index}"
        )
    return env


def start(
    module: str, *, host: str, port: int, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """One uvicorn process; its output goes to a log file."""
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        f"{module}:create_app",
        "--factory",
        "--host",
        host,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    handle = log.open("ab")
    return subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)


def start_worker(
    module: str, command: str, *, env: dict[str, str], log: Path, nice: int = 0
) -> subprocess.Popen[bytes]:
    """One relay or consumer process; its output goes to a log file."""
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", module, command],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        preexec_fn=(lambda: os.nice(nice)) if nice else None,  # no threads here: fork-safe
    )


def wait_ready(
    urls: dict[str, str], processes: dict[str, subprocess.Popen[bytes]], timeout: float = 60
) -> None:
    """Wait until every process answers its readiness probe."""
    deadline = time.monotonic() + timeout
    pending = dict(urls)
    while pending:
        for name, url in list(pending.items()):
            if processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited during start-up; see its log")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    del pending[name]
            except httpx.HTTPError:
                pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"not ready in time: {', '.join(pending)}")
        time.sleep(0.2)


def stop_all(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM every child, then SIGKILL what is still running after ten seconds."""
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 10
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> int:
    """Set up, start, wait for a signal, stop."""
    args = parse_args()
    var = Path(args.var)
    (var / "logs").mkdir(parents=True, exist_ok=True)
    urls = database_urls(args, var)
    if args.postgres:
        asyncio.run(create_postgres_databases(args.postgres, urls))
    asyncio.run(migrate(urls))
    key_path, jwks_path = prepare_keys(var)
    env = environment(args, urls, key_path, jwks_path)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    ready: dict[str, str] = {}
    stopping = {"signal": False}

    def on_signal(_signum: int, _frame: object) -> None:
        stopping["signal"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for index, service in enumerate(SERVICES):
            port = args.service_port_base + index
            processes[service] = start(
                f"{service}.main",
                host=args.host,
                port=port,
                env=env,
                log=var / "logs" / f"{service}.log",
            )
            ready[service] = f"http://{args.host}:{port}/readyz"
        processes["gateway"] = start(
            "gateway.main",
            host=args.host,
            port=args.port,
            env=env,
            log=var / "logs" / "gateway.log",
        )
        gateway = f"http://{args.host}:{args.port}"
        ready["gateway"] = f"{gateway}/readyz"
        if args.workers == "processes":
            for name, module, command in WORKERS:
                processes[name] = start_worker(
                    module,
                    command,
                    env=env,
                    log=var / "logs" / f"{name}.log",
                    nice=args.worker_nice,
                )
        wait_ready(ready, processes)
        demo = {} if args.no_demo else load_all(gateway)
        storage = "PostgreSQL" if args.postgres else f"SQLite in {var}"
        print(f"Dinghai skills platform is running ({storage}).")
        print(
            f"  gateway     {gateway}   (API docs {gateway}/docs, OpenAPI {gateway}/openapi.json)"
        )
        print(f"  indicators  {gateway}/api/indicators/v1/indicators?year=2025")
        print(f"  dashboard   {gateway}/dashboard/   (指标晾晒, for officials)")
        for index, service in enumerate(SERVICES):
            print(f"  {service:<11} http://{args.host}:{args.service_port_base + index}")
        loaded = ", ".join(f"{n} {name}" for name, n in demo.items()) or "none"
        print(f"  demo data   {loaded}; logs in {var / 'logs'}")
        print("Press Ctrl-C to stop.", flush=True)
        while not stopping["signal"]:
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}; stopping.", flush=True)
                    stopping["signal"] = True
            time.sleep(0.5)
        return 0
    except RuntimeError as exc:
        print(f"start-up failed: {exc}", file=sys.stderr)
        return 1
    finally:
        stop_all(processes)
        print("stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
