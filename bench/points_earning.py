"""Points: the nightly earning pass over a city's service records, and the rankings at city scale (issue 13).

    .venv/bin/python bench/points_earning.py [--scale 0.1] [--earn-seconds 300] [--requests 100]
        [--keep] [--reuse] [--database bench_points_city]

The city is `kpi_data.py`'s (COPY; at scale 0.1: 100,000 volunteers, 20,000 activities, about
1,000,000 service records, 200 organisations, 10 districts, 100 streets, 1,000 communities), in a
database dropped at the end unless `--keep`; `--reuse` measures on a city a `--keep` run left.

1. **Earning pass.** `points_earn_full` as the scheduler runs it (`jobs/points.py`: `earning.catch_up`
   batches of 500, each record in its own transaction through the ledger and its trigger), under the
   rules' defaults, in a process of its own, for at most `--earn-seconds` (0: until every record has
   earned). Reported: records handled, seconds, records a second, PostgreSQL's CPU beside, and
   whether the pass finished. Nothing is extrapolated: if it did not finish, the figure is the
   count it reached.
2. **Rankings.** The records the pass did not reach get their earnings filled in by one INSERT …
   SELECT with the same default rule (10 points per hour, rounded down, sign kept; the ledger is not
   written, rankings read only `points_earnings`), a third of the volunteers consent to be shown,
   then under gunicorn (2 sync workers), one request at a time, `--requests` each, as a volunteer:
   `GET /api/v1/regions/{id}/points/ranking` for the city, a district (in turn) and a street (in
   turn), and `GET /api/v1/organizations/{id}/points/ranking` for the 20 largest organisations in
   turn: p50/p95/p99. The issue sets no target for rankings; 100 ms is shown for reference (the
   console lists' target).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness, kpi_data  # noqa: E402
from bench.points_ledger import Client, add_common_options, environment, print_cases, print_p99_targets, start_server, time_cases  # noqa: E402

REFERENCE_P99_MS = 100.0
VOLUNTEER_OPENID = "bench_points_ranking_reader"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=0.1,
                   help="the city's size (kpi_data.py): 0.1 = 100,000 volunteers, ~1,000,000 records (default 0.1)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--earn-seconds", type=float, default=300.0,
                   help="stop the earning pass after this many seconds; 0: run it to the end (default 300)")
    p.add_argument("--requests", type=int, default=100, help="requests per ranking case (default 100)")
    add_common_options(p, "bench_points_city", "the city (same scale and seed)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--internal-earn"]:
        internal_earn(float(argv[1]))
        return 0
    args = parse_args(argv)
    return harness.run_main(lambda run: measure(run, args), tmp_prefix="bench-points-earning-", keep_tmp=args.keep_tmp)


def prepare_city(db_url: str, args) -> dict[str, Any]:
    import psycopg
    from datetime import datetime, timezone

    from bench.kpi import read_meta, write_meta

    with psycopg.connect(harness.libpq_url(db_url)) as conn:
        meta = read_meta(conn)
        if args.reuse and meta and meta["scale"] == args.scale and meta["seed"] == args.seed:
            harness.log(f"reusing the city generated {meta['generated_at']}")
            return {**meta, "reused": True}
        now = datetime.now(timezone.utc).replace(microsecond=0)
        harness.log(f"generating the city at scale {args.scale} with COPY ...")
        result = kpi_data.generate(conn, scale=args.scale, seed=args.seed, now=now, drop_indexes=True, log=harness.log)
        meta = {"scale": args.scale, "seed": args.seed, "generated_at": now.isoformat(), **result}
        write_meta(conn, meta)
    return {**meta, "reused": False}


def internal_earn(seconds: float) -> None:
    """Child process: the nightly pass (jobs.points.earn_full's loop), stopped after `seconds` if > 0; one JSON line."""
    from app import create_app
    from app.services.points import earning
    from app.timeutil import now_utc
    from jobs import points as points_jobs

    app = create_app()
    with app.app_context():
        now = now_utc()
        started = time.monotonic()
        cpu0 = time.process_time()
        if seconds <= 0:
            total = points_jobs.earn_full(now=now)
            finished = True
        else:
            total = {"records": 0, "earned": 0, "taken_back": 0, "skipped": 0}
            finished = False
            while time.monotonic() - started < seconds:
                done = earning.catch_up(now=now)
                for name, value in done.items():
                    total[name] = total.get(name, 0) + value
                if done["records"] < earning.BATCH or done["records"] == done["skipped"] + done.get("failed", 0):
                    finished = True
                    break
        print(json.dumps({**total, "seconds": time.monotonic() - started, "cpu_s": time.process_time() - cpu0,
                          "finished": finished}), flush=True)


def measure_earning(env: dict[str, str], args) -> dict[str, Any]:
    window = harness.CpuWindow(machine=harness.machine_cpu_seconds, services=harness.service_cpu_seconds)
    window.start()
    run = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--internal-earn", str(args.earn_seconds)],
                         cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True,
                         timeout=max(args.earn_seconds, 0) + 7200)
    used = window.stop()
    if run.returncode != 0:
        raise RuntimeError(f"earning pass failed:\n{run.stdout[-2000:]}{run.stderr[-3000:]}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    result["postgres_cpu_s"] = used["postgres"]
    result["machine_cpu_s"] = used["machine"]
    result["records_per_second"] = result["records"] / result["seconds"] if result["seconds"] else 0.0
    return result


def fill_and_consent(db_url: str) -> dict[str, Any]:
    """Earnings for the records the pass did not reach (default rule, bulk), a third of volunteers consenting."""
    import psycopg

    t0 = time.monotonic()
    with psycopg.connect(harness.libpq_url(db_url)) as conn:
        filled = conn.execute(
            "INSERT INTO points_earnings (record_id, volunteer_id, activity_id, year, points, computed_points, note, "
            "created_at) SELECT r.id, r.volunteer_id, r.activity_id, "
            "extract(year FROM r.created_at AT TIME ZONE 'Asia/Shanghai')::int, "
            "sign(r.minutes) * (abs(r.minutes) * 10 / 60), sign(r.minutes) * (abs(r.minutes) * 10 / 60), "
            "'bench_fill', now() FROM service_records r "
            "WHERE NOT EXISTS (SELECT 1 FROM points_earnings e WHERE e.record_id = r.id)").rowcount
        consented = conn.execute(
            "INSERT INTO points_ranking_consents (volunteer_id, consented, updated_at) "
            "SELECT id, true, now() FROM volunteers WHERE id % 3 = 0 ON CONFLICT DO NOTHING").rowcount
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE points_earnings, points_ranking_consents")
        earnings = conn.execute("SELECT count(*) FROM points_earnings").fetchone()[0]
        this_year = conn.execute("SELECT count(*) FROM points_earnings WHERE year = extract(year FROM now() AT TIME "
                                 "ZONE 'Asia/Shanghai')").fetchone()[0]
    return {"filled": filled, "consented": consented, "earnings": earnings, "this_year": this_year,
            "seconds": time.monotonic() - t0}


def reader(db_url: str) -> dict[str, Any]:
    """A volunteer's token (the one with the most records) and the nodes and organisations to rank."""
    import psycopg

    from app import create_app
    from app.extensions import settings
    from app.services import accounts

    with psycopg.connect(harness.libpq_url(db_url)) as conn:
        login, generation = conn.execute(
            "SELECT a.id, a.token_generation FROM volunteers v JOIN accounts a ON a.id = v.account_id "
            "WHERE v.status = 'approved' ORDER BY v.service_record_count DESC, v.id LIMIT 1").fetchone()
        city = conn.execute("SELECT id FROM regions WHERE level = 'city' ORDER BY id LIMIT 1").fetchone()[0]
        districts = [r[0] for r in conn.execute("SELECT id FROM regions WHERE level = 'district' ORDER BY id")]
        streets = [r[0] for r in conn.execute("SELECT id FROM regions WHERE level = 'street' ORDER BY id LIMIT 20")]
        orgs = [r[0] for r in conn.execute(
            "SELECT organization_id FROM activities GROUP BY organization_id ORDER BY count(*) DESC LIMIT 20")]
    app = create_app()
    with app.app_context():
        token = accounts.issue_token(login, settings()["app"]["secret_key"], generation=generation)
    return {"token": token, "city": city, "districts": districts, "streets": streets, "orgs": orgs}


def explain_city_ranking(db_url: str, who: dict[str, Any]) -> list[str]:
    """EXPLAIN ANALYZE of each statement the city's ranking runs (captured from the service's own call)."""
    import psycopg
    from sqlalchemy import event

    from app import create_app
    from app.extensions import db
    from app.services.points import rankings
    from app.timeutil import now_utc

    captured: list[tuple[str, Any]] = []
    app = create_app()
    with app.app_context():
        def capture(conn, cursor, statement, parameters, context, executemany):
            if "points_earnings" in statement:
                captured.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", capture)
        try:
            rankings.ranking(region_id=who["city"], now=now_utc())
        finally:
            event.remove(db.engine, "before_cursor_execute", capture)
            db.session.remove()
            db.engine.dispose()
    out = []
    with psycopg.connect(harness.libpq_url(db_url)) as conn:
        for statement, parameters in captured:
            out.append("-- " + " ".join(statement.split())[:400])
            out += [r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).fetchall()]
    return out


def measure_rankings(port: int, who: dict[str, Any], args, server_cpu) -> tuple[dict[str, Any], int]:
    """The four ranking cases (see the module's docstring); and how many lines a ranking showed."""
    client = Client(port)
    token = who["token"]
    cases = {
        "region: the city": lambda i: (f"/api/v1/regions/{who['city']}/points/ranking", token),
        "region: a district": lambda i: (f"/api/v1/regions/{who['districts'][i % len(who['districts'])]}/points/ranking",
                                         token),
        "region: a street": lambda i: (f"/api/v1/regions/{who['streets'][i % len(who['streets'])]}/points/ranking", token),
        "organisation (20 largest)": lambda i: (
            f"/api/v1/organizations/{who['orgs'][i % len(who['orgs'])]}/points/ranking", token),
    }
    for make in cases.values():  # warm-up: imports, pool, plans
        for i in range(5):
            _, body = client.get(*make(i))
    return time_cases(client, cases, args.requests, args.quiet_wait, server_cpu), len(body["items"])


def measure(run: harness.Run, args) -> int:
    try:
        db_url, env, redis_desc = environment(run, args)
        harness.migrate(env)
        city = prepare_city(db_url, args)
    except harness.SetupError as exc:
        print(f"set-up failed: {exc}", file=sys.stderr)
        return 1
    counts = city.get("counts", {})
    harness.log(f"city: {counts.get('volunteers', 0):,} volunteers, {counts.get('activities', 0):,} activities, "
                f"{counts.get('service_records', 0):,} service records")
    results: dict[str, Any] = {"city": {"counts": counts, "reused": city["reused"]}}
    harness.log(f"earning pass (points_earn_full), at most {args.earn_seconds:.0f} s ...")
    results["earning"] = earning = measure_earning(env, args)
    harness.log(f"  {earning['records']:,} records in {earning['seconds']:.0f} s ({earning['records_per_second']:.0f}/s), "
                f"finished: {earning['finished']}")
    results["fill"] = fill = fill_and_consent(db_url)
    harness.log(f"  earnings filled in for the rest: {fill['filled']:,}; consents {fill['consented']:,}")
    who = reader(db_url)
    server = start_server(run, env, args.workers)
    if server is None:
        return 1
    harness.log("rankings, one request at a time ...")
    rankings, shown = measure_rankings(server.port, who, args, server.cpu_seconds)
    results["rankings"] = rankings
    plans = explain_city_ranking(db_url, who)
    results["plans"] = plans

    harness.print_settings({
        "city": f"scale {args.scale}: {counts.get('volunteers', 0):,} volunteers, {counts.get('activities', 0):,} "
                f"activities, {counts.get('service_records', 0):,} service records",
        "earnings": f"{fill['earnings']:,} ({fill['this_year']:,} this year), consenting volunteers {fill['consented']:,}",
        "gunicorn": f"{args.workers} sync workers",
        "redis": redis_desc,
        "app code": f"sha256 {harness.code_fingerprint()}, measured {time.strftime('%Y-%m-%d %H:%M')}",
    }, 12)
    print()
    harness.print_header("earning pass (points_earn_full)")
    print(f"records handled     {earning['records']:,} of {counts.get('service_records', 0):,}"
          f" ({'finished' if earning['finished'] else f'stopped after {args.earn_seconds:.0f} s'})")
    print(f"seconds             {earning['seconds']:.1f}")
    print(f"records/s           {earning['records_per_second']:.0f}")
    print(f"points earned       {earning['earned']:,} (taken back {earning['taken_back']:,}, skipped {earning['skipped']})")
    print(f"CPU                 pass process {earning['cpu_s']:.0f} s, PostgreSQL {earning['postgres_cpu_s']:.0f} s, "
          f"machine {earning['machine_cpu_s']:.0f} s")
    print()
    print_cases(f"ranking (top 50, {shown} shown)", rankings)
    checks = print_p99_targets("Reference (no target in the issue)", rankings, REFERENCE_P99_MS)
    print("\nQuery plans: the city's ranking")
    for line in plans:
        print("  " + line)
    if args.json:
        harness.write_json(args.json, {"results": results, "checks": checks})
    return 0


if __name__ == "__main__":
    sys.exit(main())
