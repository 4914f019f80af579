"""Benchmark of a broadcast to N volunteers: fan-out into the outbox, then delivery to the simulator.

One run (scenario S4 of the reliability anchors, with the issue's figures):
  seed       N approved volunteers in one region subtree, each with a subscribe credit for the
             announcement template (COPY + set-based INSERTs; timed apart, not a figure)
  fan-out    a fresh Python process runs broadcasts.fan_out_next until it returns 0 for the queued
             announcement: seconds to write the N outbox rows, and that process's peak memory
             (VmHWM). Targets: < 20 s, < 200 MB.
  delivery   the simulator (one process; --rate sends/s, 45009 beyond it) and --workers
             `flask jobs worker` processes sharing a Redis token bucket of the same rate; about
             40 % of the way one worker is killed with SIGKILL and a replacement started. Figures:
             the achieved rate over the steady part (5 %..95 % of the messages), the most messages
             in any 1-s window, 45009 answers; afterwards, from the simulator's record and the
             database: delivered, unique recipients, duplicates (0), lost (0), ambiguous (<= batch).
             CPU seconds of every process, to show where the time goes.

PostgreSQL: a throwaway database on the machine's server (as bench/checkin.py does), dropped at the
end. Redis: its own redis-server on a free port, without persistence, stopped at the end.

Run from the repository root:  .venv/bin/python bench/broadcast.py [--volunteers 100000] [--rate 2000]
See bench/README.md. Exit code: 0 once measured (targets missed or not), 1 if the set-up failed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import harness  # noqa: E402
from bench.harness import libpq_url, log  # noqa: E402

TARGETS = {
    "fanout_seconds": 20.0,        # all N outbox rows written, below
    "fanout_peak_mb": 200.0,       # peak memory of the fan-out process, below
    "achieved_over_limit": 0.95,   # delivered/s over the steady part / the simulator's limit, at least
    "worker_ms_per_message": 0.4,  # CPU of all workers per delivered message in the steady part, at most
    "sim_ms_per_message": 0.3,     # CPU of the simulator per delivered message in the steady part, at most
}
TEMPLATE = "sim_tmpl_announcement"  # wechat.templates.announcement of config.example.toml


# ---------------------------------------------------------------------------------------------
# Services: the simulator and the workers (redis-server: bench/harness.py)


def start_simulator(run: harness.Run, args, env: dict[str, str]) -> harness.Proc:
    """The simulator with its limit at --rate, on a free port (`proc.port`), once it answers."""
    env = {**env, "BENCH_SIM_RATE": str(args.rate)}
    if args.sim_server == "gunicorn":
        proc = run.gunicorn("simulator", "bench.broadcast_sim:create()", env, workers=1, worker_class="gthread",
                            threads=args.sim_threads, timeout=60, extra=("--backlog", "2048"))
    else:  # `flask wechat-sim` as shipped, on granian (without its access log) or werkzeug
        port = harness.free_port()
        quiet = ["--no-access-log"] if args.sim_server == "granian" else []
        proc = run.spawn("simulator", [sys.executable, "-m", "flask", "wechat-sim", "--host", "127.0.0.1",
                                       "--port", str(port), "--rate-limit", str(args.rate),
                                       "--server", args.sim_server, *quiet], env)
        proc.port = port

    def probe() -> None:
        config = harness.http_json(proc.port, "GET", "/_sim/config", timeout=2)
        if float(config["rate_limit_per_second"]) != float(args.rate):
            harness.http_json(proc.port, "POST", "/_sim/config", {"rate_limit_per_second": args.rate})

    harness.wait_ready(proc, probe)
    return proc


def start_worker(run: harness.Run, index: int, env: dict[str, str]) -> harness.Proc:
    return run.spawn(f"worker-{index}", [sys.executable, "-m", "flask", "jobs", "worker", "--interval", "0.2"], env)


# ---------------------------------------------------------------------------------------------
# Seed


def seed(db_url: str, n: int) -> dict[str, Any]:
    """Region tree, organisation and organiser with the app's code; N volunteers in bulk; the queued announcement."""
    import psycopg

    from app import create_app
    from app.extensions import db
    from app.timeutil import now_utc
    from models import Account, Organization, OrganizationStatus

    t0 = time.monotonic()
    tag = secrets.token_hex(3)
    app = create_app()
    with app.app_context():
        now = now_utc()
        city, _, _, community = harness.seed_region_chain(f"BB{tag}", "广播", (10_000_000, 1_000_000, 300_000, 150_000))
        org = Organization(name=f"广播基准志愿者协会 {tag}", region_id=community.id,
                           status=OrganizationStatus.APPROVED, approved_at=now, created_at=now)
        author = Account(mp_openid=f"sim_bb{tag}_author", created_at=now, last_login_at=now)
        db.session.add_all([org, author])
        db.session.commit()
        city_id, community_id, org_id, author_id = city.id, community.id, org.id, author.id
        db.session.remove()
    prefix = f"sim_bb{tag}_v"
    with psycopg.connect(libpq_url(db_url)) as conn:
        with conn.cursor() as cur:
            with cur.copy("COPY accounts (mp_openid, created_at, last_login_at) FROM STDIN") as copy:
                for i in range(n):
                    copy.write_row((f"{prefix}{i:07d}", now, now))
            cur.execute(
                "INSERT INTO volunteers (account_id, real_name, mobile, categories, skills, region_id, status, "
                "reviewed_at, total_service_minutes, service_record_count, created_at, updated_at) "
                "SELECT id, '志愿者' || id, '139' || lpad((id %% 100000000)::text, 8, '0'), '[]', '[]', %s, "
                "'approved', %s, 0, 0, %s, %s FROM accounts WHERE mp_openid LIKE %s ORDER BY id",
                (community_id, now, now, now, prefix + "%"))
            cur.execute(
                "INSERT INTO subscription_credits (account_id, template_id, remaining, updated_at) "
                "SELECT id, %s, 1, %s FROM accounts WHERE mp_openid LIKE %s", (TEMPLATE, now, prefix + "%"))
            audience = json.dumps({"kind": "region", "id": city_id, "categories": [], "skills": []})
            cur.execute(
                "INSERT INTO announcements (organization_id, author_account_id, title, body, audience, status, "
                "recipient_count, unreachable_count, fanout_cursor, created_at) "
                "VALUES (%s, %s, %s, %s, %s, 'queued', 0, 0, 0, %s) RETURNING id",
                (org_id, author_id, "社区防汛志愿者集结", "请各位志愿者于本周六上午九点到社区服务站集合，参加防汛物资转运。",
                 audience, now))
            announcement_id = cur.fetchone()[0]
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE")
    return {"announcement_id": announcement_id, "seconds": time.monotonic() - t0, "openid_prefix": prefix}


# ---------------------------------------------------------------------------------------------
# Phase 1: the fan-out, in a process of its own


def fanout_child() -> int:
    """Run in a fresh interpreter: fan the queued announcement out; print one JSON line of figures."""

    def status_mb(key: str) -> float:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    from app import create_app
    from app.db import unit_of_work
    from app.extensions import db, settings
    from app.services import broadcasts
    from app.timeutil import now_utc

    app = create_app()
    with app.app_context():
        batch_size = int(settings()["delivery"]["fanout_batch_size"])
        db.session.execute(db.text("SELECT 1"))  # connect before the clock starts
        db.session.commit()
        rss_before = status_mb("VmRSS")
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        rows = batches = 0
        while True:
            with unit_of_work():
                written = broadcasts.fan_out_next(now=now_utc(), batch_size=batch_size)
            if written == 0:
                break
            rows += written
            batches += 1
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        db.session.remove()
    print(json.dumps({
        "rows": rows, "batches": batches, "batch_size": batch_size, "seconds": seconds, "cpu_seconds": cpu,
        "rss_before_mb": rss_before, "peak_mb": status_mb("VmHWM"),
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }), flush=True)
    return 0


def run_fanout(env: dict[str, str]) -> dict[str, Any]:
    window = harness.CpuWindow(postgres=postgres_cpu_seconds, machine=harness.machine_cpu_seconds)
    window.start()
    run = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--fanout-child"], check=False, cwd=REPO_ROOT,
                         env=env, capture_output=True, text=True, timeout=900)
    used = window.stop()
    if run.returncode != 0:
        raise RuntimeError(f"fan-out process failed (exit {run.returncode}):\n{run.stdout[-2000:]}{run.stderr[-3000:]}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    result["postgres_cpu_seconds"] = used["postgres"]
    result["machine_cpu_seconds"] = used["machine"]
    result["process_wall_seconds"] = window.elapsed
    return result


def postgres_cpu_seconds() -> float:
    return harness.service_cpu_seconds()["postgres"]


def outbox_counts(conn, announcement_id: int) -> Counter:
    rows = conn.execute("SELECT channel, status, count(*) FROM notifications WHERE announcement_id = %s "
                        "GROUP BY channel, status", (announcement_id,)).fetchall()
    return Counter({f"{channel}/{status}": count for channel, status, count in rows})


# ---------------------------------------------------------------------------------------------
# Phase 2: delivery


def startup_cpu_seconds(env: dict[str, str]) -> float:
    """CPU seconds of a worker's start-up (imports and create_app), measured in a fresh process."""
    import resource
    import subprocess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", "from app import create_app; create_app()"], env=env, check=True,
                   cwd=str(REPO_ROOT), stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_delivery(run: harness.Run, args, env: dict[str, str], db_url: str, announcement_id: int, expected: int,
                 redis_proc: harness.Proc) -> dict[str, Any]:
    import psycopg

    startup = startup_cpu_seconds(env)
    sim = start_simulator(run, args, env)
    sim_port = sim.port
    log(f"simulator ({args.sim_server}) on 127.0.0.1:{sim_port}, limit {args.rate:g}/s; "
        f"starting {args.workers} workers")
    env = {**env, "APP_WECHAT__API_BASE": f"http://127.0.0.1:{sim_port}",
           "APP_WECHAT__WECOM_API_BASE": f"http://127.0.0.1:{sim_port}"}
    workers: list[harness.Proc] = []
    killed: list[harness.Proc] = []
    events: list[str] = []
    # (time.time(), subscribe messages, 45009 answers, CPU s of all workers so far, of the simulator so far,
    #  workers started so far)
    timeline: list[tuple[float, int, int, float, float, int]] = []
    try:
        window = harness.CpuWindow(postgres=postgres_cpu_seconds, redis=redis_proc.cpu_seconds,
                                   simulator=sim.cpu_seconds, machine=harness.machine_cpu_seconds,
                                   bench=harness.self_cpu_seconds)
        window.start()
        t_start = time.time()
        for i in range(args.workers):
            workers.append(start_worker(run, i + 1, env))
        kill_at = None if args.no_kill else int(expected * args.kill_at)
        deadline = time.monotonic() + expected / args.rate * 4 + 180
        next_db_check = 0.0
        done_at = None
        with psycopg.connect(libpq_url(db_url), autocommit=True) as conn:
            while time.monotonic() < deadline:
                stats = harness.http_json(sim_port, "GET", "/_sim/stats", timeout=10)
                sent = int(stats["messages"]["subscribe"])
                timeline.append((time.time(), sent, int(stats["rate_limited"]), sum(w.cpu_seconds() for w in workers),
                                 sim.cpu_seconds(), len(workers)))
                for w in workers:
                    if not w.alive() and w not in killed:
                        raise RuntimeError(f"{w.name} exited with {w.proc.returncode}:\n{w.log_tail()}")
                if kill_at is not None and sent >= kill_at and not killed:
                    victim = workers[0]
                    sending = conn.execute("SELECT count(*) FROM notifications WHERE announcement_id = %s AND "
                                           "status = 'sending'", (announcement_id,)).fetchone()[0]
                    victim.kill()
                    killed.append(victim)
                    replacement = start_worker(run, len(workers) + 1, env)
                    workers.append(replacement)
                    events.append(f"{time.time() - t_start:6.1f} s  SIGKILL {victim.name} (pid {victim.pid}) at "
                                  f"{sent} delivered ({sent / expected:.0%}); {sending} rows 'sending' in all "
                                  f"workers just before; started {replacement.name}")
                    log("  " + events[-1])
                if time.monotonic() >= next_db_check:
                    next_db_check = time.monotonic() + 1.0
                    counts = outbox_counts(conn, announcement_id)
                    open_rows = sum(v for k, v in counts.items() if k.endswith(("/pending", "/sending")))
                    if args.progress:
                        log(f"  {time.time() - t_start:6.1f} s  delivered {sent:>7}  45009 {stats['rate_limited']:>6}  "
                            f"open rows {open_rows}")
                    if open_rows == 0 and (kill_at is None or killed):
                        done_at = time.time()
                        break
                time.sleep(0.25)
        if done_at is None:
            events.append("TIMED OUT before every row was settled")
            log("  " + events[-1])
        cpu = window.stop()
        worker_cpu = {w.name + (" (killed)" if w in killed else ""): w.cpu_seconds() for w in workers}
        for w in workers:
            w.stop()
        stats = harness.http_json(sim_port, "GET", "/_sim/stats", timeout=10)
        t_fetch = time.monotonic()
        record = harness.http_json(sim_port, "GET", f"/_sim/messages?api=subscribe&template_id={TEMPLATE}", timeout=300)
        fetch_seconds = time.monotonic() - t_fetch
    finally:
        for w in workers:
            w.stop()
        sim.stop()
    return {"record": record["messages"], "stats": stats, "timeline": timeline, "events": events,
            "cpu": cpu, "worker_cpu": worker_cpu, "startup_cpu_seconds": startup, "t_start": t_start, "t_end": done_at or time.time(),
            "fetch_seconds": fetch_seconds, "logs": {w.name: w.log_path for w in workers}}


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def max_in_window(times: list[float], width: float = 1.0) -> int:
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - width:
            j += 1
        best = max(best, i - j + 1)
    return best


def steady_cpu(delivery: dict[str, Any], expected: int) -> dict[str, Any]:
    """CPU per delivered message of the workers and of the simulator over the steady part (5 %..95 % of the
    messages, from the samples taken every 0.25 s): the workers' start-up and the tail are left out. A
    worker started inside that part (the replacement after the kill) brings its start-up CPU in; it is
    subtracted as measured apart (`startup_cpu_seconds`, create_app in a fresh process)."""
    timeline = delivery["timeline"]
    if len(timeline) < 3:
        return {}
    lo = next((s for s in timeline if s[1] >= expected * 0.05), None)
    hi = next((s for s in timeline if s[1] >= expected * 0.95), timeline[-1])
    if lo is None or hi[1] <= lo[1]:
        return {}
    messages = hi[1] - lo[1]
    started_inside = hi[5] - lo[5]
    workers = hi[3] - lo[3] - started_inside * delivery.get("startup_cpu_seconds", 0.0)
    return {"steady_cpu_messages": messages, "steady_cpu_seconds": hi[0] - lo[0],
            "worker_ms_per_message": 1000 * workers / messages,
            "sim_ms_per_message": 1000 * (hi[4] - lo[4]) / messages,
            "workers_started_inside": started_inside}


def analyse(db_url: str, announcement_id: int, expected: int, openid_prefix: str, delivery: dict[str, Any],
            rate: float, batch_size: int) -> dict[str, Any]:
    import psycopg

    record = [m for m in delivery["record"] if str(m.get("touser", "")).startswith(openid_prefix)]
    times = sorted(parse_time(m["received_at"]) for m in record)
    per_openid = Counter(m["touser"] for m in record)
    recorded_msgids = {m["msgid"] for m in record}
    with psycopg.connect(libpq_url(db_url)) as conn:
        rows = conn.execute(
            "SELECT n.status, n.channel, n.wechat_msgid, a.mp_openid FROM notifications n "
            "JOIN accounts a ON a.id = n.account_id WHERE n.announcement_id = %s", (announcement_id,)).fetchall()
    by_status = Counter(status for status, _, _, _ in rows)
    channels = Counter(channel for _, channel, _, _ in rows)
    sent_missing = sum(1 for status, _, msgid, openid in rows
                       if status == "sent" and (openid not in per_openid or msgid not in recorded_msgids))
    unsettled = sum(1 for status, *_ in rows if status not in ("sent", "ambiguous"))
    ambiguous_delivered = sum(1 for status, _, _, openid in rows if status == "ambiguous" and openid in per_openid)
    # Delivered although the database says neither sent nor ambiguous: nobody would know it left.
    unaccounted = sum(1 for status, _, _, openid in rows if status not in ("sent", "ambiguous") and openid in per_openid)
    result: dict[str, Any] = {
        "outbox_rows": len(rows), "by_status": dict(by_status), "channels": dict(channels),
        "delivered": len(record), "unique_recipients": len(per_openid),
        "duplicates": sum(c - 1 for c in per_openid.values() if c > 1),
        "lost": unsettled + sent_missing + (expected - len(rows)), "lost_unsettled": unsettled,
        "lost_sent_not_recorded": sent_missing, "missing_rows": expected - len(rows),
        "ambiguous": by_status.get("ambiguous", 0), "ambiguous_delivered": ambiguous_delivered,
        "unaccounted_deliveries": unaccounted, "rate_limited": int(delivery["stats"]["rate_limited"]),
    }
    if len(times) >= 20:
        n = len(times)
        lo, hi = times[int(n * 0.05)], times[int(n * 0.95) - 1]
        result["steady_rate"] = (int(n * 0.95) - 1 - int(n * 0.05)) / (hi - lo) if hi > lo else float("nan")
        result["steady_window"] = (lo - times[0], hi - times[0])
        result["overall_rate"] = (n - 1) / (times[-1] - times[0]) if times[-1] > times[0] else float("nan")
        result["delivery_seconds"] = times[-1] - times[0]
        result["max_1s"] = max_in_window(times)
        start = int(times[0])
        buckets = Counter(int(t) - start for t in times)
        result["per_second"] = [buckets.get(s, 0) for s in range(int(times[-1]) - start + 1)]
    result["achieved_over_limit"] = result.get("steady_rate", 0.0) / rate if rate else None
    result.update(steady_cpu(delivery, expected))
    result["ambiguous_limit"] = batch_size
    return result


# ---------------------------------------------------------------------------------------------
# Report


def report(settings: dict[str, Any], seeded: dict[str, Any], fan: dict[str, Any] | None,
           delivery: dict[str, Any] | None, figures: dict[str, Any] | None, args) -> dict[str, Any]:
    harness.print_settings(settings, 22)
    print(f"\nSeeding: {args.volunteers} accounts, approved volunteers and subscribe credits in "
          f"{seeded['seconds']:.1f} s (COPY + INSERT … SELECT; not a figure)")
    if fan is not None:
        print("\nPhase 1: fan-out (broadcasts.fan_out_next in its own process, "
              f"{fan['batch_size']} recipients per transaction)")
        header = f"{'rows':>8}{'batches':>9}{'seconds':>9}{'rows/s':>9}{'peak MB':>9}{'RSS before':>11}" \
                 f"{'CPU s':>7}{'postgres CPU s':>16}"
        harness.print_header(header)
        print(f"{fan['rows']:>8}{fan['batches']:>9}{fan['seconds']:>9.2f}{fan['rows'] / fan['seconds']:>9.0f}"
              f"{fan['peak_mb']:>9.1f}{fan['rss_before_mb']:>11.1f}{fan['cpu_seconds']:>7.1f}"
              f"{fan['postgres_cpu_seconds']:>16.1f}")
        print("(peak MB is VmHWM of the fan-out process, imports and app included; 'RSS before' is its resident "
              "memory after create_app, before the first batch;\n CPU s is that process's CPU during the fan-out; "
              "postgres CPU s is all PostgreSQL processes meanwhile)")
    if delivery is not None and figures is not None:
        f = figures
        print(f"\nPhase 2: delivery ({args.workers} workers, shared bucket {args.rate:g}/s, simulator limit "
              f"{args.rate:g}/s, batch {args.batch_size})")
        for event in delivery["events"]:
            print(f"  {event}")
        header = f"{'steady/s':>9}{'overall/s':>10}{'max 1 s':>9}{'45009':>7}{'seconds':>9}{'delivered':>10}" \
                 f"{'unique':>8}{'dupl.':>7}{'lost':>6}{'ambig.':>8}"
        harness.print_header(header)
        print(f"{f.get('steady_rate', float('nan')):>9.0f}{f.get('overall_rate', float('nan')):>10.0f}"
              f"{f.get('max_1s', 0):>9}{f['rate_limited']:>7}{f.get('delivery_seconds', float('nan')):>9.1f}"
              f"{f['delivered']:>10}{f['unique_recipients']:>8}{f['duplicates']:>7}{f['lost']:>6}{f['ambiguous']:>8}")
        if "steady_window" in f:
            print(f"(steady: messages 5 %..95 %, {f['steady_window'][0]:.1f}..{f['steady_window'][1]:.1f} s after the "
                  f"first; overall: first to last message; max 1 s: most messages received in any 1-s window)")
        print(f"outbox rows by status: {dict(sorted(f['by_status'].items()))}; channels: {f['channels']}")
        print(f"lost = {f['lost_unsettled']} rows neither sent nor ambiguous + {f['lost_sent_not_recorded']} sent but "
              f"not in the simulator's record + {f['missing_rows']} rows never written; ambiguous rows the simulator "
              f"did receive: {f['ambiguous_delivered']} of {f['ambiguous']}; deliveries the database does not know "
              f"of: {f['unaccounted_deliveries']}")
        if f.get("per_second"):
            print("delivered per second: " + " ".join(str(x) for x in f["per_second"]))
        cpu = delivery["cpu"]
        window = delivery["t_end"] - delivery["t_start"]
        delivered = max(1, f["delivered"])
        print(f"\nCPU seconds over the delivery phase ({window:.1f} s wall, {os.cpu_count()} cores = "
              f"{window * (os.cpu_count() or 1):.0f} core-seconds available)")
        rows = [(name, secs) for name, secs in delivery["worker_cpu"].items()]
        rows += [("workers, all", sum(delivery["worker_cpu"].values())), ("simulator", cpu["simulator"]),
                 ("postgres (all)", cpu["postgres"]), ("redis-server", cpu["redis"]), ("this script", cpu["bench"])]
        named = sum(delivery["worker_cpu"].values()) + cpu["simulator"] + cpu["postgres"] + cpu["redis"] + cpu["bench"]
        rows += [("other (kernel, …)", cpu["machine"] - named), ("machine busy", cpu["machine"])]
        print(f"  {'process':<22}{'CPU s':>8}{'% of a core':>13}{'ms per message':>16}")
        for name, secs in rows:
            print(f"  {name:<22}{secs:>8.1f}{100 * secs / window:>12.0f}%{1000 * secs / delivered:>16.3f}")
        print("  (the workers' figures include their start-up: imports and create_app, "
              f"{delivery.get('startup_cpu_seconds', float('nan')):.1f} s each measured apart)")
        if "worker_ms_per_message" in f:
            note = (f"; {f['workers_started_inside']} worker start-up(s) inside, subtracted"
                    if f["workers_started_inside"] else "")
            print(f"steady part ({f['steady_cpu_messages']} messages, 5 %..95 %, {f['steady_cpu_seconds']:.1f} s"
                  f"{note}): workers {f['worker_ms_per_message']:.3f} ms CPU per message, simulator "
                  f"{f['sim_ms_per_message']:.3f} ms")
    print("\nTargets")
    table = harness.TargetTable(46, 10, 12)
    if fan is not None:
        passed = fan["seconds"] < TARGETS["fanout_seconds"] and fan["rows"] == args.volunteers
        table.record("fanout_seconds", f"fan-out seconds for {fan['rows']} rows", fan["seconds"],
                     f"< {TARGETS['fanout_seconds']:.0f}", passed, target_max=TARGETS["fanout_seconds"])
        passed = fan["peak_mb"] < TARGETS["fanout_peak_mb"]
        table.record("fanout_peak_mb", "fan-out process peak MB", fan["peak_mb"], f"< {TARGETS['fanout_peak_mb']:.0f}",
                     passed, target_max=TARGETS["fanout_peak_mb"])
    if figures is not None:
        f = figures
        value = f.get("achieved_over_limit")
        passed = None if value is None else value >= TARGETS["achieved_over_limit"]
        table.record("achieved_over_limit", "achieved rate / limit (steady part)", value,
                     f">= {TARGETS['achieved_over_limit']}", passed, target_min=TARGETS["achieved_over_limit"])
        for key, label in (("worker_ms_per_message", "workers' CPU ms per message (steady part)"),
                           ("sim_ms_per_message", "simulator's CPU ms per message (steady part)")):
            value = f.get(key)
            table.record(key, label, value, f"<= {TARGETS[key]}", None if value is None else value <= TARGETS[key],
                         target_max=TARGETS[key])
        value = f.get("max_1s", 0) / args.rate
        table.record("max_1s_over_limit", "max messages in any 1 s / limit", value, "<= 1.1", value <= 1.1,
                     target_max=1.1)
        # Every row reached the simulator once, except ambiguous rows whose request never arrived.
        expected = args.volunteers - (f["ambiguous"] - f["ambiguous_delivered"])
        ok = f["delivered"] == expected
        table.record("delivered", "messages in the simulator's record", f["delivered"],
                     f"= {expected}" if expected != args.volunteers else f"= {args.volunteers}", ok, target=expected)
        for key in ("duplicates", "lost"):
            table.record(key, key, f[key], "0", f[key] == 0, target=0)
        limit = args.batch_size * (0 if args.no_kill else 1)
        ok = f["ambiguous"] <= limit
        table.record("ambiguous", "ambiguous", f["ambiguous"], f"<= {limit}", ok, target_max=limit)
    parts = []
    if figures is not None and figures.get("achieved_over_limit") is not None:
        parts.append(f"achieved/limit {figures['achieved_over_limit']:.2f} (>= 0.95)")
    if fan is not None:
        parts.append(f"fan-out s/20 {fan['seconds'] / TARGETS['fanout_seconds']:.2f} (< 1)")
        parts.append(f"peak MB/200 {fan['peak_mb'] / TARGETS['fanout_peak_mb']:.2f} (< 1)")
    if figures is not None:
        parts.append(f"max 1 s/limit {figures.get('max_1s', 0) / args.rate:.2f}")
        parts.append(f"delivered {figures['delivered']}/{args.volunteers}, duplicates {figures['duplicates']}, "
                     f"lost {figures['lost']}, ambiguous {figures['ambiguous']}")
    print("\nSummary: " + "; ".join(parts))
    return table.checks


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--volunteers", type=int, default=100_000, help="recipients of the broadcast (default 100000)")
    p.add_argument("--rate", type=int, default=2000,
                   help="the simulator's limit and the workers' shared bucket, sends/s (default 2000)")
    p.add_argument("--rates", default=None,
                   help="comma-separated limits (e.g. 1500,2000): one whole run per limit, one after the other, "
                        "then the targets side by side")
    p.add_argument("--workers", type=int, default=2, help="`flask jobs worker` processes (default 2)")
    p.add_argument("--no-kill", action="store_true", help="do not kill a worker during the delivery")
    p.add_argument("--kill-at", type=float, default=0.4, help="kill when this share was delivered (default 0.4)")
    p.add_argument("--batch-size", type=int, default=50, help="delivery.batch_size: rows a worker claims (default 50)")
    p.add_argument("--concurrency", type=int, default=16, help="delivery.concurrency: parallel sends per worker "
                                                               "(default 16)")
    p.add_argument("--sim-server", choices=["granian", "gunicorn", "werkzeug"], default="granian",
                   help="granian: `flask wechat-sim` as shipped, one process, 16 threads (default); gunicorn: one "
                        "process, gthread; werkzeug: `flask wechat-sim --server werkzeug`")
    p.add_argument("--sim-threads", type=int, default=16, help="gunicorn threads of the simulator (default 16)")
    harness.add_quiet_wait_option(p)
    p.add_argument("--skip-delivery", action="store_true", help="phase 1 only")
    p.add_argument("--progress", action="store_true", help="print progress every second during the delivery")
    harness.add_server_url_option(p)
    harness.add_json_option(p)
    harness.add_keep_tmp_option(p, "config, logs")
    p.add_argument("--fanout-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.volunteers < 1 or args.workers < 1 or args.rate <= 0:
        p.error("--volunteers, --workers and --rate must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.fanout_child:
        return fanout_child()
    if not args.rates:
        return harness.run_main(lambda run: measure(run, args), tmp_prefix="bench-broadcast-", keep_tmp=args.keep_tmp)
    rates = [int(rate) for rate in args.rates.split(",") if rate.strip()]
    results: dict[int, dict[str, Any]] = {}
    code = 0
    for rate in rates:
        args.rate = rate
        print(f"\n===== limit {rate}/s =====", flush=True)
        code = max(code, harness.run_main(lambda run: measure(run, args, into=results.setdefault(rate, {})),
                                          tmp_prefix="bench-broadcast-", keep_tmp=args.keep_tmp))
    print_side_by_side(results)
    return code


def print_side_by_side(results: dict[int, dict[str, Any]]) -> None:
    """The targets of every limit's run in one table."""
    keys = []
    for checks in results.values():
        keys += [key for key in checks if key not in keys]
    print("\nTargets by limit")
    print(f"  {'target':<26}" + "".join(f"{f'{rate}/s':>18}" for rate in results))
    for key in keys:
        cells = []
        for checks in results.values():
            check = checks.get(key)
            if check is None:
                cells.append(f"{'-':>18}")
                continue
            value = check["value"]
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            verdict = {True: "PASS", False: "FAIL", None: "n/a"}[check["pass"]]
            cells.append(f"{shown + ' ' + verdict:>18}")
        print(f"  {key:<26}" + "".join(cells))


def measure(run: harness.Run, args, into: dict[str, Any] | None = None) -> int:
    fan = delivery = figures = None
    settings: dict[str, Any] = {
        "volunteers": f"{args.volunteers}, approved, one region subtree, one subscribe credit each",
        "delivery": f"{args.workers} x `flask jobs worker`"
                    f", shared bucket {args.rate:g}/s, batch {args.batch_size}, "
                    f"{args.concurrency} parallel sends each; lease 10 s, backoff 1 s",
        "simulator": {"gunicorn": f"gunicorn 1 process x {args.sim_threads} threads (gthread)",
                      "granian": "`flask wechat-sim` (granian, 1 process x 16 threads)",
                      "werkzeug": "`flask wechat-sim --server werkzeug` (threaded)"}[args.sim_server]
                     + f", limit {args.rate:g}/s (45009 beyond)",
        "kill": "none" if args.no_kill else f"SIGKILL one worker at {args.kill_at:.0%} delivered, replacement started",
        "app code": f"sha256 {harness.code_fingerprint()} of app/, handlers/, models/ (*.py), measured "
                    f"{time.strftime('%Y-%m-%d %H:%M')}",
        "machine": f"{os.cpu_count()} cores",
    }
    try:
        db_url = run.throwaway_database(args.server_url, "bench_broadcast")
        settings["database"] = f"{harness.mask_url(db_url)} (throwaway, dropped at the end; the server's own settings)"
        redis_proc, redis_url = run.redis_server()
        settings["redis"] = f"own redis-server at {redis_url}, no persistence"
        log(f"database: {harness.mask_url(db_url)}; redis: {redis_url}")
        env = {
            **os.environ,
            "FLASK_APP": "app:create_app",
            **harness.app_environment(
                run.tmp, db_url, redis_url,
                APP_DELIVERY__SUBSCRIBE_PER_SECOND=str(args.rate),
                APP_DELIVERY__TEMPLATE_PER_SECOND=str(args.rate),
                APP_DELIVERY__BATCH_SIZE=str(args.batch_size),
                APP_DELIVERY__CONCURRENCY=str(args.concurrency),
                APP_DELIVERY__BACKOFF_SECONDS="1",
                APP_DELIVERY__BACKOFF_MAX_SECONDS="5",
                APP_DELIVERY__LEASE_SECONDS="10",
                APP_SIMULATOR__RATE_LIMIT_PER_SECOND=str(args.rate),
            ),
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith(("APP_", "FLASK_"))})
        t0 = time.monotonic()
        harness.migrate(env)
        log(f"migrated in {time.monotonic() - t0:.1f} s; seeding {args.volunteers} volunteers ...")
        seeded = seed(db_url, args.volunteers)
        log(f"seeded in {seeded['seconds']:.1f} s (not a figure); announcement {seeded['announcement_id']}")
    except (harness.SetupError, OSError, RuntimeError) as exc:
        print(f"set-up failed: {exc}", file=sys.stderr, flush=True)
        return 1

    quiet_waits = []
    if args.quiet_wait > 0:
        quiet_waits.append(harness.wait_until_quiet(args.quiet_wait))
    log("phase 1: fan-out ...")
    fan = run_fanout(env)
    log(f"  {fan['rows']} rows in {fan['seconds']:.2f} s, peak {fan['peak_mb']:.1f} MB")
    if not args.skip_delivery:
        if args.quiet_wait > 0:
            quiet_waits.append(harness.wait_until_quiet(args.quiet_wait))
        log(f"phase 2: delivery of {fan['rows']} messages at {args.rate:g}/s ...")
        delivery = run_delivery(run, args, env, db_url, seeded["announcement_id"], args.volunteers, redis_proc)
        figures = analyse(db_url, seeded["announcement_id"], args.volunteers, seeded["openid_prefix"], delivery,
                          args.rate, args.batch_size)
    checks = report(settings, seeded, fan, delivery, figures, args)
    if into is not None:
        into.update(checks)
    if args.json:
        harness.write_json(args.json, {
            "settings": {**settings, "volunteers": args.volunteers, "rate": args.rate, "workers": args.workers,
                         "seeding_seconds": seeded["seconds"]},
            "fanout": fan,
            "delivery": None if figures is None else {
                **figures, "events": delivery["events"], "cpu_seconds": delivery["cpu"],
                "worker_cpu_seconds": delivery["worker_cpu"]},
            "checks": checks,
        })
    return 0


if __name__ == "__main__":
    sys.exit(main())
