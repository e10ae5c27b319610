"""Evaluation benchmark: import 112,700 certificates (the district's 2026 target) through the API.

Run: `uv run python bench/evaluation_import.py` (needs a PostgreSQL server; default
`postgresql://postgres@127.0.0.1:5432/postgres`).

Starts the whole platform with `tools/run_platform.py` on PostgreSQL (its own ports, folder and
database prefix, no demo data), then:

1. generates a CSV of N synthetic, valid rows (valid ID check characters, 22-character numbers
   whose level digit matches the level, older-format numbers for certificates from before 2019
   and for levels without a digit, towns from the policy data) for M distinct persons, some with
   two certificates; bodies: 20 social bodies (S), 30 employer bodies (Y, enterprise
   self-assessment) and the reserved LEGACY body for the pre-2019 stock;
2. baselines: times the same rows, as plain columns, stored into a scratch table of the
   evaluation database three ways — asyncpg `COPY`, SQLAlchemy Core executemany, ORM `add_all` —
   the three loads the issue gives reference times for (1.2 s, 3 s, 14 s on its machine), so
   that its goal can be scaled to the machine of the run;
3. a district official registers the bodies, then uploads the file through the gateway
   (`POST /api/evaluation/v1/imports`) and polls the job until it is completed (import time);
4. polls `GET /api/indicators/v1/indicators?year=2025` until every event is applied — the
   evaluation outbox is empty (read from its database), `lag_events` is 0 and `skilled_talents`
   equals the number of distinct persons (catch-up time, from the end of the import);
5. imports the same file again (nothing new may be created);
6. times the three reference loads again: the goal is scaled by the mean of the loads before
   and after, since the machine's speed drifts within minutes (`over_scaled_goal`: each phase's
   seconds over each scaled goal).

With `--pause-downstream` the evaluation relay and the indicators consumer are stopped (SIGSTOP)
from the upload until the job has completed, then continued: the import on its own, and the
catch-up of all its events afterwards.

Writes bench/results/evaluation_import.json. Stops the platform by PID and drops its databases.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import signal
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from benchkit import (  # bench/ is on sys.path when this file runs as a script
    ROOT,
    cpu_snapshot,
    drop_databases,
    dsn,
    load_average,
    machine,
    process_pid,
    start_platform,
    stop_platform,
)
from sqlalchemy import BigInteger, Date, Text, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.policy import load_policy_set

RESULTS = ROOT / "bench" / "results" / "evaluation_import.json"
COLUMNS = (
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
)
LEVELS = (  # (code, share of first certificates, number digit)
    ("apprentice", 0.02, None),
    ("junior", 0.24, 5),
    ("intermediate", 0.36, 4),
    ("senior", 0.24, 3),
    ("technician", 0.09, 2),
    ("senior_technician", 0.04, 1),
    ("special_technician", 0.007, None),
    ("chief_technician", 0.003, None),
)
OCCUPATIONS = (
    ("6-04-02-05", "焊工"),
    ("6-18-01-01", "车工"),
    ("4-10-01-05", "养老护理员"),
    ("6-23-03-02", "船体装配工"),
    ("4-03-02-01", "中式烹调师"),
    ("6-31-01-03", "电工"),
)
SOCIAL_MODES = (("social_evaluation", 0.7), ("vocational_qualification", 0.2), ("competition", 0.1))
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华玉兰"


def synthetic_id(n: int) -> str:
    """A synthetic resident ID number (area 330902) with a valid check character, distinct per n
    (n < 2,500,000)."""
    born = date(1960, 1, 1) + timedelta(days=n // 500)
    body = f"330902{born:%Y%m%d}{n % 500 * 2 + 1:03d}"
    check = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True)) % 11
    return body + "10X98765432"[check]


def synthetic_uscc(n: int) -> str:
    """A unified social credit code with a valid check character."""
    body = f"91330902{n:09d}"
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return body + _USCC_ALPHABET[(31 - total % 31) % 31]


def pick(rng: random.Random, weighted: tuple[tuple[Any, float], ...]) -> Any:
    """One value by weight."""
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def generate_rows(rows: int, persons: int, seed: int = 2026) -> tuple[list[tuple[Any, ...]], dict]:
    """`rows` certificate rows for `persons` distinct persons (the rest hold a second, higher
    certificate), and what the indicators should show."""
    rng = random.Random(seed)
    towns = [t["code"] for t in load_policy_set(ROOT / "policy").latest.data["towns"]]
    level_codes = [lv[0] for lv in LEVELS]
    digit = {code: d for code, _, d in LEVELS}
    rank = {code: i for i, code in enumerate(level_codes)}
    highest: dict[int, int] = {}
    out: list[tuple[Any, ...]] = []
    holders = list(range(persons)) + rng.sample(range(persons), rows - persons)
    seen_first: set[int] = set()
    for serial, person in enumerate(holders):
        if person in seen_first:  # a second certificate, one level up, later
            level = level_codes[min(highest[person] + 1, len(level_codes) - 1)]
            issued = date(2024, 1, 1) + timedelta(days=rng.randrange(600))
        else:
            seen_first.add(person)
            level = pick(rng, tuple((code, share) for code, share, _ in LEVELS))
            issued = date(2012, 1, 1) + timedelta(days=rng.randrange(5100))  # 2012 .. 2025-12
        issued = min(issued, date(2025, 12, 31))
        highest[person] = max(highest.get(person, -1), rank[level])
        town = towns[person % len(towns)]
        occupation = OCCUPATIONS[serial % len(OCCUPATIONS)]
        name = SURNAMES[person % len(SURNAMES)] + GIVEN[person % len(GIVEN)]
        if issued.year < 2019:  # older qualification certificates, their body no longer on record
            body, employer, mode = "LEGACY", None, "vocational_qualification"
        elif rng.random() < 0.15:  # an employer's self-assessment
            index = rng.randrange(30)
            body, employer, mode = f"Y{index + 1:04d}", synthetic_uscc(index + 1), None
            mode = "enterprise_assessment"
        else:
            body = f"S{rng.randrange(20) + 1:04d}"
            employer = synthetic_uscc(100 + person % 500) if rng.random() < 0.6 else None
            mode = pick(rng, SOCIAL_MODES)
        if body != "LEGACY" and digit[level] is not None:
            number = f"{body}33000001{issued.year % 100:02d}{digit[level]}{serial:06d}"
        else:
            number = f"09{issued.year % 100:02d}33{serial:010d}"  # an older 16-digit format
        out.append(
            (
                number,
                level,
                occupation[0],
                occupation[1],
                synthetic_id(person),
                name,
                issued,
                employer,
                mode,
                town,
                body,
            )
        )
    high_from = rank["senior"]
    expected = {
        "rows": rows,
        "skilled_talents": persons,
        "high_skilled_talents": sum(1 for r in highest.values() if r >= high_from),
        "enterprise_assessment_rows": sum(1 for r in out if r[8] == "enterprise_assessment"),
        "legacy_rows": sum(1 for r in out if r[10] == "LEGACY"),
    }
    return out, expected


def write_csv(path: Path, rows: list[tuple[Any, ...]]) -> None:
    """The import file: UTF-8, header row."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([v.isoformat() if isinstance(v, date) else (v or "") for v in row])


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database-prefix", default="evalbench")
    parser.add_argument("--var", default="/tmp/eval-var")  # noqa: S108 (a scratch folder)
    parser.add_argument("--port", type=int, default=28000, help="gateway port")
    parser.add_argument("--service-port-base", type=int, default=28101)
    parser.add_argument("--rows", type=int, default=112_700)
    parser.add_argument("--persons", type=int, default=110_000)
    parser.add_argument("--catch-up-timeout", type=float, default=600.0, help="seconds")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the platform, e.g. DINGHAI_RELAY_BATCH_SIZE=2000",
    )
    parser.add_argument(
        "--workers",
        choices=("processes", "embedded"),
        default="processes",
        help="relays and consumer as processes of their own, as deployed (default), or as "
        "background tasks of the services",
    )
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=0,
        metavar="N",
        help="nice level of the relay and consumer processes (run_platform --worker-nice)",
    )
    parser.add_argument(
        "--pause-downstream",
        action="store_true",
        help="stop the evaluation relay and the indicators consumer (SIGSTOP) while the import "
        "runs: the import on its own, and the whole catch-up after it",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument("--output", default=str(RESULTS), help="`-` prints the JSON instead")
    args = parser.parse_args()
    if args.pause_downstream and args.workers != "processes":
        parser.error("--pause-downstream needs --workers processes")
    return args


SCRATCH_DDL = (
    "CREATE TABLE bench_baseline_scratch (id bigserial PRIMARY KEY, number text, level text, "
    "occupation_code text, occupation_name text, holder_id_number text, holder_name text, "
    "issued_on date, employer_uscc text, mode text, town text, body_code text)"
)
# The reference figures for these rows on its 2-core machine, in seconds: its goal
# (import < 10 s, catch-up < 10 s more) scales with how fast this run's machine does the same.
REFERENCE_SECONDS = {"copy": 1.2, "core_executemany": 3.0, "orm_add_all": 14.0}


class _ScratchBase(DeclarativeBase):
    pass


class _ScratchRow(_ScratchBase):
    """A plain row of the scratch table, for the ORM baseline."""

    __tablename__ = "bench_baseline_scratch"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text)
    occupation_code: Mapped[str] = mapped_column(Text)
    occupation_name: Mapped[str] = mapped_column(Text)
    holder_id_number: Mapped[str] = mapped_column(Text)
    holder_name: Mapped[str] = mapped_column(Text)
    issued_on: Mapped[date] = mapped_column(Date)
    employer_uscc: Mapped[str | None] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(Text)
    town: Mapped[str] = mapped_column(Text)
    body_code: Mapped[str] = mapped_column(Text)


async def _timed_into_scratch(url: str, load: Any, expected: int) -> float:
    """Seconds `load(engine)` takes to fill a fresh scratch table with `expected` rows."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("DROP TABLE IF EXISTS bench_baseline_scratch")
            await conn.exec_driver_sql(SCRATCH_DDL)
        started = time.perf_counter()
        await load(engine)
        elapsed = time.perf_counter() - started
        async with engine.begin() as conn:
            count = await conn.scalar(text("SELECT count(*) FROM bench_baseline_scratch"))
            await conn.exec_driver_sql("DROP TABLE bench_baseline_scratch")
        if count != expected:
            raise RuntimeError(f"a baseline stored {count} of {expected} rows")
        return elapsed
    finally:
        await engine.dispose()


async def baselines(args: argparse.Namespace, rows: list[tuple[Any, ...]]) -> dict[str, float]:
    """Seconds to store the same rows, as plain columns of a scratch table in the evaluation
    database, three ways: asyncpg COPY, SQLAlchemy Core executemany, ORM `add_all`."""
    url = make_url(args.postgres).set(
        drivername="postgresql+asyncpg", database=f"{args.database_prefix}_evaluation"
    )
    dicts = [dict(zip(COLUMNS, row, strict=True)) for row in rows]

    async def copy(engine: AsyncEngine) -> None:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            await driver.copy_records_to_table(
                "bench_baseline_scratch", records=rows, columns=COLUMNS
            )

    async def core(engine: AsyncEngine) -> None:
        async with engine.begin() as conn:
            await conn.execute(_ScratchRow.__table__.insert(), dicts)

    async def orm(engine: AsyncEngine) -> None:
        async with AsyncSession(engine) as session:
            session.add_all([_ScratchRow(**d) for d in dicts])
            await session.commit()

    loads = {"copy": copy, "core_executemany": core, "orm_add_all": orm}
    return {
        name: round(await _timed_into_scratch(url, load, len(rows)), 2)
        for name, load in loads.items()
    }


def scaled_goal(measured: dict[str, float]) -> dict[str, Any]:
    """The issue's 10-second goal scaled by how this machine did each reference load.

    The references are for the default 112,700 rows; with other `--rows` the measured loads, and
    so the scaled goals, change in proportion.
    """
    factors = {name: measured[name] / REFERENCE_SECONDS[name] for name in REFERENCE_SECONDS}
    return {
        "reference_seconds": REFERENCE_SECONDS,
        "machine_factor": {name: round(f, 2) for name, f in factors.items()},
        "goal_seconds": {name: round(10.0 * f, 2) for name, f in factors.items()},
    }


def over_goal(result: dict[str, Any], *, suffix: str = "") -> dict[str, dict[str, float]]:
    """Import and catch-up seconds over each scaled goal (below 1: met); `suffix` picks the
    figures (`_observed`: as the client's polling saw them)."""
    goals = result["scaled_goal"]["goal_seconds"]
    return {
        phase: {
            name: round(result[f"{phase}_seconds{suffix}"] / goal, 2)
            for name, goal in goals.items()
        }
        for phase in ("import", "catch_up")
    }


async def outbox_backlog(conn: asyncpg.Connection) -> int:
    """Unpublished outbox rows of the evaluation service."""
    return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


async def last_applied_at(args: argparse.Namespace) -> datetime | None:
    """When the indicators consumer committed its latest checkpoint (the transaction that
    applied the last events records it: `consumer_checkpoints.updated_at`)."""
    conn = await asyncpg.connect(dsn(args.postgres, f"{args.database_prefix}_indicators"))
    try:
        moment = await conn.fetchval("SELECT max(updated_at) FROM consumer_checkpoints")
    finally:
        await conn.close()
    return moment if isinstance(moment, datetime) else None


class Gateway:
    """A small aiohttp client for the gateway."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def token(self, kind: str, subject: str, **extra: str) -> dict[str, str]:
        async with self.session.post(
            f"{self.base}/auth/dev/token", json={"kind": kind, "subject": subject, **extra}
        ) as response:
            body = await response.json()
            if response.status != 200:
                raise RuntimeError(f"token refused: {response.status} {body}")
            return {"Authorization": f"Bearer {body['access_token']}"}

    async def request(
        self, method: str, path: str, *, headers: dict[str, str], **kwargs: Any
    ) -> tuple[int, Any]:
        async with self.session.request(
            method, f"{self.base}{path}", headers=headers, **kwargs
        ) as response:
            payload = await response.read()
            try:
                return response.status, json.loads(payload)
            except ValueError:
                return response.status, payload


def _signal_all(pids: list[int], signum: int) -> None:
    """Send a signal to processes this benchmark started (through the platform)."""
    for pid in pids:
        os.kill(pid, signum)


async def run_benchmark(
    args: argparse.Namespace,
    rows: list[tuple[Any, ...]],
    expected: dict[str, int],
    path: Path,
    platform_pid: int,
) -> dict[str, Any]:
    """Register bodies, import through the gateway, wait for the indicators."""
    base = f"http://127.0.0.1:{args.port}"
    api = "/api/evaluation/v1"
    result: dict[str, Any] = {}
    timeout = aiohttp.ClientTimeout(total=300)
    evaluation_db = await asyncpg.connect(dsn(args.postgres, f"{args.database_prefix}_evaluation"))
    pids = {
        "evaluation": process_pid(
            platform_pid, "evaluation.main:create_app", str(args.service_port_base + 1)
        ),
        "indicators": process_pid(
            platform_pid, "indicators.main:create_app", str(args.service_port_base + 4)
        ),
        "gateway": process_pid(platform_pid, "gateway.main:create_app", str(args.port)),
        "evaluation_relay": process_pid(platform_pid, "evaluation", "relay"),
        "indicators_consumer": process_pid(platform_pid, "indicators", "consume"),
        # The other services' relays: idle here, but polling beside the import.
        **{
            f"{name}_relay": process_pid(platform_pid, name, "relay")
            for name in ("training", "finance", "awards")
        },
    }
    paused = [pid for pid in (pids["evaluation_relay"], pids["indicators_consumer"]) if pid]
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            gw = Gateway(session, base)
            admin = await gw.token("official", "bench-admin", role="district_admin")
            bodies: list[tuple[str, str, str | None]] = [
                (f"S{i:04d}", "S", None) for i in range(1, 21)
            ]
            bodies += [(f"Y{i:04d}", "Y", synthetic_uscc(i)) for i in range(1, 31)]
            for code, kind, uscc in bodies:
                body = {"code": code, "type": kind, "name": f"评价机构{code}"}
                if uscc:
                    body["uscc"] = uscc
                status, payload = await gw.request(
                    "POST", f"{api}/bodies", headers=admin, json=body
                )
                if status not in (200, 201):
                    raise RuntimeError(f"body {code}: {status} {payload}")
            cpu_before = cpu_snapshot(pids)
            result["load_average_before_import"] = load_average()
            if args.pause_downstream:
                _signal_all(paused, signal.SIGSTOP)
            started = time.perf_counter()
            started_at = datetime.now(UTC)  # the same clock as the services' timestamps
            with path.open("rb") as handle:
                form = aiohttp.FormData()
                form.add_field("file", handle, filename=path.name, content_type="text/csv")
                status, job = await gw.request("POST", f"{api}/imports", headers=admin, data=form)
            uploaded = time.perf_counter() - started
            if status != 202:
                raise RuntimeError(f"upload refused: {status} {job}")
            while True:
                status, job = await gw.request("GET", f"{api}/imports/{job['id']}", headers=admin)
                if job["status"] not in ("queued", "running"):
                    break
                await asyncio.sleep(0.2)
            imported = time.perf_counter() - started
            if args.pause_downstream:
                _signal_all(paused, signal.SIGCONT)
            cpu_import = {n: round(v - cpu_before[n], 2) for n, v in cpu_snapshot(pids).items()}
            result["load_average_after_import"] = load_average()
            result["job"] = job
            result["import_seconds_observed"] = round(imported, 2)
            result["upload_seconds"] = round(uploaded, 2)
            server_started = datetime.fromisoformat(job["created_at"])
            server_finished = datetime.fromisoformat(job["finished_at"])
            result["import_seconds_server"] = round(
                (server_finished - server_started).total_seconds(), 2
            )
            # Not late by the polling interval: from the upload's start to the job's own end.
            result["import_seconds"] = round((server_finished - started_at).total_seconds(), 2)
            result["import_cpu_seconds"] = cpu_import
            if job["status"] != "completed" or job["created"] != len(rows):
                raise RuntimeError(f"import job ended {job['status']}: {job}")
            # Catch-up: the relay drains the outbox, the indicators consumer applies the log.
            caught_up = time.perf_counter()
            relay_drained: float | None = None
            last: dict[str, Any] = {}
            values: dict[str, Any] = {}
            deadline = caught_up + args.catch_up_timeout
            timeline: list[list[float]] = []
            next_sample = caught_up
            while time.perf_counter() < deadline:
                backlog = await outbox_backlog(evaluation_db) if relay_drained is None else 0
                if relay_drained is None and backlog == 0:
                    relay_drained = time.perf_counter() - caught_up
                status, last = await gw.request(
                    "GET", "/api/indicators/v1/indicators?year=2025", headers={}
                )
                if status == 200 and time.perf_counter() >= next_sample:
                    timeline.append(
                        [round(time.perf_counter() - caught_up, 1), backlog, last["lag_events"]]
                    )
                    next_sample += 5
                if status == 200:
                    values = {i["code"]: i["value"] for i in last["indicators"]}
                    # Every event applied: the outbox is empty, the consumer is at the log's
                    # head, and the count is the expected one.
                    if (
                        relay_drained is not None
                        and last["lag_events"] == 0
                        and values.get("skilled_talents") == expected["skilled_talents"]
                    ):
                        break
                await asyncio.sleep(0.25)
            else:
                result["catch_up_timed_out"] = True
            result["catch_up_seconds_observed"] = round(time.perf_counter() - caught_up, 2)
            # From the job's end until the consumer committed the last events, by their own
            # timestamps (the polling above is late by up to its interval).
            applied_at = await last_applied_at(args)
            result["catch_up_seconds"] = result["catch_up_seconds_observed"]
            if applied_at is not None and not result.get("catch_up_timed_out"):
                caught = applied_at - server_finished
                result["catch_up_seconds"] = round(caught.total_seconds(), 2)
                result["import_to_indicators_seconds"] = round(
                    (applied_at - started_at).total_seconds(), 2
                )
            result["catch_up_timeline"] = {
                "columns": ["seconds", "evaluation_outbox_backlog", "indicators_lag_events"],
                "samples": timeline,
            }
            result["relay_drained_seconds"] = round(relay_drained, 2) if relay_drained else None
            result["import_to_indicators_seconds_observed"] = round(
                time.perf_counter() - started, 2
            )
            result["catch_up_cpu_seconds"] = {
                n: round(v - cpu_before[n] - cpu_import[n], 2)
                for n, v in cpu_snapshot(pids).items()
            }
            result["indicators"] = {
                "lag_events": last.get("lag_events"),
                "skilled_talents": values.get("skilled_talents"),
                "high_skilled_talents": values.get("high_skilled_talents"),
                "self_assessment_rewards": values.get("self_assessment_rewards"),
            }
            status, ledger = await gw.request("GET", f"{api}/rewards?year=2025", headers=admin)
            result["rewards_2025"] = {
                "enterprises": len(ledger["enterprises"]),
                "granted_fen": sum(e["granted_fen"] for e in ledger["enterprises"]),
                "persons": sum(e["persons"] for e in ledger["enterprises"]),
            }
            # Re-importing the same file creates nothing new.
            started = time.perf_counter()
            with path.open("rb") as handle:
                form = aiohttp.FormData()
                form.add_field("file", handle, filename=path.name, content_type="text/csv")
                status, again = await gw.request("POST", f"{api}/imports", headers=admin, data=form)
            while again.get("status") in ("queued", "running"):
                await asyncio.sleep(0.2)
                status, again = await gw.request(
                    "GET", f"{api}/imports/{again['id']}", headers=admin
                )
            result["reimport"] = {
                "seconds": round(time.perf_counter() - started, 2),
                "created": again.get("created"),
                "duplicates": again.get("duplicates"),
                "errors": again.get("errors"),
            }
    finally:
        if args.pause_downstream:  # continued even when the run failed, so that they can stop
            _signal_all(paused, signal.SIGCONT)
        await evaluation_db.close()
    return result


def main() -> int:
    """Generate, baseline, start the platform, measure, write the results, clean up."""
    args = parse_args()
    result: dict[str, Any] = {
        "benchmark": "evaluation_import",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_start": load_average(),
        "configuration": {
            "rows": args.rows,
            "persons": args.persons,
            "platform_env": args.env,
            "database": "PostgreSQL (tools/run_platform.py --postgres)",
            "workers": args.workers,
            "worker_nice": args.worker_nice,
            "downstream_paused_during_import": args.pause_downstream,
        },
    }
    var = Path(args.var)
    var.mkdir(parents=True, exist_ok=True)
    generated = time.perf_counter()
    rows, expected = generate_rows(args.rows, args.persons)
    path = var / "certificates.csv"
    write_csv(path, rows)
    result["expected"] = expected
    result["file_bytes"] = path.stat().st_size
    result["generate_seconds"] = round(time.perf_counter() - generated, 2)
    # Fresh databases: a kept run's certificates would make this one a re-import.
    asyncio.run(drop_databases(args.postgres, args.database_prefix))
    process, _log = start_platform(
        args,
        extra=["--workers", args.workers, "--worker-nice", str(args.worker_nice)],
        env=dict(item.split("=", 1) for item in args.env),
    )
    try:
        before = asyncio.run(baselines(args, rows))
        result["baseline_seconds"] = before
        result.update(asyncio.run(run_benchmark(args, rows, expected, path, process.pid)))
        # The machine's speed drifts within minutes: the goal is scaled by the reference loads
        # timed both before and after the import, not by one side of it alone.
        after = asyncio.run(baselines(args, rows))
        mean = {name: round((before[name] + after[name]) / 2, 2) for name in before}
        result["baseline_seconds_after"] = after
        result["baseline_seconds_mean"] = mean
        result["scaled_goal"] = scaled_goal(mean)
        result["over_scaled_goal"] = over_goal(result)
        result["over_scaled_goal_observed"] = over_goal(result, suffix="_observed")
    finally:
        stop_platform(process)
        if not args.keep:
            asyncio.run(drop_databases(args.postgres, args.database_prefix))
        path.unlink(missing_ok=True)
    result["load_average_end"] = load_average()
    text = json.dumps(result, ensure_ascii=False, indent=2) + "\n"
    if args.output == "-":
        print(text)
    else:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text, encoding="utf-8")
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
