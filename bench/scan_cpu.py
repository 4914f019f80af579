"""CPU per captain's scan, measured one scan after another in one process: ours and PostgreSQL's.

bench/checkin.py measures the scans as a festival sends them, 50 connections against 3 gunicorn
workers, with the load generator on the same 2 cores; its figures move by a third when the machine's
speed does. This one measures what a change to the scan path costs: every volunteer is checked in,
then checked out, through the app's WSGI stack (the fast path, as a phone's request takes it) by the
test client, one request at a time, and it prints the CPU time per scan of this process and of
PostgreSQL's backends (from /proc), with the wall time. No concurrency, no HTTP server, no load
generator: to compare two versions, run it in each checkout, alternating, a few times.

The script makes a throwaway PostgreSQL database (dropped at the end), migrates and seeds it as
bench/checkin.py does, and checks every answer. Run from the repository root:

    .venv/bin/python bench/scan_cpu.py [--volunteers 1500] [--json out.json]

Exit code: 0 once measured, 1 if the set-up failed or a scan was not answered as expected.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import harness  # noqa: E402
from bench.checkin import STEP_SECONDS, seed  # noqa: E402


def backend_cpu_seconds(database_url: str, database: str) -> float:
    """User and system CPU of every server process connected to `database` (other than the asker)."""
    import psycopg

    with psycopg.connect(harness.libpq_url(database_url), connect_timeout=5) as conn:
        pids = [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,))]
    return sum(harness.pid_cpu_seconds(pids).values())  # a backend that ended meanwhile counts nothing


def measure(database_url: str, database: str, volunteers: int) -> dict[str, dict[str, float]]:
    from app import checkin_codes, create_app
    from app.timeutil import now_utc

    data = seed(volunteers)
    app = create_app()
    client = app.test_client()
    path = f"/api/v1/activities/{data.activity_id}/scans"
    headers = {"Authorization": f"Bearer {data.captain_token}", "Content-Type": "application/json"}
    start = now_utc()
    figures: dict[str, dict[str, float]] = {}
    # The check-out scans a code of the next step (the same code would be "already checked in").
    for phase, at, expected in (("check-in", start, b'"checked_in"'),
                                ("check-out", start + timedelta(seconds=STEP_SECONDS + 1), b'"checked_out"')):
        app.extensions["clock"] = lambda at=at: at
        bodies = [json.dumps({"code": checkin_codes.personal_code(volunteer_id, secret, at),
                              "nonce": f"{phase}-{volunteer_id:08d}"}).encode()
                  for volunteer_id, secret in data.volunteers]
        server0, ours0, wall0 = backend_cpu_seconds(database_url, database), time.process_time(), time.monotonic()
        for body in bodies:
            answer = client.post(path, data=body, headers=headers)
            if answer.status_code != 200 or expected not in answer.data:
                raise harness.SetupError(f"{phase}: HTTP {answer.status_code} {answer.data[:300]!r}")
        ours, wall = time.process_time() - ours0, time.monotonic() - wall0
        server = backend_cpu_seconds(database_url, database) - server0
        figures[phase] = {"ours_us": 1e6 * ours / len(bodies), "postgres_us": 1e6 * server / len(bodies),
                          "wall_us": 1e6 * wall / len(bodies)}
    return figures


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--volunteers", type=int, default=1500, help="volunteers, each checked in and out (default 1500)")
    harness.add_in_process_options(p, "its configuration")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def measure_scans(database_url: str) -> dict[str, dict[str, float]]:
        from sqlalchemy.engine import make_url

        harness.log(f"seeding {args.volunteers} volunteers and scanning each twice, one scan at a time ...")
        return measure(database_url, make_url(database_url).database, args.volunteers)

    def report(figures: dict[str, dict[str, float]], database_url: str) -> None:
        harness.print_settings({"app code": harness.app_code_setting(),
                                "volunteers": f"{args.volunteers}, each checked in and out, one request at a time",
                                "database": harness.mask_url(database_url) + " (throwaway)"}, 12)
        print()
        harness.print_header(f"{'scan':<12}{'ours µs CPU':>13}{'postgres µs CPU':>17}{'wall µs':>10}")
        for phase, figure in figures.items():
            print(f"{phase:<12}{figure['ours_us']:>13.0f}{figure['postgres_us']:>17.0f}{figure['wall_us']:>10.0f}")
        print("(per scan; 'ours' is this process: the test client, the fast path, SQLAlchemy and psycopg)")

    # A check-out may follow the check-in at once (the default asks for 5 minutes).
    return harness.in_process_main(args, "scan_cpu", measure_scans, report, APP_CHECKIN__MIN_MINUTES_BEFORE_CHECKOUT="0")


if __name__ == "__main__":
    sys.exit(main())
