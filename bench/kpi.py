"""Benchmark of the KPIs (issue 11) over a generated city on PostgreSQL.

The city (bench/kpi_data.py): 10 districts, 100 streets, 1,000 communities, 1,000,000 volunteers,
200,000 activities and ~10,000,000 service records over three years at --scale 1.0, loaded with
COPY into a database that is kept (default issue11_bench), so the measurements can be repeated
with --reuse without generating again. Generation is timed apart and is not a figure.

Measured:
  refresh     the rollup (kpi_values) recomputed for the current month, quarter and year, and for
              every month, quarter and the year of a whole past year
  API         GET /api/v1/kpis under gunicorn, one request at a time over a kept-alive connection:
              the city with children=true (p99 < 100 ms) and communities (p99 < 50 ms)
  correctness for random nodes (the city, districts, streets, communities) and periods, every figure
              the API shows equals an independent SQL computation over the raw tables, written here
              from the definitions (never the app's code)
  bulletin    the monthly bulletin of every node of the city (< 60 s, peak memory < 300 MB), when the
              bulletin code is on the branch
  export      the XLSX export of every volunteer (< 120 s, peak memory < 200 MB), when the export code
              is on the branch
  scan path   what keeping the rollups current costs a captain's scan (target ≤ 10 % of its time)

Run from the repository root:
  .venv/bin/python bench/kpi.py --scale 0.05            # a quick run (50,000 volunteers)
  .venv/bin/python bench/kpi.py                         # the full city (generation takes minutes)
  .venv/bin/python bench/kpi.py --reuse                 # measure again on the city already generated
Exit code: 0 once measured (targets missed or not), 1 if the set-up failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import harness, kpi_data  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/issue11_bench"
TARGETS = {
    "city_children_p99_ms": 100.0,
    "community_p99_ms": 50.0,
    "bulletin_seconds": 60.0,
    "bulletin_peak_mb": 300.0,
    "export_seconds": 120.0,
    "export_peak_mb": 200.0,
    "scan_overhead_percent": 10.0,
}
ADMIN_OPENID = "bench_kpi_city_admin"


# ---------------------------------------------------------------------------------------------
# The database: generate, or reuse what an earlier run generated


def read_meta(conn: Any) -> dict[str, Any] | None:
    exists = conn.execute("SELECT to_regclass(%s)", (kpi_data.META_TABLE,)).fetchone()[0]
    if not exists:
        return None
    row = conn.execute(f"SELECT value FROM {kpi_data.META_TABLE} WHERE key = 'generated'").fetchone()
    return None if row is None else json.loads(row[0])


def write_meta(conn: Any, meta: dict[str, Any]) -> None:
    conn.execute(f"CREATE TABLE IF NOT EXISTS {kpi_data.META_TABLE} (key text PRIMARY KEY, value text NOT NULL)")
    conn.execute(f"INSERT INTO {kpi_data.META_TABLE} (key, value) VALUES ('generated', %s) "
                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (json.dumps(meta),))
    conn.commit()


def prepare_database(db_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Generate the city (or reuse it); return the generation's meta (timings, counts, when)."""
    import psycopg

    with psycopg.connect(harness.libpq_url(db_url)) as conn:
        meta = read_meta(conn)
        if args.reuse and meta and meta["scale"] == args.scale and meta["seed"] == args.seed:
            harness.log(f"reusing the city generated {meta['generated_at']} (scale {meta['scale']}, "
                        f"{meta['counts'].get('volunteers', 0):,} volunteers)")
            backfill_channel(conn, meta)
            meta["reused"] = True
            return meta
        if args.reuse:
            harness.log("--reuse: no city of this scale and seed in the database; generating")
        if meta is None:
            holds = conn.execute("SELECT count(*) FROM (SELECT 1 FROM volunteers LIMIT 1) s").fetchone()[0]
            if holds and not args.force:
                raise harness.SetupError(
                    f"{harness.mask_url(db_url)} holds volunteers that this benchmark did not generate; "
                    "it empties every table: give --force if that is meant")
        now = datetime.now(timezone.utc).replace(microsecond=0)
        harness.log(f"generating the city at scale {args.scale} (seed {args.seed}) with COPY "
                    f"({'indexes and foreign keys dropped and recreated' if not args.keep_indexes else 'indexes kept'}) ...")
        result = kpi_data.generate(conn, scale=args.scale, seed=args.seed, now=now,
                                   drop_indexes=not args.keep_indexes, log=harness.log)
        meta = {"scale": args.scale, "seed": args.seed, "generated_at": now.isoformat(),
                "drop_indexes": not args.keep_indexes, **result}
        write_meta(conn, meta)
        meta["reused"] = False
        return meta


def backfill_channel(conn: Any, meta: dict[str, Any]) -> None:
    """A city generated before `volunteers.registration_channel` existed gets the generator's mix
    (85 % self, 10 % organizer, 5 % import) by id, once."""
    has = conn.execute("SELECT 1 FROM information_schema.columns WHERE table_name = 'volunteers' "
                       "AND column_name = 'registration_channel'").fetchone()
    if not has or meta.get("registration_channel_written"):
        return
    t0 = time.monotonic()
    conn.execute("UPDATE volunteers SET registration_channel = CASE WHEN (id * 7919) % 100 < 85 THEN 'self' "
                 "WHEN (id * 7919) % 100 < 95 THEN 'organizer' ELSE 'import' END")
    conn.commit()
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE volunteers")
    conn.autocommit = False
    meta["registration_channel_written"] = True
    write_meta(conn, {k: v for k, v in meta.items() if k != "reused"})
    harness.log(f"registration_channel filled in for a city generated before it existed ({time.monotonic() - t0:.1f} s)")


def database_size(db_url: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(harness.libpq_url(db_url)) as conn:
        total = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        tables = conn.execute(
            "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class "
            "WHERE relname = ANY(%s) AND relkind = 'r' ORDER BY pg_total_relation_size(oid) DESC",
            (kpi_data.LOADED,)).fetchall()
    return {"database": total, "tables": dict(tables)}


# ---------------------------------------------------------------------------------------------
# Set-up for the measurements: the city's admin and the nodes


def city_admin(db_url: str) -> dict[str, Any]:
    """The city admin's bearer token (the account and grant made once), and the region tree's nodes."""
    import psycopg

    from app import create_app
    from app.extensions import db
    from app.services import accounts, roles
    from app.timeutil import now_utc
    from models import Account, Role

    app = create_app()
    with app.app_context():
        now = now_utc()
        with psycopg.connect(harness.libpq_url(db_url)) as conn:
            city_id = conn.execute("SELECT id FROM regions WHERE level = 'city' ORDER BY id LIMIT 1").fetchone()[0]
            nodes = {level: [r[0] for r in conn.execute(
                "SELECT id FROM regions WHERE level = %s AND retired_at IS NULL ORDER BY id", (level,)).fetchall()]
                for level in ("district", "street", "community")}
        account = db.session.query(Account).filter_by(mp_openid=ADMIN_OPENID).one_or_none()
        if account is None:
            account = Account(mp_openid=ADMIN_OPENID, created_at=now, last_login_at=now)
            db.session.add(account)
            db.session.flush()
        roles.grant(account.id, Role.ADMIN, region_id=city_id, now=now)
        db.session.commit()
        token = accounts.issue_token(account.id, app.extensions["settings"]["app"]["secret_key"],
                                     generation=account.token_generation)
        db.session.remove()
        db.engine.dispose()
    return {"token": token, "city_id": city_id, **nodes}


# ---------------------------------------------------------------------------------------------
# The refresh, each in a fresh process (its time and peak memory its own)


def internal_refresh(which: str) -> None:
    """Child process: refresh the live periods or every period of a year, print one JSON line."""
    from app import create_app
    from app.db import unit_of_work
    from app.extensions import db
    from app.services.kpi import refresh
    from app.timeutil import now_utc, to_local

    from app.services.kpi.periods import Period
    from models import KpiValue

    app = create_app()
    with app.app_context():
        now = now_utc()
        if which.startswith("missing:"):
            # Every period the trends of the given periods show that was never stored (what a first
            # read would compute inside the request).
            wanted = {past for key in which[len("missing:"):].split(",") for past in Period.parse(key).trend(12)}
            stored = set(db.session.scalars(db.select(KpiValue.period).distinct()))
            periods = sorted(p for p in wanted if p.key not in stored)
        else:
            periods = (refresh.live_periods(now) if which == "live"
                       else refresh.all_periods_of_years(to_local(now).year if which == "year" else int(which)))
        rss_before = peak_rss_mb()
        t0, cpu0 = time.monotonic(), cpu_s()
        with unit_of_work():
            rows = refresh.refresh(periods, now=now)
        seconds = time.monotonic() - t0
        db.engine.dispose()
    print(json.dumps({"seconds": seconds, "cpu_s": cpu_s() - cpu0, "rows": rows, "periods": [p.key for p in periods],
                      "peak_mb": peak_rss_mb(), "rss_before_mb": rss_before, "now": now.isoformat()}))


def cpu_s() -> float:
    """CPU seconds (user + system) of this process so far: the figure a crowded machine does not inflate."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM) in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_child(argv: list[str], timeout: float = 3600) -> dict[str, Any]:
    """Run `python bench/kpi.py --internal …` with the app's environment; its JSON line, and its CPU."""
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--internal", *argv], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.monotonic() - t0
    return result


def measure_refresh() -> dict[str, Any]:
    harness.log("refresh: the live periods (this month, quarter and year) ...")
    window = harness.CpuWindow(services=harness.service_cpu_seconds, children=harness.children_cpu_seconds)
    window.start()
    live = run_child(["refresh", "live"])
    used = window.stop()
    live["postgres_cpu_s"], live["python_cpu_s"] = used["postgres"], used["children"]
    harness.log(f"  {live['seconds']:.1f} s, {live['rows']} rows, peak {live['peak_mb']:.0f} MB")
    harness.log("refresh: every month, quarter and the year of this year (the nightly job does two years) ...")
    window.start()
    year = run_child(["refresh", "year"])
    used = window.stop()
    year["postgres_cpu_s"], year["python_cpu_s"] = used["postgres"], used["children"]
    harness.log(f"  {year['seconds']:.1f} s, {year['rows']} rows for {len(year['periods'])} periods, "
                f"peak {year['peak_mb']:.0f} MB")
    return {"live": live, "year": year}


def store_trend_periods(periods: list[str]) -> dict[str, Any]:
    """Refresh the periods the requests' trends show that were never stored (older quarters and years,
    which a first read would compute inside the request), so the API reads measure reads."""
    harness.log("storing the trend periods never refreshed (a first read would compute them in the request) ...")
    result = run_child(["refresh", "missing:" + ",".join(periods)])
    harness.log(f"  {len(result['periods'])} periods ({', '.join(result['periods'][:3])}"
                f"{' …' if len(result['periods']) > 3 else ''}) in {result['seconds']:.1f} s")
    return result


# ---------------------------------------------------------------------------------------------
# The monthly bulletin of every node, and the export of every volunteer (each in a fresh process)


def available(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def internal_bulletin() -> None:
    """Child process: freeze the due month's bulletin of every node as the scheduler's job does (claim every
    node, then the one `freeze_month` task's body), print one JSON line. PDFs are separate tasks: not queued.

    The month before is frozen first if it is not (not timed), so the 「上期数据更正」 comparison runs
    as in production; the measured month's bulletins are deleted first, so every run freezes them all.
    """
    from sqlalchemy import delete, func, select

    from app import create_app
    from app.db import unit_of_work
    from app.extensions import db
    from app.services import bulletins
    from app.services.bulletins import tasks
    from app.timeutil import now_utc
    from models import Bulletin, BulletinStatus

    tasks.render_pdf = lambda bulletin_id: None
    app = create_app()
    with app.app_context():
        now = now_utc()
        month = bulletins.due_month(now)
        previous = month.previous()
        with unit_of_work():
            db.session.execute(delete(Bulletin).where(Bulletin.month == month.key))
            bulletins.claim_due(previous, now=now)
        tasks.run_month(previous.key, now=now)
        rss_before = peak_rss_mb()
        t0, cpu0 = time.monotonic(), cpu_s()
        with unit_of_work():
            claimed = bulletins.claim_due(month, now=now)
        frozen = tasks.run_month(month.key, now=now)
        seconds = time.monotonic() - t0
        with unit_of_work():
            in_db = db.session.scalar(select(func.count()).select_from(Bulletin).where(
                Bulletin.month == month.key, Bulletin.status == BulletinStatus.FROZEN))
        db.engine.dispose()
    print(json.dumps({"seconds": seconds, "cpu_s": cpu_s() - cpu0, "month": month.key, "bulletins": len(claimed),
                      "claimed": len(claimed), "frozen": len(frozen),
                      "frozen_in_db": in_db, "peak_mb": peak_rss_mb(), "rss_before_mb": rss_before}))


def internal_export(admin_openid: str) -> None:
    """Child process: the XLSX export of every volunteer of the city as its admin, built as the task
    builds it (`exports.build`); one JSON line with the time and this process's peak memory."""
    from app import create_app
    from app.db import unit_of_work
    from app.extensions import db
    from app.services import exports, files
    from app.timeutil import now_utc
    from models import Account, Export, Region

    app = create_app()
    with app.app_context():
        now = now_utc()
        with unit_of_work():
            admin = db.session.query(Account).filter_by(mp_openid=admin_openid).one()
            city_id = db.session.query(Region.id).filter(Region.level == "city").order_by(Region.id).first()[0]
            export, _ = exports.request(admin, exports.Request(kind="volunteers", scope_type="region", scope_id=city_id,
                                                               nonce=f"bench-kpi-{time.time_ns()}"), now=now)
            export_id = export.id
        rss_before = peak_rss_mb()
        t0, cpu0 = time.monotonic(), cpu_s()
        outcome = exports.build(export_id, now=now_utc())
        seconds = time.monotonic() - t0
        row = db.session.get(Export, export_id)
        size = files.size(row.file_key) if row.file_key else 0
        db.engine.dispose()
    print(json.dumps({"seconds": seconds, "cpu_s": cpu_s() - cpu0, "outcome": str(outcome), "rows": row.row_count,
                      "bytes": size,
                      "peak_mb": peak_rss_mb(), "rss_before_mb": rss_before}))


def measure_bulletin() -> dict[str, Any] | None:
    if not available("app.services.bulletins"):
        return None
    harness.log("bulletin: last month's, every node with children ...")
    result = run_child(["bulletin"])
    harness.log(f"  {result['bulletins']} bulletins in {result['seconds']:.1f} s ({result['cpu_s']:.1f} s of CPU), "
                f"peak {result['peak_mb']:.0f} MB")
    return result


def measure_export() -> dict[str, Any] | None:
    if not available("app.services.exports"):
        return None
    harness.log("export: every volunteer of the city as XLSX ...")
    result = run_child(["export", ADMIN_OPENID])
    harness.log(f"  {result['rows']:,} rows in {result['seconds']:.1f} s ({result['cpu_s']:.1f} s of CPU), "
                f"{result['bytes'] / 1e6:.1f} MB, peak {result['peak_mb']:.0f} MB")
    return result


# ---------------------------------------------------------------------------------------------
# GET /api/v1/kpis under gunicorn


def get_json(port: int, path: str, token: str, conn_holder: dict) -> tuple[float, dict[str, Any]]:
    """One GET on a kept-alive connection (reopened when the server closed it); (seconds, JSON)."""
    import http.client

    headers = {"Authorization": f"Bearer {token}"}
    for attempt in (1, 2):
        conn = conn_holder.get("conn")
        if conn is None:
            conn = conn_holder["conn"] = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        t0 = time.perf_counter()
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
        except (http.client.HTTPException, OSError):
            conn.close()
            conn_holder["conn"] = None
            if attempt == 2:
                raise
            continue
        elapsed = time.perf_counter() - t0
        if response.will_close:
            conn.close()
            conn_holder["conn"] = None
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status} {body[:300]!r}")
        return elapsed, json.loads(body)
    raise AssertionError("unreachable")


def measure_api(port: int, server_cpu: Any, city: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    token = city["token"]
    holder: dict[str, Any] = {}
    communities = rng.sample(city["community"], min(100, len(city["community"])))
    cases = {
        "city, children=true": lambda i: f"/api/v1/kpis?region_id={city['city_id']}&children=true",
        "a district, children=true": lambda i: f"/api/v1/kpis?region_id={city['district'][i % len(city['district'])]}"
                                               "&children=true",
        "a community": lambda i: f"/api/v1/kpis?region_id={communities[i % len(communities)]}",
    }
    for i in range(10):  # warm the workers (imports, connection pool, plans)
        for make in cases.values():
            get_json(port, make(i), token, holder)
    results: dict[str, Any] = {}
    for label, make in cases.items():
        if args.quiet_wait > 0:
            harness.wait_until_quiet(args.quiet_wait)
        window = harness.CpuWindow(machine=harness.machine_cpu_seconds, bench=harness.self_cpu_seconds,
                                   services=harness.service_cpu_seconds, server=server_cpu)
        window.start()
        times, size = [], 0
        for i in range(args.requests):
            elapsed, body = get_json(port, make(i), token, holder)
            times.append(elapsed)
            size = max(size, len(json.dumps(body)))
        used = window.percent(window.stop())
        results[label] = {**harness.latency_summary(sorted(times)), "requests": len(times), "bytes": size,
                          "server_cpu_pct": used["server"], "postgres_cpu_pct": used["postgres"],
                          "other_cpu_pct": max(used["machine"] - used["postgres"] - used["redis"] - used["server"]
                                               - used["bench"], 0.0)}
        harness.log(f"  {label}: p50 {results[label]['p50_ms']:.1f} ms, p99 {results[label]['p99_ms']:.1f} ms")
    return results


def correctness_periods() -> list[str]:
    """This month (also what the latency cases read), this quarter, this year, June and the second quarter."""
    from bench.kpi_check import SHANGHAI

    now = datetime.now(SHANGHAI)
    return [f"{now.year}-{now.month:02d}", f"{now.year}-Q{(now.month - 1) // 3 + 1}", str(now.year),
            f"{now.year}-06", f"{now.year}-Q2"]


def bulletin_months() -> list[str]:
    """Last month and the same month a year before (what the bulletin compares)."""
    from bench.kpi_check import SHANGHAI

    now = datetime.now(SHANGHAI)
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return [f"{year}-{month:02d}", f"{year - 1}-{month:02d}"]


def check_correctness(port: int, db_url: str, city: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """For random nodes (the city, districts, streets, communities) and periods, the API's figures equal
    the independent SQL's (bench/kpi_check.py) at the snapshot's time (`computed_at`)."""
    import psycopg

    from bench import kpi_check

    rng = random.Random(args.seed + 1)
    n = max(args.nodes, 4)
    picks = [city["city_id"]] + rng.sample(city["district"], max(1, n // 8)) + rng.sample(city["street"], max(1, n // 4))
    picks += rng.sample(city["community"], n - len(picks))
    this_month, *others = correctness_periods()
    holder: dict[str, Any] = {}
    cache: dict[int, dict[int, int | None]] = {}
    checked, failures, sql_seconds = 0, [], 0.0
    with psycopg.connect(harness.libpq_url(db_url)) as conn:
        for i, node in enumerate(picks):
            for period in (this_month, others[i % len(others)]):
                _, body = get_json(port, f"/api/v1/kpis?region_id={node}&period={period}", city["token"], holder)
                stamps = {f["computed_at"] for f in body["figures"]}
                if len(stamps) != 1 or None in stamps:
                    failures.append(f"region {node} {period}: figures of several snapshots {sorted(map(str, stamps))}")
                    continue
                at = datetime.fromisoformat(stamps.pop())
                t0 = time.monotonic()
                want = kpi_check.expected(conn, node, period, at, cache)
                sql_seconds += time.monotonic() - t0
                problems = kpi_check.compare(body["figures"], want)
                checked += 1
                if problems:
                    failures.append(f"region {node} ({body['region']['level']}) {period}: " + "; ".join(problems))
    return {"nodes": len(picks), "checked": checked, "failures": failures, "sql_seconds": sql_seconds,
            "pass": checked == 2 * len(picks) and not failures}


# ---------------------------------------------------------------------------------------------
# The scan path: what keeping the rollups current adds to a captain's scan


SCAN_PATH_MODULES = ["handlers/checkins.py", "app/services/checkins.py", "app/services/checkin_texts.py",
                     "app/services/service_records.py", "app/services/signups.py"]


def scan_path_cost(db_url: str, refresh_live: dict[str, Any] | None) -> dict[str, Any]:
    """Zero by construction, checked: no trigger on the tables a scan writes, no KPI code on its path.
    The indirect cost is the periodic refresh's share of the machine, reported beside it."""
    import psycopg

    with psycopg.connect(harness.libpq_url(db_url)) as conn:
        triggers = [r[0] for r in conn.execute(
            "SELECT tgrelid::regclass || '.' || tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid::regclass::text "
            "= ANY(%s)", (["checkins", "checkin_scans", "service_records", "signups", "volunteers"],)).fetchall()]
    mentions = []
    for rel in SCAN_PATH_MODULES:
        path = REPO_ROOT / rel
        if path.exists() and ("kpi" in path.read_text(encoding="utf-8").lower()):
            mentions.append(rel)
    duty = None
    if refresh_live:
        # jobs/schedule.py: kpi_refresh every 10 minutes.
        duty = 100 * (refresh_live["postgres_cpu_s"] + refresh_live["python_cpu_s"]) / 600
    return {"triggers": triggers, "modules_mentioning_kpi": mentions, "added_statements": 0 if not triggers and not
            mentions else None, "refresh_cpu_pct_of_a_core": duty}


# ---------------------------------------------------------------------------------------------
# Report


def print_generation(meta: dict[str, Any], sizes: dict[str, Any]) -> None:
    t = meta["timings"]
    print()
    print(f"Generation ({'reused from ' + meta['generated_at'] if meta.get('reused') else 'this run'}; "
          f"not a figure)")
    counts = meta["counts"]
    print("  rows        " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    print(f"  size        {sizes['database']} (" + ", ".join(f"{k} {v}" for k, v in list(sizes['tables'].items())[:4])
          + ")")
    steps = [("generate + COPY", "generate_and_copy_s"), ("  of which COPY writes", "copy_write_s"),
             ("drop indexes/FKs", "drop_s"), ("indexes", "indexes_s"), ("unique constraints", "unique_constraints_s"),
             ("foreign keys", "foreign_keys_s"), ("VACUUM ANALYZE", "vacuum_analyze_s"), ("total", "total_s")]
    print("  seconds     " + ", ".join(f"{label} {t[key]:.1f}" for label, key in steps if key in t))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, default=1.0,
                   help="size of the city: 1.0 = 1,000,000 volunteers, 200,000 activities, ~10,000,000 records; "
                        "0.05 for a quick run (default 1.0)")
    p.add_argument("--seed", type=int, default=11, help="seed of the generator (default 11)")
    p.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                   help=f"the database the city is generated in and kept (default {DEFAULT_DATABASE_URL}); "
                        "every table is emptied when generating")
    p.add_argument("--reuse", action="store_true",
                   help="measure on the city already generated in the database (same --scale and --seed), if any")
    p.add_argument("--force", action="store_true",
                   help="generate even in a database holding volunteers this benchmark did not generate")
    p.add_argument("--keep-indexes", action="store_true",
                   help="COPY into the tables with their indexes in place (default: drop them before and "
                        "recreate them after, which is faster; the foreign keys are dropped and recreated either way)")
    p.add_argument("--skip-refresh", action="store_true",
                   help="do not measure the refresh; the API reads what an earlier run's refresh stored")
    p.add_argument("--skip", default="", help="comma-separated steps not to run: correctness, bulletin, export")
    p.add_argument("--generate-only", action="store_true", help="generate (or reuse) the city and stop")
    p.add_argument("--requests", type=int, default=300, help="requests per API case (default 300)")
    p.add_argument("--nodes", type=int, default=20, help="random nodes checked against the SQL (default 20)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    harness.add_redis_options(p, "redis://127.0.0.1:6379/9")
    harness.add_quiet_wait_option(p)
    harness.add_json_option(p)
    harness.add_keep_tmp_option(p, "config, gunicorn log")
    args = p.parse_args(argv)
    if not 0 < args.scale <= 2:
        p.error("--scale must be in (0, 2]")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--internal"]:  # a child process of this benchmark (APP_* inherited)
        if argv[1] == "refresh":
            internal_refresh(argv[2])
        elif argv[1] == "bulletin":
            internal_bulletin()
        elif argv[1] == "export":
            internal_export(argv[2])
        return 0
    args = parse_args(argv)
    return harness.run_main(lambda run: measure(run, args), tmp_prefix="bench-kpi-", keep_tmp=args.keep_tmp)


def measure(run: harness.Run, args: argparse.Namespace) -> int:
    settings: dict[str, Any] = {
        "scale": f"{args.scale} (seed {args.seed})",
        "database": f"{harness.mask_url(args.database_url)} (kept between runs)",
        "app code": f"sha256 {harness.code_fingerprint()} of app/, handlers/, models/ (*.py), measured "
                    f"{time.strftime('%Y-%m-%d %H:%M')}",
    }
    try:
        redis_url, settings["redis"] = run.shared_redis(None if args.no_redis else args.redis_url)
        env = harness.app_environment(run.tmp, args.database_url, redis_url)
        os.environ.update(env)
        harness.migrate(env)
        meta = prepare_database(args.database_url, args)
    except harness.SetupError as exc:
        print(f"set-up failed: {exc}", file=sys.stderr, flush=True)
        return 1
    sizes = database_size(args.database_url)
    harness.print_settings(settings, 10)
    print_generation(meta, sizes)
    results: dict[str, Any] = {"generation": meta, "sizes": sizes}
    if args.generate_only:
        if args.json:
            harness.write_json(args.json, {"settings": settings, "results": results})
        return 0
    try:
        city = city_admin(args.database_url)
        if args.skip_refresh:
            harness.log("refresh: skipped (--skip-refresh); the API reads the rows of an earlier refresh")
            results["refresh"] = None
        else:
            results["refresh"] = measure_refresh()
        # The bulletin reads last month, its trend and the same month a year before: the nightly job
        # keeps this year and the last stored.
        wanted = correctness_periods() + ([] if "bulletin" in args.skip else bulletin_months())
        results["trend_periods"] = store_trend_periods(wanted)
        harness.log(f"starting gunicorn ({args.workers} sync workers)")
        server = run.gunicorn("gunicorn-ours", "app:create_app()", env, workers=args.workers, timeout=600)
        harness.wait_ready(server, lambda: harness.check_answer(server.port, "GET", "/healthz", [b'"ok"']))
    except (harness.SetupError, RuntimeError) as exc:
        print(f"set-up failed: {exc}", file=sys.stderr, flush=True)
        return 1
    harness.log("GET /api/v1/kpis ...")
    results["api"] = measure_api(server.port, server.cpu_seconds, city, args)
    if "correctness" in args.skip:
        results["correctness"] = {"nodes": 0, "checked": 0, "failures": [], "sql_seconds": 0.0, "pass": None}
    else:
        harness.log(f"correctness: {args.nodes} random nodes, two periods each, against the SQL ...")
        results["correctness"] = check_correctness(server.port, args.database_url, city, args)
    server.stop()
    for key, step in (("bulletin", measure_bulletin), ("export", measure_export)):
        if key in args.skip:
            continue
        try:
            found = step()
        except RuntimeError as exc:
            print(f"{key} failed: {exc}", file=sys.stderr, flush=True)
            found = {"error": str(exc)[-1500:]}
        if found is not None:
            results[key] = found
    results["scan_path"] = scan_path_cost(args.database_url, results["refresh"]["live"] if results["refresh"] else None)
    checks = report(results, args)
    if args.json:
        harness.write_json(args.json, {"settings": settings, "results": results, "checks": checks})
    return 0


def report(results: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    print()
    refresh = results["refresh"]
    if refresh:
        harness.print_header(f"{'refresh (one process, from the raw tables)':<46}{'s':>8}{'rows':>8}{'peak MB':>9}"
                             f"{'PG CPU s':>10}")
        for label, key in (("live: this month, quarter, year", "live"),
                           ("a whole year: 12 months, 4 quarters, the year", "year")):
            r = refresh[key]
            print(f"{label:<46}{r['seconds']:>8.1f}{r['rows']:>8}{r['peak_mb']:>9.0f}{r['postgres_cpu_s']:>10.1f}")
        print()
    trend = results.get("trend_periods")
    if trend:
        print(f"Periods the trends show that no refresh had stored: {len(trend['periods'])}, computed for every "
              f"region in {trend['seconds']:.1f} s (a first read pays this inside the request)\n")
    harness.print_header(f"{'GET /api/v1/kpis (gunicorn, one at a time)':<34}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
                         f"{'n':>6}{'KB':>7}{'server':>8}{'PG CPU':>8}{'other':>7}")
    for label, r in results["api"].items():
        print(f"{label:<34}{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}{r['max_ms']:>8.1f}{r['requests']:>6}"
              f"{r['bytes'] / 1024:>7.0f}{r['server_cpu_pct']:>7.0f}%{r['postgres_cpu_pct']:>7.0f}%{r['other_cpu_pct']:>6.0f}%")
    print("(CPU in % of one core over each case; 'other' is the rest of the machine: above ~25 % others' work "
          "disturbed the case and its figures read high)")
    c = results["correctness"]
    print(f"\nCorrectness: {c['checked']} (node, period) pairs of {c['nodes']} nodes compared with the SQL "
          f"({c['sql_seconds']:.1f} s of SQL)")
    for failure in c["failures"][:20]:
        print(f"  MISMATCH {failure}")
    sp = results["scan_path"]
    print(f"\nScan path: triggers on the tables a scan writes: {sp['triggers'] or 'none'}; scan-path modules "
          f"that touch the KPIs: {sp['modules_mentioning_kpi'] or 'none'}")
    if sp["refresh_cpu_pct_of_a_core"] is not None:
        print(f"  the live refresh every 10 minutes uses {sp['refresh_cpu_pct_of_a_core']:.1f} % of one core on average "
              "(PostgreSQL + Python), shared with everything else, not added to any scan")

    print("\nTargets")
    table = harness.TargetTable(52, 9, 12)
    api = results["api"]
    p99 = api["city, children=true"]["p99_ms"]
    table.record("city_children_p99_ms", "GET /kpis city, children=true: p99 ms", p99,
                 f"< {TARGETS['city_children_p99_ms']:g}", p99 < TARGETS["city_children_p99_ms"],
                 target_max=TARGETS["city_children_p99_ms"])
    p99 = api["a community"]["p99_ms"]
    table.record("community_p99_ms", "GET /kpis a community: p99 ms", p99, f"< {TARGETS['community_p99_ms']:g}",
                 p99 < TARGETS["community_p99_ms"], target_max=TARGETS["community_p99_ms"])
    table.record("correctness", f"API = independent SQL ({c['checked']} node-periods)", len(c["failures"]),
                 "0 mismatches", c["pass"])
    added = sp["added_statements"]
    table.record("scan_overhead_percent", "scan: work added by the rollup, % of a scan", None if added is None
                 else 0.0, f"<= {TARGETS['scan_overhead_percent']:g}", None if added is None else added == 0,
                 target_max=TARGETS["scan_overhead_percent"])
    for key, label, target, limit_s, limit_mb in (
            ("bulletin", "monthly bulletin, every node: s", "< 60", TARGETS["bulletin_seconds"],
             TARGETS["bulletin_peak_mb"]),
            ("export", "XLSX export of every volunteer: s", "< 120", TARGETS["export_seconds"],
             TARGETS["export_peak_mb"])):
        r = results.get(key)
        if r is None or "error" in r:
            table.line(label, None, target, None)
            table.line(label.replace(": s", ": peak MB"), None, f"< {limit_mb:g}", None)
            table.checks[key] = {"value": None, "pass": None,
                                 "note": r["error"] if r else "not on this branch, or skipped"}
            continue
        table.record(f"{key}_seconds", label, r["seconds"], target, r["seconds"] < limit_s, target_max=limit_s)
        table.record(f"{key}_peak_mb", label.replace(": s", ": peak MB"), r["peak_mb"], f"< {limit_mb:g}",
                     r["peak_mb"] < limit_mb, target_max=limit_mb)
    return table.checks


if __name__ == "__main__":
    sys.exit(main())
