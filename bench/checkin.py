"""Benchmark of the captain's scans (check-in, then check-out) under gunicorn with PostgreSQL.

One run, on one gunicorn server:
  floor     GET /healthz (one SELECT 1 and one Redis PING) at the same concurrency
  check-in  every volunteer scanned once: POST /api/v1/activities/{id}/scans, a fresh personal code
  check-out after the next 30-s code step, every volunteer scanned again with a fresh code

The script makes a throwaway PostgreSQL database (dropped at the end), migrates it, seeds an
activity whose check-in window is open, N approved sign-ups and a captain with the app's own code,
then checks the database afterwards: exactly one check-in, closed, and one attendance record per
volunteer. Targets: >= 500 scans/s, >= 0.4 x the floor's requests/s, p99 < 100 ms, one record each.

Run from the repository root:  .venv/bin/python bench/checkin.py [--volunteers 3000] [--json out.json]
See bench/README.md. Exit code: 0 once measured (targets missed or not), 1 if the set-up failed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import json
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import loadgen  # noqa: E402
from bench.callback import (Peer, PeerStartError, Server, START_TIMEOUT_SECONDS, choose_redis,  # noqa: E402
                            machine_cpu_seconds, mask_url, percentile, redis_flush)

TARGETS = {
    "scans_per_second": 500.0,     # check-ins and check-outs answered per second, at least
    "scans_over_healthz": 0.4,     # scans/s / GET /healthz requests/s on the same server, at least
    "p99_ms": 100.0,               # p99 latency of the scans at the default 50 connections, below
}
DEFAULT_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"  # maintenance DB: create/drop
STEP_SECONDS = 30                  # app.checkin_codes.STEP_SECONDS (not imported before the env is set)
MAX_ERROR_SAMPLES = 3              # per kind of error
DISTURBED_OTHER_CPU_PERCENT = 25.0


class SetupError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Database: a throwaway PostgreSQL database, migrations, seed, final check


def libpq_url(url: str) -> str:
    """SQLAlchemy's postgresql+psycopg://... as a plain libpq URL for psycopg.connect."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def _replace_db(url: str, name: str) -> str:
    scheme, rest = url.split("://", 1)
    authority, _, tail = rest.partition("/")
    query = tail.partition("?")[2]
    return f"{scheme}://{authority}/{name}" + (f"?{query}" if query else "")


def create_database(server_url: str) -> tuple[str, str]:
    """Create bench_checkin_<random> next to the maintenance database; return (name, SQLAlchemy URL)."""
    import psycopg

    name = f"bench_checkin_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(libpq_url(server_url), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise SetupError(f"cannot create a database on {mask_url(server_url)}: {exc}") from None
    return name, _replace_db(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(libpq_url(server_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(env: dict[str, str]) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "flask", "db", "upgrade"], cwd=REPO_ROOT,
        env={**os.environ, **env, "FLASK_APP": "app:create_app"}, capture_output=True, text=True, timeout=180,
    )
    if run.returncode != 0:
        raise SetupError(f"`flask db upgrade` failed (exit {run.returncode}):\n{run.stdout[-3000:]}{run.stderr[-3000:]}")


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
    from app.services import accounts, regions, roles
    from app.timeutil import now_utc
    from models import (Account, Activity, ActivityStatus, Organization, OrganizationStatus, RegionLevel, Role, Signup,
                        SignupStatus, Team, TeamKind, Volunteer, VolunteerStatus)

    t0 = time.monotonic()
    app = create_app()
    with app.app_context():
        now = now_utc()
        tag = secrets.token_hex(3).upper()  # the database may be shared (--database-url): unique names
        city = regions.add_region(f"BC{tag}0", "基准市", RegionLevel.CITY, None, 1_000_000)
        district = regions.add_region(f"BC{tag}1", "基准区", RegionLevel.DISTRICT, city, 300_000)
        street = regions.add_region(f"BC{tag}2", "基准街道", RegionLevel.STREET, district, 50_000)
        community = regions.add_region(f"BC{tag}3", "基准社区", RegionLevel.COMMUNITY, street, 8_000)
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
    with psycopg.connect(libpq_url(url), connect_timeout=5) as conn:
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


# ---------------------------------------------------------------------------------------------
# gunicorn


class CheckinServer(Server):
    """bench/callback.py's gunicorn wrapper, ready once GET /healthz answers ok."""

    def wait_ready(self, token: str = "") -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PeerStartError(f"gunicorn exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                answer = response.read()
                conn.close()
            except OSError as exc:
                last = f"{type(exc).__name__}: {exc}"
                time.sleep(0.1)
                continue
            if response.status == 200 and b'"ok"' in answer:
                return
            last = f"HTTP {response.status}: {answer.decode('utf-8', 'replace')[:500]}"
            time.sleep(0.2)
        raise PeerStartError(f"no good answer within {START_TIMEOUT_SECONDS:.0f} s (last: {last})\n{self.log_tail()}")


def _proc_stats() -> list[tuple[int, str, int, list[str]]]:
    """(pid, comm, ppid, fields after the comm) of every process we can read."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        head, _, rest = stat.rpartition(")")
        fields = rest.split()
        out.append((int(entry), head.partition("(")[2], int(fields[1]), fields))
    return out


def service_cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by PostgreSQL and by redis-server (all their processes).

    Backends that exited are counted through the postmaster's reaped-children times (cutime,
    cstime), so connections opened and closed by the pool during a window are not lost.
    """
    tick = os.sysconf("SC_CLK_TCK")
    stats = _proc_stats()
    comm_of = {pid: comm for pid, comm, _, _ in stats}
    totals = {"postgres": 0.0, "redis": 0.0}
    for pid, comm, ppid, fields in stats:
        try:
            own = (int(fields[11]) + int(fields[12])) / tick
            reaped = (int(fields[13]) + int(fields[14])) / tick
        except (IndexError, ValueError):
            continue
        if comm == "postgres":
            totals["postgres"] += own + (reaped if comm_of.get(ppid) != "postgres" else 0.0)
        elif comm.startswith("redis-server"):
            totals["redis"] += own
    return totals


def pid_cpu_seconds(pids: list[int]) -> dict[int, float]:
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return out


class CpuMeter:
    """Server (and each worker), PostgreSQL, Redis and whole-machine CPU between start() and stop(),
    in % of one core."""

    def __init__(self, server: Server):
        self.server = server

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.workers0 = pid_cpu_seconds([p for p in self.server.pids() if p != self.server.proc.pid])
        self.server0, self.machine0, self.services0 = (self.server.cpu_seconds(), machine_cpu_seconds(),
                                                       service_cpu_seconds())

    def stop(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.t0
        services = service_cpu_seconds()
        workers = pid_cpu_seconds(list(self.workers0))
        return {
            "server_cpu_percent": 100 * (self.server.cpu_seconds() - self.server0) / elapsed,
            "worker_cpu_percent": sorted((100 * (workers[p] - self.workers0[p]) / elapsed
                                          for p in workers), reverse=True),
            "postgres_cpu_percent": 100 * (services["postgres"] - self.services0["postgres"]) / elapsed,
            "redis_cpu_percent": 100 * (services["redis"] - self.services0["redis"]) / elapsed,
            "machine_cpu_percent": 100 * (machine_cpu_seconds() - self.machine0) / elapsed,
            "cpu_window_seconds": elapsed,
        }


def wait_until_quiet(max_wait: float, busy_limit: float = 25.0) -> float:
    """Wait (up to max_wait s) until the machine's busy CPU over one second is below busy_limit % of one
    core: the machine may be shared (test suites running), and a disturbed phase says little.
    Returns the seconds waited."""
    t0 = time.monotonic()
    told = False
    while True:
        before = machine_cpu_seconds()
        time.sleep(1.0)
        busy = 100 * (machine_cpu_seconds() - before)
        waited = time.monotonic() - t0
        if busy < busy_limit:
            if told:
                print(f"  quiet after {waited:.0f} s", flush=True)
            return waited
        if waited >= max_wait:
            print(f"  still {busy:.0f} % busy after {waited:.0f} s: measuring anyway (see 'other CPU')", flush=True)
            return waited
        if not told:
            print(f"  the machine is busy ({busy:.0f} % of a core used by others): waiting up to {max_wait:.0f} s "
                  "for it to be quiet (--quiet-wait)", flush=True)
            told = True


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
    if plan.start_at is not None:
        await asyncio.sleep(max(0.0, plan.start_at - time.monotonic()))
    start = time.monotonic()
    window_start = start + plan.warmup
    deadline = window_start + plan.duration if plan.kind == "healthz" else float("inf")
    host = f"Host: {plan.host}:{plan.port}\r\n"
    healthz_request = f"GET /healthz HTTP/1.1\r\n{host}\r\n".encode()
    scan_head = (f"POST {plan.path} HTTP/1.1\r\n{host}Authorization: Bearer {plan.token}\r\n"
                 "Content-Type: application/json\r\n")
    todo = iter(plan.volunteers)
    latencies: list[float] = []
    errors: Counter = Counter()
    samples: list[str] = []
    counts = {"ok": 0, "sent": 0, "connects": 0}
    marks: dict[str, float] = {}
    cpu: dict[str, float] = {}
    if plan.kind == "healthz":
        loop.call_at(window_start, lambda: cpu.__setitem__("start", time.process_time()))
        loop.call_at(deadline, lambda: cpu.__setitem__("end", time.process_time()))
    else:
        cpu["start"] = time.process_time()

    def error(kind: str, detail: str) -> None:
        errors[kind] += 1
        if errors[kind] <= MAX_ERROR_SAMPLES:
            samples.append(f"{kind}: {' '.join(detail.split())[:300]}")

    def good(status: int, body: bytes) -> bool:
        if status != 200:
            return False
        if plan.kind == "healthz":
            return b'"status":"ok"' in body.replace(b" ", b"")
        try:
            return json.loads(body).get("result") == plan.expect
        except ValueError:
            return False

    async def worker() -> None:
        conn: loadgen._Connection | None = None
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
                # The code of the current 30-s step, computed right before sending, as a phone shows it.
                body = json.dumps({"code": checkin_codes.personal_code(volunteer_id, secret, datetime.now(timezone.utc)),
                                   "nonce": f"{plan.nonce_prefix}{volunteer_id}"}).encode()
                data = f"{scan_head}Content-Length: {len(body)}\r\n\r\n".encode() + body
                who = f"volunteer {volunteer_id}: "
            counts["sent"] += 1
            t0 = time.monotonic()
            marks.setdefault("first", t0)
            timer = None
            try:
                if conn is None or conn.closed:
                    _, conn = await asyncio.wait_for(
                        loop.create_connection(loadgen._Connection, plan.host, plan.port), plan.timeout)
                    counts["connects"] += 1
                waiter = conn.request(data)
                timer = loop.call_later(
                    plan.timeout, lambda w=waiter: w.done() or w.set_exception(TimeoutError("no answer in time")))
                status, answer, keep_alive = await waiter
            except (OSError, ConnectionError, TimeoutError, asyncio.TimeoutError, loadgen.BadAnswer) as exc:
                error(type(exc).__name__, f"{who}{exc}")
                if conn is not None:
                    conn.close()
                conn = None
                continue
            finally:
                if timer is not None:
                    timer.cancel()
            t1 = time.monotonic()
            marks["last"] = t1
            if not keep_alive:
                conn.close()
                conn = None
            if not good(status, answer):
                error(_error_kind(status, answer), who + answer.decode("utf-8", "replace"))
                continue
            if t0 >= window_start and t1 <= deadline:
                counts["ok"] += 1
                latencies.append(t1 - t0)
        if conn is not None:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(plan.connections)))
    if plan.kind == "healthz":
        window = plan.duration
    else:
        cpu["end"] = time.process_time()
        window = marks.get("last", start) - marks.get("first", start)
    return {
        "ok": counts["ok"], "latencies": latencies, "errors": sum(errors.values()), "error_kinds": dict(errors),
        "error_samples": samples, "requests_sent": counts["sent"], "connects": counts["connects"],
        "window_seconds": window, "client_cpu_seconds": cpu.get("end", time.process_time()) - cpu.get("start", 0.0),
    }


def _client_main(plan: Plan, pipe) -> None:
    try:
        pipe.send({"result": asyncio.run(drive(plan))})
    except KeyboardInterrupt:
        pass
    except BaseException as exc:  # report, never hang the parent
        pipe.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        pipe.close()


def run_client(plan: Plan, server: Server, report_within: float) -> dict[str, Any]:
    """Run the plan in a separate process; measure server and machine CPU meanwhile."""
    plan.start_at = time.monotonic() + 0.3
    ctx = multiprocessing.get_context("fork")
    parent_end, child_end = ctx.Pipe(duplex=False)
    client = ctx.Process(target=_client_main, args=(plan, child_end), daemon=True)
    client.start()
    child_end.close()
    meter = CpuMeter(server)
    try:
        time.sleep(max(0.0, plan.start_at + plan.warmup - time.monotonic()))
        meter.start()
        if plan.kind == "healthz":
            time.sleep(plan.duration)
            cpu = meter.stop()
        if not parent_end.poll(report_within):
            raise RuntimeError("the load generator did not report in time")
        message = parent_end.recv()
        if plan.kind != "healthz":
            cpu = meter.stop()  # the scans end when the client reports
        client.join(timeout=5)
    finally:
        if client.is_alive():
            client.terminate()
            client.join(timeout=5)
        parent_end.close()
    if "error" in message:
        raise RuntimeError(f"load generator failed: {message['error']}")
    return summarise(message["result"], cpu)


def summarise(raw: dict[str, Any], cpu: dict[str, float]) -> dict[str, Any]:
    latencies = sorted(raw["latencies"])
    window = raw["window_seconds"]
    return {
        "requests_per_second": raw["ok"] / window if window > 0 else 0.0,
        "ok": raw["ok"],
        "seconds": window,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p90_ms": percentile(latencies, 90) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
        "mean_ms": sum(latencies) / len(latencies) * 1000 if latencies else float("nan"),
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
        "p50_ms": percentile(latencies, 50) * 1000, "p90_ms": percentile(latencies, 90) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
        "mean_ms": sum(latencies) / len(latencies) * 1000 if latencies else float("nan"),
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

ROWS = (("healthz", "GET /healthz (floor)"), ("checkin", "scans: check-in"), ("checkout", "scans: check-out"),
        ("scans", "scans: both phases"))


def other_cpu(r: dict[str, Any]) -> float:
    return (r["machine_cpu_percent"] - r["server_cpu_percent"] - r["postgres_cpu_percent"] - r["redis_cpu_percent"]
            - r["client_cpu_percent"])


def report(results: dict[str, dict], settings: dict[str, Any], db_check: dict[str, Any] | None) -> dict[str, Any]:
    print()
    print("Settings")
    for key, value in settings.items():
        print(f"  {key:<20} {value}")
    print()
    header = (f"{'phase':<22}{'req/s':>8}{'n':>6}{'s':>7}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}"
              f"{'ms CPU/req':>11}{'gunicorn':>9}{'postgres':>9}{'redis':>6}{'client':>7}{'other':>6}")
    print(header)
    print("-" * len(header))
    for key, label in ROWS:
        r = results.get(key)
        if r is None:
            continue
        per_request = 10 * r["server_cpu_percent"] / r["requests_per_second"] if r["requests_per_second"] else 0.0
        print(f"{label:<22}{r['requests_per_second']:>8.1f}{r['ok']:>6}{r['seconds']:>7.2f}{r['p50_ms']:>8.1f}"
              f"{r['p99_ms']:>8.1f}{r['errors']:>7}{per_request:>11.2f}{r['server_cpu_percent']:>8.0f}%"
              f"{r['postgres_cpu_percent']:>8.0f}%{r['redis_cpu_percent']:>5.0f}%{r['client_cpu_percent']:>6.0f}%"
              f"{other_cpu(r):>5.0f}%")
    print(f"(CPU in % of one core over each phase; {os.cpu_count()} cores shared by gunicorn, PostgreSQL, Redis and "
          "the load generator. 'ms CPU/req' is gunicorn's CPU\n per answer. 'other' is the rest of the machine's busy "
          "CPU (kernel network work, ...): well above ~15 % means something else ran meanwhile)")
    print("gunicorn CPU per worker: " + "; ".join(
        f"{label.split(' (')[0]} " + " + ".join(f"{w:.0f}%" for w in results[key]["worker_cpu_percent"])
        for key, label in ROWS[:3] if key in results))
    disturbed = [label for key, label in ROWS
                 if key in results and key != "scans" and other_cpu(results[key]) > DISTURBED_OTHER_CPU_PERCENT]
    if disturbed:
        print(f"WARNING: other processes used the CPU during {', '.join(disturbed)}; re-run for trustworthy figures")

    for key, label in ROWS[:3]:
        r = results.get(key)
        if r and r["errors"]:
            print(f"\nerrors of {label}: {r['error_kinds']}")
            for sample in r["error_samples"]:
                print(f"  {sample}")

    if db_check is not None:
        print("\nDatabase after the scans (this activity)")
        for key, value in db_check["found"].items():
            expected = db_check["expected"][key]
            print(f"  {key:<34}{value:>8}   expected {expected:<8}{'' if value == expected else 'MISMATCH'}")

    checks: dict[str, Any] = {}
    print("\nTargets")

    def line(label: str, value: float | None, target: str, passed: bool | None) -> None:
        shown = "n/a" if value is None else f"{value:.2f}"
        verdict = "" if passed is None else ("PASS" if passed else "FAIL")
        print(f"  {label:<44}{shown:>9}   {target:<10}{verdict}")

    scans, floor = results.get("scans"), results.get("healthz")
    rate = scans["requests_per_second"] if scans else None
    passed = None if rate is None else rate >= TARGETS["scans_per_second"]
    line("scans/s (both phases)", rate, f">= {TARGETS['scans_per_second']:.0f}", passed)
    checks["scans_per_second"] = {"value": rate, "target_min": TARGETS["scans_per_second"], "pass": passed}
    value = rate / floor["requests_per_second"] if scans and floor and floor["requests_per_second"] > 0 else None
    passed = None if value is None else value >= TARGETS["scans_over_healthz"]
    line("scans/s / healthz req/s", value, f">= {TARGETS['scans_over_healthz']}", passed)
    checks["scans_over_healthz"] = {"value": value, "target_min": TARGETS["scans_over_healthz"], "pass": passed}
    p99 = scans["p99_ms"] if scans else None
    passed = None if p99 is None else p99 < TARGETS["p99_ms"]
    line(f"scans p99 ms at {settings['connections']} connections", p99, f"< {TARGETS['p99_ms']:.0f}", passed)
    checks["p99_ms"] = {"value": p99, "target_max": TARGETS["p99_ms"], "pass": passed}
    errors = scans["errors"] if scans else None
    line("scans answered other than checked_in/out", errors, "0", None if errors is None else errors == 0)
    checks["scan_errors"] = {"value": errors, "target_max": 0, "pass": None if errors is None else errors == 0}
    passed = None if db_check is None else db_check["pass"]
    print(f"  {'exactly one record per volunteer (database)':<44}{'':>9}   {'':<10}"
          f"{'n/a' if passed is None else ('PASS' if passed else 'FAIL')}")
    checks["one_record_per_volunteer"] = {"pass": passed,
                                          "mismatches": db_check["mismatches"] if db_check else None}
    return checks


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--volunteers", type=int, default=3000, help="signed-up volunteers, each scanned twice (default 3000)")
    p.add_argument("--connections", type=int, default=50, help="concurrent client connections (default 50)")
    p.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3, the best measured on 2 cores)")
    p.add_argument("--worker-class", default="sync", choices=["sync", "gthread"],
                   help="gunicorn worker class (default sync: one worker per core measured best, see bench/README.md)")
    p.add_argument("--threads", type=int, default=4, help="threads per worker with --worker-class gthread (default 4)")
    p.add_argument("--floor-seconds", type=float, default=10.0,
                   help="measured seconds of GET /healthz, the floor (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds of GET /healthz, not measured (default 2)")
    p.add_argument("--timeout", type=float, default=10.0, help="per-request timeout in seconds (default 10)")
    p.add_argument("--database-url",
                   help="use this existing database as is (migrated, seeded, not dropped; the rows stay), "
                        "e.g. postgresql+psycopg://user@host/db. Default: a throwaway database "
                        "bench_checkin_<random> made on --server-url and dropped at the end")
    p.add_argument("--server-url", default=DEFAULT_SERVER_URL,
                   help=f"PostgreSQL maintenance database used to create and drop the throwaway one "
                        f"(default {DEFAULT_SERVER_URL})")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/13",
                   help="Redis, flushed before and after (default redis://127.0.0.1:6379/13); "
                        "if unreachable, the in-process substitute is used")
    p.add_argument("--no-redis", action="store_true", help="use the in-process Redis substitute")
    p.add_argument("--quiet-wait", type=float, default=120.0,
                   help="before each phase, wait up to this many seconds for the machine to be quiet "
                        "(others' CPU use below 25 %% of a core); 0: do not wait (default 120)")
    p.add_argument("--json", metavar="PATH", help="also write the figures to this JSON file")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temporary directory (config, gunicorn log)")
    args = p.parse_args(argv)
    if args.volunteers < 1:
        p.error("--volunteers must be at least 1")
    if args.connections < 1:
        p.error("--connections must be at least 1")
    return args


def code_fingerprint() -> str:
    """A short hash of the service's Python code, to tell which version a run measured (others edit it)."""
    digest = hashlib.sha256()
    for folder in ("app", "handlers", "models"):
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-checkin-"))
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    created_db: str | None = None
    redis_used = ""
    server: CheckinServer | None = None
    results: dict[str, dict] = {}
    db_check: dict[str, Any] | None = None
    settings: dict[str, Any] = {
        "workers": args.workers,
        "worker class": args.worker_class + (f" --threads {args.threads}" if args.worker_class == "gthread" else ""),
        "connections": args.connections,
        "keep-alive": "reused while the server allows (sync workers close after each answer)",
        "volunteers": f"{args.volunteers}, each checked in once and checked out once (fresh code, unique nonce)",
        "floor": f"GET /healthz, {args.warmup:g} s warm-up + {args.floor_seconds:g} s, before the scans",
        "app code": f"sha256 {code_fingerprint()} of app/, handlers/, models/ (*.py), measured "
                    f"{time.strftime('%Y-%m-%d %H:%M')}",
    }
    try:
        try:
            if args.database_url:
                db_url = args.database_url
                settings["database"] = f"{mask_url(db_url)} (given, kept)"
            else:
                created_db, db_url = create_database(args.server_url)
                settings["database"] = f"{mask_url(db_url)} (throwaway, dropped at the end)"
            print(f"database: {mask_url(db_url)}", flush=True)
            config = tmp / "config.toml"
            shutil.copyfile(REPO_ROOT / "config.example.toml", config)
            redis_url, redis_desc = choose_redis(None if args.no_redis else args.redis_url)
            redis_used = redis_url
            settings["redis"] = redis_desc
            env = {
                "APP_CONFIG": str(config),
                "APP_DATABASE__URL": db_url,
                "APP_REDIS__URL": redis_url,
                "APP_APP__LOG_LEVEL": "WARNING",
                # A check-out may follow the check-in at once (the default asks for 5 minutes).
                "APP_CHECKIN__MIN_MINUTES_BEFORE_CHECKOUT": "0",
            }
            os.environ.update(env)  # for the seeding below, in this process
            t0 = time.monotonic()
            migrate(env)
            print(f"migrated in {time.monotonic() - t0:.1f} s; seeding {args.volunteers} volunteers ...", flush=True)
            data = seed(args.volunteers)
            print(f"seeded in {data.seconds:.1f} s (not part of the figures): activity {data.activity_id}", flush=True)
            settings["seeding"] = f"{data.seconds:.1f} s, not measured"
            print(f"starting gunicorn ({settings['workers']} x {settings['worker class']})", flush=True)
            server = CheckinServer(Peer("ours", "app:create_app()", env, []), args, tmp)
            server.wait_ready()
        except (SetupError, PeerStartError) as exc:
            print(f"set-up failed: {exc}", file=sys.stderr, flush=True)
            return 1
        print(f"ready on 127.0.0.1:{server.port}", flush=True)
        common = dict(host="127.0.0.1", port=server.port, connections=args.connections, timeout=args.timeout)

        quiet_waits = [wait_until_quiet(args.quiet_wait)] if args.quiet_wait > 0 else []
        print(f"floor: GET /healthz for {args.warmup:g}+{args.floor_seconds:g} s ...", flush=True)
        results["healthz"] = run_client(Plan(kind="healthz", warmup=args.warmup, duration=args.floor_seconds, **common),
                                        server, args.warmup + args.floor_seconds + args.timeout + 30)
        show(results["healthz"])

        run_tag = secrets.token_hex(4)
        scan = dict(path=f"/api/v1/activities/{data.activity_id}/scans", token=data.captain_token,
                    volunteers=data.volunteers)
        budget = args.volunteers / 50 + args.timeout + 60  # generous: even 50 scans/s would finish
        if args.quiet_wait > 0:
            quiet_waits.append(wait_until_quiet(args.quiet_wait))
        print(f"check-in: {args.volunteers} scans ...", flush=True)
        results["checkin"] = run_client(Plan(kind="scan", expect="checked_in", nonce_prefix=f"bi{run_tag}v", **scan,
                                             **common), server, budget)
        ended = time.time()
        show(results["checkin"])
        print("waiting for the next 30-s code step (a check-out needs a later code than its check-in; not measured)",
              flush=True)
        slept = wait_for_next_step(ended)
        print(f"  waited {slept:.1f} s", flush=True)
        if args.quiet_wait > 0:
            quiet_waits.append(wait_until_quiet(args.quiet_wait))
        print(f"check-out: {args.volunteers} scans ...", flush=True)
        results["checkout"] = run_client(Plan(kind="scan", expect="checked_out", nonce_prefix=f"bo{run_tag}v", **scan,
                                              **common), server, budget)
        show(results["checkout"])
        results["scans"] = combine(results["checkin"], results["checkout"])
        if results["checkin"]["errors"] or results["checkout"]["errors"]:
            tail = server.log_tail(20)
            if tail:
                print("gunicorn log (tail):\n" + "\n".join("  " + t for t in tail.splitlines()))
        server.stop()
        server = None

        db_check = check_database(db_url, data.activity_id, [v for v, _ in data.volunteers])
        checks = report(results, settings, db_check)
        if args.json:
            Path(args.json).write_text(json.dumps({
                "settings": {**settings, "workers": args.workers, "worker_class": args.worker_class,
                             "threads": args.threads if args.worker_class == "gthread" else 1,
                             "volunteers": args.volunteers, "floor_seconds": args.floor_seconds,
                             "warmup_s": args.warmup, "cpu_count": os.cpu_count(),
                             "seeding_seconds": data.seconds, "step_wait_seconds": slept,
                             "quiet_wait_seconds": quiet_waits},
                "results": {k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")} for k, v in results.items()},
                "database_check": db_check,
                "checks": checks,
            }, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            print(f"\nwrote {args.json}")
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if server is not None:
            server.stop()
        if created_db:
            try:
                drop_database(args.server_url, created_db)
            except Exception as exc:  # noqa: BLE001
                print(f"note: could not drop database {created_db}: {exc}", file=sys.stderr)
        if redis_used:
            try:
                redis_flush(redis_used)
            except Exception:  # noqa: BLE001
                pass
        if args.keep_tmp:
            print(f"temporary files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def show(r: dict[str, Any]) -> None:
    print(f"  {r['requests_per_second']:.1f} req/s ({r['ok']} in {r['seconds']:.2f} s), p50 {r['p50_ms']:.2f} ms, "
          f"p99 {r['p99_ms']:.2f} ms, {r['errors']} errors", flush=True)


if __name__ == "__main__":
    sys.exit(main())
