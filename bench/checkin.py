"""Benchmark of the captain's scans (check-in, then check-out) through the web process, on PostgreSQL.

One run, side by side under the same server settings (`flask web` on granian as the web process is
deployed, or with --server gunicorn the same app on gunicorn's sync workers, to compare the two):
  floor     GET /healthz (one SELECT 1 and one Redis PING) at the same concurrency
  peer      bench/peers/checkin_insert.py, its own server: every volunteer checked in with one
            INSERT … ON CONFLICT DO NOTHING (autocommit, durable) and nothing else, into a table of
            its own in the same database: the least a correct design can do on this stack
  check-in  every volunteer scanned once: POST /api/v1/activities/{id}/scans, a fresh personal code
  check-out after the next 30-s code step, every volunteer scanned again with a fresh code

The script makes a throwaway PostgreSQL database (dropped at the end), migrates it, seeds an
activity whose check-in window is open, N approved sign-ups and a captain with the app's own code,
then checks the database afterwards: exactly one check-in, closed, and one attendance record per
volunteer. Targets: >= 650 scans/s, >= 0.5 x the floor's requests/s, p99 < 100 ms, one record each;
ours / peer (check-in scans/s over the peer's) for information.

Run from the repository root:  .venv/bin/python bench/checkin.py [--volunteers 3000] [--json out.json]
See bench/README.md. Exit code: 0 once measured (targets missed or not), 1 if the set-up failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import harness, loadgen  # noqa: E402

TARGETS = {
    "scans_per_second": 650.0,     # check-ins and check-outs answered per second, at least
    "scans_over_healthz": 0.5,     # scans/s / GET /healthz requests/s on the same server, at least
    "p99_ms": 100.0,               # p99 latency of the scans at the default 50 connections, below
}
STEP_SECONDS = 30                  # app.checkin_codes.STEP_SECONDS (not imported before the env is set)
MAX_ERROR_SAMPLES = 3              # per kind of error


# ---------------------------------------------------------------------------------------------
# Database: seed and final check (bench/harness.py makes, migrates and drops it)


@dataclass
class Seed:
    activity_id: int
    captain_token: str
    volunteers: list[tuple[int, str]]  # (volunteer id, check-in secret)
    seconds: float


def seed(n: int) -> Seed:
    """Region tree, organisation, team, captain, an open activity and n signed-up volunteers.

    Uses the app's models and services inside create_app() (the APP_* environment is already set).
    """
    from app import checkin_codes, create_app
    from app.extensions import db
    from app.services import accounts, roles
    from app.timeutil import now_utc
    from models import (Account, Activity, ActivityStatus, Organization, OrganizationStatus, Role, Signup,
                        SignupStatus, Team, TeamKind, Volunteer, VolunteerStatus)

    t0 = time.monotonic()
    app = create_app()
    with app.app_context():
        now = now_utc()
        tag = secrets.token_hex(3).upper()  # the database may be shared (--database-url): unique names
        community = harness.seed_region_chain(f"BC{tag}", "", (1_000_000, 300_000, 50_000, 8_000))[-1]
        org = Organization(name=f"签到基准志愿者协会 {tag}", region_id=community.id,
                           status=OrganizationStatus.APPROVED, approved_at=now, created_at=now)
        db.session.add(org)
        db.session.flush()
        team = Team(organization_id=org.id, name="签到基准服务队", kind=TeamKind.GENERAL, created_at=now)
        captain = Account(mp_openid=f"bench_checkin_{tag}_captain", created_at=now, last_login_at=now)
        db.session.add_all([team, captain])
        db.session.flush()
        roles.grant(captain.id, Role.CAPTAIN, team_id=team.id, now=now)
        activity = Activity(
            organization_id=org.id, team_id=team.id, region_id=community.id, title="社区签到基准活动",
            description="bench/checkin.py", address="基准社区服务站", themes=["社区治理"],
            starts_at=now - timedelta(minutes=10), ends_at=now + timedelta(hours=3), capacity=max(n, 1),
            status=ActivityStatus.PUBLISHED, published_at=now, created_at=now, updated_at=now,
        )
        db.session.add(activity)
        db.session.flush()

        owners = [Account(mp_openid=f"bench_checkin_{tag}_{i}", created_at=now, last_login_at=now) for i in range(n)]
        db.session.add_all(owners)
        db.session.flush()
        people = [Volunteer(account_id=owner.id, real_name=f"志愿者{i}", mobile=f"139{i:08d}",
                            birth_date=datetime(1990, 1, 1).date(), categories=["community"], skills=[],
                            region_id=community.id, status=VolunteerStatus.APPROVED, reviewed_at=now,
                            checkin_secret=checkin_codes.new_secret(), created_at=now, updated_at=now)
                  for i, owner in enumerate(owners)]
        db.session.add_all(people)
        db.session.flush()
        db.session.add_all([Signup(activity_id=activity.id, volunteer_id=v.id, status=SignupStatus.APPROVED,
                                   decided_at=now, created_at=now, updated_at=now) for v in people])
        activity.seats_taken = n
        db.session.commit()
        result = Seed(activity.id, accounts.issue_token(captain.id, app.extensions["settings"]["app"]["secret_key"]),
                      [(v.id, v.checkin_secret) for v in people], 0.0)
        db.session.remove()
        db.engine.dispose()  # no connection of ours left open (the database is dropped at the end)
    result.seconds = time.monotonic() - t0
    return result


def check_database(url: str, activity_id: int, volunteer_ids: list[int]) -> dict[str, Any]:
    """Count what the scans left behind; `pass` is "exactly one closed check-in and one record each"."""
    import psycopg

    n = len(volunteer_ids)
    with psycopg.connect(harness.libpq_url(url), connect_timeout=5) as conn:
        def one(sql: str) -> Any:
            return conn.execute(sql, {"a": activity_id}).fetchone()[0]

        found = {
            "checkins": one("SELECT count(*) FROM checkins WHERE activity_id = %(a)s"),
            "checkins_closed": one("SELECT count(*) FROM checkins WHERE activity_id = %(a)s "
                                   "AND checked_out_at IS NOT NULL"),
            "checkins_distinct_volunteers": one("SELECT count(DISTINCT volunteer_id) FROM checkins "
                                                "WHERE activity_id = %(a)s"),
            "service_records": one("SELECT count(*) FROM service_records WHERE activity_id = %(a)s"),
            "service_records_attendance": one("SELECT count(*) FROM service_records WHERE activity_id = %(a)s "
                                              "AND kind = 'attendance'"),
            "volunteers_with_one_record": one(
                "SELECT count(*) FROM (SELECT volunteer_id FROM service_records WHERE activity_id = %(a)s "
                "GROUP BY volunteer_id HAVING count(*) = 1) s"),
            "volunteers_with_several_records": one(
                "SELECT count(*) FROM (SELECT volunteer_id FROM service_records WHERE activity_id = %(a)s "
                "GROUP BY volunteer_id HAVING count(*) > 1) s"),
            "checkin_scans": one("SELECT count(*) FROM checkin_scans WHERE activity_id = %(a)s"),
            "checkin_scans_pending": one("SELECT count(*) FROM checkin_scans WHERE activity_id = %(a)s "
                                         "AND result = 'pending'"),
            # The ledger totals move with the records (app.services.service_records._add_to_totals).
            "volunteer_totals_one_record": one(
                "SELECT count(*) FROM volunteers v JOIN signups s ON s.volunteer_id = v.id "
                "WHERE s.activity_id = %(a)s AND v.service_record_count = 1"),
        }
    expected = {
        "checkins": n, "checkins_closed": n, "checkins_distinct_volunteers": n, "service_records": n,
        "service_records_attendance": n, "volunteers_with_one_record": n, "volunteers_with_several_records": 0,
        "checkin_scans": 2 * n, "checkin_scans_pending": 0, "volunteer_totals_one_record": n,
    }
    mismatches = {k: {"found": found[k], "expected": v} for k, v in expected.items() if found[k] != v}
    return {"found": found, "expected": expected, "mismatches": mismatches, "pass": not mismatches}


def check_peer_database(url: str, activity_id: int, n: int) -> dict[str, Any]:
    """The peer's rows for this activity: one per volunteer."""
    import psycopg

    with psycopg.connect(harness.libpq_url(url), connect_timeout=5) as conn:
        rows, distinct = conn.execute("SELECT count(*), count(DISTINCT volunteer_id) FROM bench_peer_checkins "
                                      "WHERE activity_id = %(a)s", {"a": activity_id}).fetchone()
    return {"rows": rows, "distinct_volunteers": distinct, "expected": n, "pass": rows == distinct == n}


def create_peer_table(url: str) -> None:
    import psycopg

    from bench.peers.checkin_insert import TABLE_DDL

    with psycopg.connect(harness.libpq_url(url), connect_timeout=5, autocommit=True) as conn:
        conn.execute(TABLE_DDL)


# ---------------------------------------------------------------------------------------------
# gunicorn


def wait_healthy(server: harness.Proc) -> None:
    """Wait until GET /healthz answers ok; raise SetupError otherwise."""
    harness.wait_ready(server, lambda: harness.check_answer(server.port, "GET", "/healthz", [b'"ok"']))


def wait_peer_ready(server: harness.Proc) -> None:
    """Wait until the peer answers a scan (activity 0, volunteer 0: not counted); SetupError otherwise."""
    body = json.dumps({"code": "V0-00000000", "nonce": "probe"}).encode()
    harness.wait_ready(server, lambda: harness.check_answer(server.port, "POST", "/peer/activities/0/scans",
                                                            [b"checked_in"], body,
                                                            {"Content-Type": "application/json"}))


class Profiler:
    """py-spy attached to every gunicorn worker during a phase (--py-spy): raw folded stacks per worker.

    Sampling costs the workers CPU: figures of a profiled run are not comparable with unprofiled ones.
    """

    def __init__(self, prefix: str | None, rate: int):
        self.prefix, self.rate = prefix, rate
        self.procs: list[Any] = []

    def start(self, server: harness.Proc, phase: str) -> None:
        if not self.prefix:
            return
        import shutil
        import subprocess

        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        for pid in (p for p in server.pids() if p != server.pid):
            out = f"{self.prefix}-{phase}-{pid}.txt"
            self.procs.append(subprocess.Popen([exe, "record", "-r", str(self.rate), "-f", "raw", "--gil",
                                                "--nonblocking", "-p", str(pid), "-o", out],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.5)  # attached before the load starts

    def stop(self) -> None:
        import signal

        for proc in self.procs:
            proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except Exception:  # noqa: BLE001
                proc.kill()
        self.procs = []


class CpuMeter:
    """Server (and each worker), PostgreSQL, Redis and whole-machine CPU between start() and stop(),
    in % of one core."""

    def __init__(self, server: harness.Proc):
        self.server = server
        self.window = harness.CpuWindow(server=server.cpu_seconds, machine=harness.machine_cpu_seconds,
                                        services=harness.service_cpu_seconds)

    def start(self) -> None:
        self.workers0 = harness.pid_cpu_seconds([p for p in self.server.pids() if p != self.server.pid])
        self.window.start()

    def stop(self) -> dict[str, Any]:
        used = self.window.stop()
        workers = harness.pid_cpu_seconds(list(self.workers0))
        percent = self.window.percent(used)
        elapsed = self.window.elapsed
        return {
            "server_cpu_percent": percent["server"],
            "worker_cpu_percent": sorted((100 * (workers[p] - self.workers0[p]) / elapsed
                                          for p in workers), reverse=True),
            "postgres_cpu_percent": percent["postgres"],
            "redis_cpu_percent": percent["redis"],
            "machine_cpu_percent": percent["machine"],
            "cpu_window_seconds": elapsed,
        }


# ---------------------------------------------------------------------------------------------
# Load: a closed-loop asyncio client in its own process (bench/loadgen.py's HTTP/1.1 connection)


@dataclass
class Plan:
    """What the client process does (it is forked, so the plan need not be picklable)."""

    host: str
    port: int
    connections: int
    timeout: float
    kind: str                                  # "healthz": for a duration; "scan": each volunteer once
    warmup: float = 0.0                        # healthz
    duration: float = 0.0                      # healthz
    path: str = ""                             # scan
    token: str = ""                            # scan: the captain's bearer token
    volunteers: list[tuple[int, str]] = field(default_factory=list)  # scan: (id, secret), each scanned once
    expect: str = ""                           # scan: the result a good answer has
    nonce_prefix: str = ""                     # scan: nonce = prefix + volunteer id, unique per run and phase
    start_at: float | None = None              # time.monotonic() at which to start


def _error_kind(status: int, body: bytes) -> str:
    try:
        code = json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = None
    return f"HTTP {status}" + (f" {code}" if code else "")


async def drive(plan: Plan) -> dict[str, Any]:
    from app import checkin_codes

    loop = asyncio.get_running_loop()
    host = f"Host: {plan.host}:{plan.port}\r\n"
    healthz_request = f"GET /healthz HTTP/1.1\r\n{host}\r\n".encode()
    scan_head = (f"POST {plan.path} HTTP/1.1\r\n{host}Authorization: Bearer {plan.token}\r\n"
                 "Content-Type: application/json\r\n")
    expected = b'"status":"ok"' if plan.kind == "healthz" else f'"result":"{plan.expect}"'.encode()

    def good(status: int, body: bytes) -> bool:
        # A byte test, not a JSON parse: the load generator shares the 2 cores with the server.
        return status == 200 and expected in body.replace(b" ", b"")

    def scan_request(volunteer_id: int, secret: str, at: datetime) -> bytes:
        # The code of the 30-s step of `at`, as the volunteer's phone shows it then.
        body = json.dumps({"code": checkin_codes.personal_code(volunteer_id, secret, at),
                           "nonce": f"{plan.nonce_prefix}{volunteer_id}"}).encode()
        return f"{scan_head}Content-Length: {len(body)}\r\n\r\n".encode() + body

    # Every phone shows its code before the captain comes by: the requests of this step are made
    # before the clock starts, so that the load generator's CPU goes to sending. A scan in a later
    # step (a run longer than a step) gets a code of its own step.
    made_at = datetime.now(timezone.utc)
    made_in_step = int(made_at.timestamp()) // STEP_SECONDS
    prepared = {volunteer_id: scan_request(volunteer_id, secret, made_at) for volunteer_id, secret in plan.volunteers} \
        if plan.kind == "scan" else {}
    if plan.start_at is not None:
        await asyncio.sleep(max(0.0, plan.start_at - time.monotonic()))
    start = time.monotonic()
    window_start = start + plan.warmup
    deadline = window_start + plan.duration if plan.kind == "healthz" else float("inf")
    todo = iter(plan.volunteers)
    latencies: list[float] = []
    errors = loadgen.ErrorLog(per_kind=MAX_ERROR_SAMPLES)
    counts = {"ok": 0, "sent": 0, "connects": 0}
    marks: dict[str, float] = {}
    cpu: dict[str, float] = {}
    if plan.kind == "healthz":
        loop.call_at(window_start, lambda: cpu.__setitem__("start", time.process_time()))
        loop.call_at(deadline, lambda: cpu.__setitem__("end", time.process_time()))
    else:
        cpu["start"] = time.process_time()

    async def worker() -> None:
        client = loadgen.Client(plan.host, plan.port, plan.timeout)
        while True:
            if plan.kind == "healthz":
                if time.monotonic() >= deadline:
                    break
                data, who = healthz_request, ""
            else:
                try:
                    volunteer_id, secret = next(todo)
                except StopIteration:
                    break
                now = datetime.now(timezone.utc)
                data = prepared[volunteer_id] if int(now.timestamp()) // STEP_SECONDS == made_in_step else \
                    scan_request(volunteer_id, secret, now)
                who = f"volunteer {volunteer_id}: "
            counts["sent"] += 1
            t0 = time.monotonic()
            marks.setdefault("first", t0)
            try:
                status, answer = await client.send(data)
            except loadgen.TRANSPORT_ERRORS as exc:
                errors.add(type(exc).__name__, f"{who}{exc}")
                continue
            t1 = time.monotonic()
            marks["last"] = t1
            if not good(status, answer):
                errors.add(_error_kind(status, answer), who + answer.decode("utf-8", "replace"))
                continue
            if t0 >= window_start and t1 <= deadline:
                counts["ok"] += 1
                latencies.append(t1 - t0)
        client.close()
        counts["connects"] += client.connects

    await asyncio.gather(*(worker() for _ in range(plan.connections)))
    if plan.kind == "healthz":
        window = plan.duration
    else:
        cpu["end"] = time.process_time()
        window = marks.get("last", start) - marks.get("first", start)
    return {
        "ok": counts["ok"], "latencies": latencies, "errors": errors.count, "error_kinds": dict(errors.kinds),
        "error_samples": errors.samples, "requests_sent": counts["sent"], "connects": counts["connects"],
        "window_seconds": window, "client_cpu_seconds": cpu.get("end", time.process_time()) - cpu.get("start", 0.0),
    }


def run_client(plan: Plan, server: harness.Proc, report_within: float) -> dict[str, Any]:
    """Run the plan in a separate process; measure server and machine CPU meanwhile."""
    plan.start_at = time.monotonic() + 0.3
    meter = CpuMeter(server)
    with harness.ForkedCall(lambda: asyncio.run(drive(plan))) as client:
        time.sleep(max(0.0, plan.start_at + plan.warmup - time.monotonic()))
        meter.start()
        if plan.kind == "healthz":
            time.sleep(plan.duration)
            cpu = meter.stop()
        raw = client.result(report_within)
        if plan.kind != "healthz":
            cpu = meter.stop()  # the scans end when the client reports
    return summarise(raw, cpu)


def run_scans(plan: Plan, warmup_scans: int, server: harness.Proc, budget: float) -> dict[str, Any]:
    """A scan phase: its first `warmup_scans` volunteers scanned first and not measured, then the rest.

    As the floor's warm-up seconds: the phase's code, its statements' plans (psycopg prepares a
    statement on its sixth run on a connection) and the server's pools are warm when the measured
    scans start, as on a server that has been answering scans all morning. A warm-up answer that
    is not the expected one still counts as an error of the phase.
    """
    head, rest = plan.volunteers[:warmup_scans], plan.volunteers[warmup_scans:]
    warm = run_client(replace(plan, volunteers=head), server, budget) if head else None
    result = run_client(replace(plan, volunteers=rest), server, budget)
    if warm is not None and warm["errors"]:
        result["errors"] += warm["errors"]
        result["error_kinds"] = dict(Counter(result["error_kinds"]) + Counter(warm["error_kinds"]))
        result["error_samples"] = warm["error_samples"] + result["error_samples"]
    result["warmup_scans"] = len(head)
    return result


def summarise(raw: dict[str, Any], cpu: dict[str, float]) -> dict[str, Any]:
    latencies = sorted(raw["latencies"])
    window = raw["window_seconds"]
    return {
        "requests_per_second": raw["ok"] / window if window > 0 else 0.0,
        "ok": raw["ok"],
        "seconds": window,
        **harness.latency_summary(latencies),
        "errors": raw["errors"],
        "error_kinds": raw["error_kinds"],
        "error_samples": raw["error_samples"],
        "requests_sent": raw["requests_sent"],
        "connects": raw["connects"],
        "client_cpu_percent": 100 * raw["client_cpu_seconds"] / cpu["cpu_window_seconds"],
        **cpu,
        "_latencies": latencies,
    }


def combine(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Both scan phases as one: requests over the sum of the phases' durations, all latencies."""
    latencies = sorted(a["_latencies"] + b["_latencies"])
    seconds = a["seconds"] + b["seconds"]
    cpu_seconds = a["cpu_window_seconds"] + b["cpu_window_seconds"]

    def cpu(key: str) -> float:
        return (a[key] * a["cpu_window_seconds"] + b[key] * b["cpu_window_seconds"]) / cpu_seconds

    kinds = Counter(a["error_kinds"]) + Counter(b["error_kinds"])
    return {
        "requests_per_second": (a["ok"] + b["ok"]) / seconds if seconds > 0 else 0.0,
        "ok": a["ok"] + b["ok"], "seconds": seconds,
        **harness.latency_summary(latencies),
        "errors": a["errors"] + b["errors"], "error_kinds": dict(kinds),
        "error_samples": a["error_samples"] + b["error_samples"],
        "requests_sent": a["requests_sent"] + b["requests_sent"], "connects": a["connects"] + b["connects"],
        **{k: cpu(k) for k in ("client_cpu_percent", "server_cpu_percent", "postgres_cpu_percent",
                               "redis_cpu_percent", "machine_cpu_percent")},
        "worker_cpu_percent": [(x * a["cpu_window_seconds"] + y * b["cpu_window_seconds"]) / cpu_seconds
                               for x, y in zip(a["worker_cpu_percent"], b["worker_cpu_percent"])],
        "cpu_window_seconds": cpu_seconds,
        "_latencies": latencies,
    }


def wait_for_next_step(after_wall: float) -> float:
    """Sleep until the 30-s code step after the one containing `after_wall`; return the seconds slept."""
    target = (int(after_wall) // STEP_SECONDS + 1) * STEP_SECONDS + 0.05
    slept = max(0.0, target - time.time())
    time.sleep(slept)
    return slept


# ---------------------------------------------------------------------------------------------
# Report

ROWS = (("healthz", "GET /healthz (floor)"), ("peer", "peer: one INSERT"), ("checkin", "scans: check-in"),
        ("checkout", "scans: check-out"), ("scans", "scans: both phases"))
PHASES = ("healthz", "peer", "checkin", "checkout")  # the measured phases (ROWS less the combined one)


def other_cpu(r: dict[str, Any]) -> float:
    return (r["machine_cpu_percent"] - r["server_cpu_percent"] - r["postgres_cpu_percent"] - r["redis_cpu_percent"]
            - r["client_cpu_percent"])


def report(results: dict[str, dict], settings: dict[str, Any], db_check: dict[str, Any] | None,
           peer_check: dict[str, Any] | None = None) -> dict[str, Any]:
    harness.print_settings(settings, 20)
    print()
    header = (f"{'phase':<22}{'req/s':>8}{'n':>6}{'s':>7}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}"
              f"{'ms CPU/req':>11}{'server':>9}{'postgres':>9}{'redis':>6}{'client':>7}{'other':>6}")
    harness.print_header(header)
    for key, label in ROWS:
        r = results.get(key)
        if r is None:
            continue
        per_request = 10 * r["server_cpu_percent"] / r["requests_per_second"] if r["requests_per_second"] else 0.0
        print(f"{label:<22}{r['requests_per_second']:>8.1f}{r['ok']:>6}{r['seconds']:>7.2f}{r['p50_ms']:>8.1f}"
              f"{r['p99_ms']:>8.1f}{r['errors']:>7}{per_request:>11.2f}{r['server_cpu_percent']:>8.0f}%"
              f"{r['postgres_cpu_percent']:>8.0f}%{r['redis_cpu_percent']:>5.0f}%{r['client_cpu_percent']:>6.0f}%"
              f"{other_cpu(r):>5.0f}%")
    print(f"(CPU in % of one core over each phase; {os.cpu_count()} cores shared by the HTTP server, PostgreSQL, Redis "
          "and the load generator. 'ms CPU/req' is the server's\n CPU per answer. 'other' is the rest of the machine's busy "
          "CPU (kernel network work, ...): well above ~15 % means something else ran meanwhile)")
    print("server CPU per worker: " + "; ".join(
        f"{label.split(' (')[0]} " + " + ".join(f"{w:.0f}%" for w in results[key]["worker_cpu_percent"])
        for key, label in ROWS if key in PHASES and key in results))
    disturbed = [label for key, label in ROWS
                 if key in results and key != "scans" and other_cpu(results[key]) > harness.DISTURBED_OTHER_CPU_PERCENT]
    if disturbed:
        print(f"WARNING: other processes used the CPU during {', '.join(disturbed)}; re-run for trustworthy figures")

    for key, label in ROWS:
        r = results.get(key)
        if key in PHASES and r and r["errors"]:
            print(f"\nerrors of {label}: {r['error_kinds']}")
            for sample in r["error_samples"]:
                print(f"  {sample}")

    if peer_check is not None:
        print(f"\nPeer's table after its scans: {peer_check['rows']} rows, {peer_check['distinct_volunteers']} "
              f"volunteers, expected {peer_check['expected']}{'' if peer_check['pass'] else '  MISMATCH'}")
    if db_check is not None:
        print("\nDatabase after the scans (this activity)")
        for key, value in db_check["found"].items():
            expected = db_check["expected"][key]
            print(f"  {key:<34}{value:>8}   expected {expected:<8}{'' if value == expected else 'MISMATCH'}")

    print("\nTargets")
    table = harness.TargetTable(44, 9, 10)
    scans, floor = results.get("scans"), results.get("healthz")
    rate = scans["requests_per_second"] if scans else None
    passed = None if rate is None else rate >= TARGETS["scans_per_second"]
    table.record("scans_per_second", "scans/s (both phases)", rate, f">= {TARGETS['scans_per_second']:.0f}", passed,
                 target_min=TARGETS["scans_per_second"])
    value = harness.ratio(rate, floor["requests_per_second"] if floor else None)
    passed = None if value is None else value >= TARGETS["scans_over_healthz"]
    table.record("scans_over_healthz", "scans/s / healthz req/s", value, f">= {TARGETS['scans_over_healthz']}", passed,
                 target_min=TARGETS["scans_over_healthz"])
    p99 = scans["p99_ms"] if scans else None
    passed = None if p99 is None else p99 < TARGETS["p99_ms"]
    table.record("p99_ms", f"scans p99 ms at {settings['connections']} connections", p99,
                 f"< {TARGETS['p99_ms']:.0f}", passed, target_max=TARGETS["p99_ms"])
    errors = scans["errors"] if scans else None
    # Shown as 0.00, like the figures above it; kept as a count in the JSON.
    table.line("scans answered other than checked_in/out", None if errors is None else float(errors), "0",
               None if errors is None else errors == 0)
    table.checks["scan_errors"] = {"value": errors, "target_max": 0, "pass": None if errors is None else errors == 0}
    passed = None if db_check is None else db_check["pass"]
    print(f"  {'exactly one record per volunteer (database)':<44}{'':>9}   {'':<10}"
          f"{'n/a' if passed is None else harness.verdict(passed)}")
    table.checks["one_record_per_volunteer"] = {"pass": passed,
                                                "mismatches": db_check["mismatches"] if db_check else None}
    print("For information (no target)")
    peer, checkin = results.get("peer"), results.get("checkin")
    for key, label, ours in (("checkin_over_peer", "check-in scans/s / peer req/s", checkin),
                             ("scans_over_peer", "scans/s (both phases) / peer req/s", scans)):
        value = harness.ratio(ours["requests_per_second"] if ours else None,
                              peer["requests_per_second"] if peer else None)
        print(f"  {label:<44}{'n/a' if value is None else f'{value:.2f}':>9}")
        table.checks[key] = {"value": value}
    if peer and checkin and peer["requests_per_second"] and checkin["requests_per_second"]:
        ours_cpu = 10 * checkin["server_cpu_percent"] / checkin["requests_per_second"]
        peer_cpu = 10 * peer["server_cpu_percent"] / peer["requests_per_second"]
        print(f"  {'server ms CPU per check-in, ours - peer':<44}{ours_cpu - peer_cpu:>9.2f}")
        table.checks["checkin_cpu_ms_over_peer"] = {"value": ours_cpu - peer_cpu}
    return table.checks


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--volunteers", type=int, default=3000, help="signed-up volunteers, each scanned twice (default 3000)")
    p.add_argument("--connections", type=int, default=50, help="concurrent client connections (default 50)")
    p.add_argument("--server", default="granian", choices=["granian", "gunicorn"],
                   help="HTTP server of ours and the peer (default granian: `flask web`, as the web process is "
                        "deployed; gunicorn: its sync workers, the web process before, see bench/README.md)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: granian 2, one per core; gunicorn 3; the best measured on 2 cores)")
    p.add_argument("--worker-class", default="sync", choices=["sync", "gthread"],
                   help="gunicorn worker class (default sync: one worker per core measured best, see bench/README.md)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads per worker running the app: gunicorn's gthread (default 4), granian (default 2)")
    p.add_argument("--floor-seconds", type=float, default=10.0,
                   help="measured seconds of GET /healthz, the floor (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds of GET /healthz, not measured (default 2)")
    p.add_argument("--warmup-scans", type=int, default=200,
                   help="volunteers scanned first in each scan phase (and the peer's), not measured: seeded in "
                        "addition to --volunteers (default 200)")
    p.add_argument("--timeout", type=float, default=10.0, help="per-request timeout in seconds (default 10)")
    p.add_argument("--database-url",
                   help="use this existing database as is (migrated, seeded, not dropped; the rows stay), "
                        "e.g. postgresql+psycopg://user@host/db. Default: a throwaway database "
                        "bench_checkin_<random> made on --server-url and dropped at the end")
    p.add_argument("--no-peer", action="store_true",
                   help="skip the peer (bench/peers/checkin_insert.py: one INSERT … ON CONFLICT DO NOTHING per scan)")
    p.add_argument("--py-spy", metavar="PREFIX",
                   help="profile every gunicorn worker with py-spy during the peer and scan phases, raw folded "
                        "stacks to PREFIX-<phase>-<pid>.txt (sampling slows the workers: not a measuring run)")
    p.add_argument("--py-spy-rate", type=int, default=250, help="py-spy samples per second (default 250)")
    harness.add_server_url_option(p)
    harness.add_redis_options(p, "redis://127.0.0.1:6379/13")
    harness.add_quiet_wait_option(p)
    harness.add_json_option(p)
    harness.add_keep_tmp_option(p, "config, gunicorn log")
    args = p.parse_args(argv)
    if args.volunteers < 1:
        p.error("--volunteers must be at least 1")
    if args.warmup_scans < 0:
        p.error("--warmup-scans must be at least 0")
    if args.connections < 1:
        p.error("--connections must be at least 1")
    if args.workers is None:
        args.workers = 3 if args.server == "gunicorn" else 2
    if args.threads is None:
        args.threads = harness.default_threads(args.server)
    return args


def server_label(args) -> str:
    if args.server == "granian":
        return f"granian, {args.workers} workers x {args.threads} threads (`flask web`; the peer on granian alike)"
    return f"gunicorn, {args.workers} x {harness.worker_class_label(args.worker_class, args.threads)}"


def start_server(run: harness.Run, name: str, app_spec: str, env: dict[str, str], args) -> harness.Proc:
    return run.app_server(name, app_spec, env, server=args.server, workers=args.workers, threads=args.threads,
                          worker_class=args.worker_class)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.run_main(lambda run: measure(run, args), tmp_prefix="bench-checkin-", keep_tmp=args.keep_tmp)


def measure(run: harness.Run, args) -> int:
    results: dict[str, dict] = {}
    settings: dict[str, Any] = {
        "server": server_label(args),
        "connections": args.connections,
        "keep-alive": "reused while the server allows (gunicorn's sync workers close after each answer)",
        "volunteers": f"{args.volunteers} measured, each checked in once and checked out once (fresh code, unique "
                      f"nonce), after {args.warmup_scans} more scanned first in each phase, not measured",
        "floor": f"GET /healthz, {args.warmup:g} s warm-up + {args.floor_seconds:g} s, before the scans",
        "peer": "none (--no-peer)" if args.no_peer else "bench/peers/checkin_insert.py, same server settings "
                "and database: one INSERT … ON CONFLICT DO NOTHING per check-in, autocommit",
        "app code": f"sha256 {harness.code_fingerprint()} of app/, handlers/, models/ (*.py), measured "
                    f"{time.strftime('%Y-%m-%d %H:%M')}",
    }
    try:
        if args.database_url:
            db_url = args.database_url
            settings["database"] = f"{harness.mask_url(db_url)} (given, kept)"
        else:
            db_url = run.throwaway_database(args.server_url, "bench_checkin")
            settings["database"] = f"{harness.mask_url(db_url)} (throwaway, dropped at the end)"
        harness.log(f"database: {harness.mask_url(db_url)}")
        redis_url, settings["redis"] = run.shared_redis(None if args.no_redis else args.redis_url)
        env = harness.app_environment(
            run.tmp, db_url, redis_url,
            # A check-out may follow the check-in at once (the default asks for 5 minutes).
            APP_CHECKIN__MIN_MINUTES_BEFORE_CHECKOUT="0",
        )
        os.environ.update(env)  # for the seeding below, in this process
        t0 = time.monotonic()
        harness.migrate(env)
        seeded = args.volunteers + args.warmup_scans
        harness.log(f"migrated in {time.monotonic() - t0:.1f} s; seeding {seeded} volunteers ...")
        data = seed(seeded)
        harness.log(f"seeded in {data.seconds:.1f} s (not part of the figures): activity {data.activity_id}")
        settings["seeding"] = f"{data.seconds:.1f} s, not measured"
        harness.log(f"starting {settings['server']}")
        server = start_server(run, "ours", harness.WEB_APP, env, args)
        wait_healthy(server)
    except harness.SetupError as exc:
        print(f"set-up failed: {exc}", file=sys.stderr, flush=True)
        return 1
    harness.log(f"ready on 127.0.0.1:{server.port}")
    common = dict(host="127.0.0.1", port=server.port, connections=args.connections, timeout=args.timeout)

    quiet_waits = [harness.wait_until_quiet(args.quiet_wait)] if args.quiet_wait > 0 else []
    harness.log(f"floor: GET /healthz for {args.warmup:g}+{args.floor_seconds:g} s ...")
    results["healthz"] = run_client(Plan(kind="healthz", warmup=args.warmup, duration=args.floor_seconds, **common),
                                    server, args.warmup + args.floor_seconds + args.timeout + 30)
    show(results["healthz"])

    profiler = Profiler(args.py_spy, args.py_spy_rate)
    run_tag = secrets.token_hex(4)
    budget = len(data.volunteers) / 50 + args.timeout + 60  # generous: even 50 scans/s would finish
    peer_check = None
    if not args.no_peer:
        try:
            create_peer_table(db_url)
            harness.log(f"starting the peer's {settings['server']}")
            peer = start_server(run, "peer", "bench.peers.checkin_insert:app",
                                {**env, "BENCH_PEER_DATABASE_URL": db_url}, args)
            wait_peer_ready(peer)
        except harness.SetupError as exc:
            print(f"set-up of the peer failed: {exc}", file=sys.stderr, flush=True)
            return 1
        if args.quiet_wait > 0:
            quiet_waits.append(harness.wait_until_quiet(args.quiet_wait))
        harness.log(f"peer: {args.volunteers} check-ins, one INSERT each ...")
        profiler.start(peer, "peer")
        results["peer"] = run_scans(Plan(kind="scan", expect="checked_in", nonce_prefix=f"bp{run_tag}v",
                                         path=f"/peer/activities/{data.activity_id}/scans", token="",
                                         volunteers=data.volunteers, **{**common, "port": peer.port}),
                                    args.warmup_scans, peer, budget)
        profiler.stop()
        show(results["peer"])
        peer.stop()
        peer_check = check_peer_database(db_url, data.activity_id, len(data.volunteers))

    scan = dict(path=f"/api/v1/activities/{data.activity_id}/scans", token=data.captain_token,
                volunteers=data.volunteers)
    if args.quiet_wait > 0:
        quiet_waits.append(harness.wait_until_quiet(args.quiet_wait))
    harness.log(f"check-in: {args.volunteers} scans ...")
    profiler.start(server, "checkin")
    results["checkin"] = run_scans(Plan(kind="scan", expect="checked_in", nonce_prefix=f"bi{run_tag}v", **scan,
                                        **common), args.warmup_scans, server, budget)
    profiler.stop()
    ended = time.time()
    show(results["checkin"])
    harness.log("waiting for the next 30-s code step (a check-out needs a later code than its check-in; "
                "not measured)")
    slept = wait_for_next_step(ended)
    harness.log(f"  waited {slept:.1f} s")
    if args.quiet_wait > 0:
        quiet_waits.append(harness.wait_until_quiet(args.quiet_wait))
    harness.log(f"check-out: {args.volunteers} scans ...")
    profiler.start(server, "checkout")
    results["checkout"] = run_scans(Plan(kind="scan", expect="checked_out", nonce_prefix=f"bo{run_tag}v", **scan,
                                         **common), args.warmup_scans, server, budget)
    profiler.stop()
    show(results["checkout"])
    results["scans"] = combine(results["checkin"], results["checkout"])
    if results["checkin"]["errors"] or results["checkout"]["errors"]:
        tail = server.log_tail(20)
        if tail:
            print(f"{args.server} log (tail):\n" + "\n".join("  " + t for t in tail.splitlines()))
    server.stop()

    db_check = check_database(db_url, data.activity_id, [v for v, _ in data.volunteers])
    checks = report(results, settings, db_check, peer_check)
    if args.json:
        harness.write_json(args.json, {
            "settings": {**settings, "server_kind": args.server, "workers": args.workers,
                         "worker_class": args.worker_class if args.server == "gunicorn" else None,
                         "threads": args.threads if args.worker_class == "gthread" or args.server == "granian" else 1,
                         "volunteers": args.volunteers, "warmup_scans": args.warmup_scans,
                         "floor_seconds": args.floor_seconds,
                         "warmup_s": args.warmup, "cpu_count": os.cpu_count(),
                         "seeding_seconds": data.seconds, "step_wait_seconds": slept,
                         "quiet_wait_seconds": quiet_waits},
            "results": {k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")} for k, v in results.items()},
            "database_check": db_check,
            "peer_check": peer_check,
            "checks": checks,
        })
    return 0


def show(r: dict[str, Any]) -> None:
    print(f"  {r['requests_per_second']:.1f} req/s ({r['ok']} in {r['seconds']:.2f} s), p50 {r['p50_ms']:.2f} ms, "
          f"p99 {r['p99_ms']:.2f} ms, {r['errors']} errors", flush=True)


if __name__ == "__main__":
    sys.exit(main())
