"""Training benchmark: 1,000 concurrent enrolments at a 100-seat class, and a 5,000-record batch.

Run: `uv run python bench/training_enrolment.py` (needs a PostgreSQL server; default
`postgresql://postgres@127.0.0.1:5432/postgres`).

Starts the whole platform with `tools/run_platform.py` on PostgreSQL (its own ports, folder and
database prefix, no demo data), then, through the gateway:

1. a district official registers an institution, which creates a class of 100 seats;
2. 1,000 distinct citizens (synthetic valid ID numbers → development tokens) enrol at once
   (bounded concurrency, default 100 in flight): exactly 100 must get 201, the rest 202
   (waiting list) or 409; the counters are then checked in the training database;
3. the official raises a programme's quota, the institution creates 50 classes of 100 seats and
   enrols 5,000 trainees through the API (timed as a side figure);
4. one 5,000-record completion batch is posted and timed (and replayed with the same
   Idempotency-Key), and the time until the relay has copied its 5,000 events to the log.

Writes bench/results/training_enrolment.json. Stops the platform by PID and drops its databases.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
from benchkit import (  # bench/ is on sys.path when this file runs as a script
    ROOT,
    cpu_seconds,
    drop_databases,
    dsn,
    load_average,
    machine,
    process_pid,
    start_platform,
    stop_platform,
)

RESULTS = ROOT / "bench" / "results" / "training_enrolment.json"
COMPLETION_EVENT = "cn.dinghai.skills.training.completion.recorded.v1"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def synthetic_id(n: int) -> str:
    """A synthetic resident ID number (area 330902) with a valid check character, distinct per n."""
    born = date(1960, 1, 1) + timedelta(days=n // 500)
    body = f"330902{born:%Y%m%d}{n % 500 * 2 + 1:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database-prefix", default="trainingbench")
    parser.add_argument("--var", default="/tmp/training-var")  # noqa: S108 (a scratch folder)
    parser.add_argument("--port", type=int, default=18000, help="gateway port")
    parser.add_argument("--service-port-base", type=int, default=18101)
    parser.add_argument("--citizens", type=int, default=1000)
    parser.add_argument("--seats", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=100, help="requests in flight")
    parser.add_argument("--trainees", type=int, default=5000)
    parser.add_argument("--class-size", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument("--output", default=str(RESULTS), help="`-` prints the JSON instead")
    return parser.parse_args()


class CpuMeter:
    """CPU time used by the training service and the gateway over a phase."""

    def __init__(self, args: argparse.Namespace, platform_pid: int) -> None:
        self.pids = {
            "training": process_pid(
                platform_pid, "training.main:create_app", str(args.service_port_base)
            ),
            "gateway": process_pid(platform_pid, "gateway.main:create_app", str(args.port)),
        }
        self.start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def per_request_ms(self, requests: int) -> dict[str, float]:
        """Milliseconds of CPU per request, per process, since the meter was made."""
        return {
            name: round((cpu_seconds(pid) - self.start[name]) / requests * 1000, 3)
            for name, pid in self.pids.items()
        }


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) in milliseconds, rounded."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))
    return round(ordered[index] * 1000, 1)


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

    async def post(
        self, path: str, *, headers: dict[str, str], body: Any = None, expect: tuple[int, ...] = ()
    ) -> tuple[int, Any, float]:
        started = time.perf_counter()
        async with self.session.post(f"{self.base}{path}", headers=headers, json=body) as response:
            payload = await response.read()
            elapsed = time.perf_counter() - started
            if expect and response.status not in expect:
                raise RuntimeError(f"POST {path}: {response.status} {payload[:300]!r}")
            return response.status, payload, elapsed


async def bounded(limit: int, jobs: list[Any]) -> list[Any]:
    """Run coroutines with at most `limit` in flight."""
    gate = asyncio.Semaphore(limit)

    async def run(job: Any) -> Any:
        async with gate:
            return await job

    return await asyncio.gather(*(run(j) for j in jobs))


async def run_benchmark(args: argparse.Namespace, platform_pid: int) -> dict[str, Any]:
    """Everything after the platform is up."""
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    base = f"http://127.0.0.1:{args.port}"
    api = "/api/training/v1"
    result: dict[str, Any] = {}
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        gw = Gateway(session, base)
        admin = await gw.token("official", "bench-admin", role="district_admin")
        _, body, _ = await gw.post(
            f"{api}/institutions",
            headers=admin,
            body={"name": "定海区基准测试培训学校", "uscc": "52330902MJ00000017"},
            expect=(201, 200),
        )
        institution_id = json.loads(body)["id"]
        institution = await gw.token("institution", institution_id)

        # --- 1. concurrent citizen enrolments at one class --------------------------------
        starts = today + timedelta(days=7)
        _, body, _ = await gw.post(
            f"{api}/classes",
            headers=institution,
            body={
                "domain": "manufacturing",
                "title": "基准测试：焊工（中级）",
                "capacity": args.seats,
                "starts_on": starts.isoformat(),
                "ends_on": (starts + timedelta(days=30)).isoformat(),
                "town": "changguo",
            },
            expect=(201,),
        )
        hot_class = json.loads(body)["id"]
        started = time.perf_counter()
        citizens = await bounded(
            args.concurrency, [gw.token("citizen", synthetic_id(n)) for n in range(args.citizens)]
        )
        tokens_seconds = time.perf_counter() - started
        load_before = load_average()
        meter = CpuMeter(args, platform_pid)
        started = time.perf_counter()
        answers = await bounded(
            args.concurrency,
            [gw.post(f"{api}/classes/{hot_class}/enrolments", headers=h) for h in citizens],
        )
        wall = time.perf_counter() - started
        codes = Counter(status for status, _, _ in answers)
        refusals = Counter(
            json.loads(payload)["type"].rsplit("/", 1)[1]
            for status, payload, _ in answers
            if status == 409
        )
        latencies = [elapsed for _, _, elapsed in answers]
        positions = sorted(
            json.loads(payload)["waiting_position"]
            for status, payload, _ in answers
            if status == 202
        )
        result["concurrent_enrolment"] = {
            "citizens": args.citizens,
            "seats": args.seats,
            "concurrency": args.concurrency,
            "status_counts": {str(k): v for k, v in sorted(codes.items())},
            "refusals": dict(refusals),
            "waiting_positions_are_1_to_n": positions == list(range(1, len(positions) + 1)),
            "wall_seconds": round(wall, 3),
            "requests_per_second": round(args.citizens / wall, 1),
            "latency_ms": {
                "p50": percentile(latencies, 50),
                "p95": percentile(latencies, 95),
                "p99": percentile(latencies, 99),
                "max": round(max(latencies) * 1000, 1),
            },
            "cpu_ms_per_request": meter.per_request_ms(args.citizens),
            "dev_tokens_seconds": round(tokens_seconds, 3),
            "load_average_before": load_before,
            "load_average_after": load_average(),
        }
        conn = await asyncpg.connect(dsn(args.postgres, f"{args.database_prefix}_training"))
        try:
            seats = await conn.fetchval("SELECT seats_taken FROM classes WHERE id = $1", hot_class)
            statuses = dict(
                await conn.fetch(
                    "SELECT status, count(*) FROM enrolments WHERE class_id = $1 GROUP BY status",
                    hot_class,
                )
            )
            used = await conn.fetchval(
                "SELECT used FROM programme_quotas WHERE year = $1 AND domain = 'manufacturing'",
                starts.year,
            )
            result["postgres"] = await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()
        result["concurrent_enrolment"]["database"] = {
            "seats_taken": seats,
            "enrolments_by_status": statuses,
            "manufacturing_quota_used": used,
        }
        exact = (
            codes[201] == args.seats
            and set(codes) <= {201, 202, 409}
            and seats == args.seats
            and statuses.get("enrolled") == args.seats
            and used == args.seats
        )
        result["concurrent_enrolment"]["exactly_capacity_enrolled"] = exact

        # --- 2. seed 5,000 trainees through the API -----------------------------------------
        class_start = today - timedelta(days=20)
        await gw.post(
            f"{api}/programmes/{class_start.year}/digital_economy/quota-adjustments",
            headers=admin,
            body={"quota": args.trainees + 1000, "reason": "基准测试：扩大配额"},
            expect=(201,),
        )
        classes = []
        for n in range(-(-args.trainees // args.class_size)):
            _, body, _ = await gw.post(
                f"{api}/classes",
                headers=institution,
                body={
                    "domain": "digital_economy",
                    "title": f"基准测试：电子商务师 {n + 1}",
                    "capacity": args.class_size,
                    "starts_on": class_start.isoformat(),
                    "ends_on": (today + timedelta(days=10)).isoformat(),
                    "town": ("jintang", "baiquan", "ganlan", "lincheng")[n % 4],
                },
                expect=(201,),
            )
            classes.append(json.loads(body)["id"])
        trainees = [
            (classes[n // args.class_size], synthetic_id(200_000 + n), f"学员{n}")
            for n in range(args.trainees)
        ]
        load_before = load_average()
        meter = CpuMeter(args, platform_pid)
        started = time.perf_counter()
        await bounded(
            args.concurrency,
            [
                gw.post(
                    f"{api}/classes/{class_id}/enrolments",
                    headers=institution,
                    body={"id_number": id_number, "name": name},
                    expect=(201,),
                )
                for class_id, id_number, name in trainees
            ],
        )
        seed_seconds = time.perf_counter() - started
        result["trainee_seeding"] = {
            "trainees": args.trainees,
            "classes": len(classes),
            "via": "POST /api/training/v1/classes/{id}/enrolments (institution), via the gateway",
            "wall_seconds": round(seed_seconds, 2),
            "requests_per_second": round(args.trainees / seed_seconds, 1),
            "cpu_ms_per_request": meter.per_request_ms(args.trainees),
            "load_average_before": load_before,
            "load_average_after": load_average(),
        }

        # --- 3. one 5,000-record completion batch ------------------------------------------
        records = [
            {
                "class_id": class_id,
                "id_number": id_number,
                "name": name,
                "result": "passed" if n % 10 else "failed",
                "hours": 64,
                "completed_on": today.isoformat(),
            }
            for n, (class_id, id_number, name) in enumerate(trainees)
        ]
        payload = {"records": records}
        keyed = {**institution, "Idempotency-Key": f"bench-{int(time.time())}"}
        await asyncio.sleep(2)  # let the seeding's tail settle
        load_before = load_average()
        meter = CpuMeter(args, platform_pid)
        status, body, first_seconds = await gw.post(
            f"{api}/completions/batches", headers=keyed, body=payload, expect=(200,)
        )
        batch_cpu = meter.per_request_ms(1)
        answer = json.loads(body)
        log_started = time.perf_counter()
        _, replay_body, replay_seconds = await gw.post(
            f"{api}/completions/batches", headers=keyed, body=payload, expect=(200,)
        )
        log_conn = await asyncpg.connect(dsn(args.postgres, f"{args.database_prefix}_eventlog"))
        try:
            logged = 0
            while time.perf_counter() - log_started < 120:
                logged = await log_conn.fetchval(
                    "SELECT count(*) FROM event_log WHERE type = $1", COMPLETION_EVENT
                )
                if logged >= answer["accepted"]:
                    break
                await asyncio.sleep(0.1)
            relay_seconds = time.perf_counter() - log_started
        finally:
            await log_conn.close()
        result["completion_batch"] = {
            "records": len(records),
            "request_bytes": len(json.dumps(payload, ensure_ascii=False).encode()),
            "response_bytes": len(body),
            "status": status,
            "accepted": answer["accepted"],
            "rejected": answer["rejected"],
            "first_post_seconds": round(first_seconds, 3),
            "first_post_cpu_ms": batch_cpu,
            "replay_seconds": round(replay_seconds, 3),
            "replay_identical": replay_body == body,
            "events_in_log": logged,
            "seconds_until_events_in_log_after_response": round(relay_seconds + replay_seconds, 2),
            "goal_seconds": 2.0,
            "goal_met": first_seconds < 2.0 and answer["accepted"] == len(records),
            "load_average_before": load_before,
            "load_average_after": load_average(),
        }
    return result


def main() -> int:
    """Start, measure, stop, clean up, write the results."""
    args = parse_args()
    asyncio.run(drop_databases(args.postgres, args.database_prefix))
    process, log = start_platform(args)
    try:
        figures = asyncio.run(run_benchmark(args, process.pid))
    finally:
        stop_platform(process)
        if not args.keep:
            asyncio.run(drop_databases(args.postgres, args.database_prefix))
    document = {
        "benchmark": "training_enrolment",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "uv run python bench/training_enrolment.py",
        "platform": "run_platform.py --postgres: 1 uvicorn worker per service, embedded relays",
        "machine": machine(),
        **figures,
    }
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if args.output == "-":
        print(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(text)
        print(f"written to {args.output}; platform log: {log}")
    ok = figures["concurrent_enrolment"]["exactly_capacity_enrolled"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
