"""What one statement of a captain's scan costs in each layer: the unit of work, SQLAlchemy, psycopg.

`scan_cpu.py` measures a whole scan; this one takes its first statement, the door query
(`app.services.checkins._AUTHENTICATED_DOOR`: the caller's account, the activity, the volunteer,
the sign-up, the check-in and the nonce's earlier answer), and runs it repeatedly, one call after
another in one process, five ways on the same PostgreSQL database:

  unit-core    a request's unit of work through SQLAlchemy's execution: `unit_of_work()` with
               `execute_first(…, autocommit=True).first()`, the session committed and removed as
               the request's teardown does
  unit-direct  the same unit with the statement run by `first_row_of_first(…, autocommit=True)`
  unit-conn    that statement in a unit without the ORM session, as the fast path runs the scan:
               `connection_unit()`, a pooled connection of its own, committed and returned
  core         SQLAlchemy Core on a connection held open in autocommit: `connection.execute(door)`
  direct       `app.direct_statements.first_row` on that connection
  psycopg      the same SQL text (compiled once by SQLAlchemy) and parameters on a psycopg connection
               held open in autocommit: `cursor.execute(sql, params)` and `fetchone()`

It prints the CPU time of this process and the wall time per statement, and each way's CPU over
psycopg's: what SQLAlchemy's execution and the session's connection handling cost above the driver.
Every way must return the same row, or the script fails. The rounds alternate the ways.

Run from the repository root:  .venv/bin/python bench/statement_cost.py [--calls 3000] [--rounds 3]
Exit code: 0 once measured, 1 if the set-up failed or the ways disagreed.
"""

from __future__ import annotations

import argparse
import enum
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import harness  # noqa: E402
from bench.checkin import seed  # noqa: E402

WAYS = ("unit-core", "unit-direct", "unit-conn", "core", "direct", "psycopg")


def comparable(row: Any) -> tuple[Any, ...]:
    """A row's values as psycopg returns them: enums by their value (SQLAlchemy converts those)."""
    return tuple(value.value if isinstance(value, enum.Enum) else value for value in row)


def per_call(calls: int, run_once: Callable[[], Any]) -> tuple[float, float, Any]:
    """CPU µs and wall µs per call of `run_once`, and its last result."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(calls):
        result = run_once()
    return (1e6 * (time.process_time() - cpu0) / calls, 1e6 * (time.perf_counter() - wall0) / calls, result)


def measure(calls: int, rounds: int) -> dict[str, dict[str, float]]:
    import psycopg
    from sqlalchemy import select

    from app import create_app
    from app.db import connection_unit, execute_first, first_row_of_first, unit_of_work
    from app.direct_statements import first_row
    from app.extensions import db
    from app.services import checkins
    from models import Account

    data = seed(10)
    app = create_app()
    with app.app_context():
        captain_id = db.session.execute(
            select(Account.id).order_by(Account.id.desc()).limit(1)).scalar_one()
        db.session.remove()
        door = checkins._AUTHENTICATED_DOOR
        compiled = door.compile(dialect=db.engine.dialect)
        given = {"activity_id": data.activity_id, "account_id": captain_id, "nonce": "statement-cost",
                 "volunteer_id": data.volunteers[0][0]}
        params = {**compiled.params, **{key: value for key, value in given.items() if key in compiled.params}}
        driver_params = compiled.construct_params(params)

        def unit_core() -> Any:
            with unit_of_work():
                row = execute_first(door, params, autocommit=True).first()
            db.session.remove()
            return row

        def unit_direct() -> Any:
            with unit_of_work():
                row = first_row_of_first(door, params, autocommit=True)
            db.session.remove()
            return row

        def unit_conn() -> Any:
            with connection_unit():
                return first_row_of_first(door, params, autocommit=True)

        core_connection = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        driver_connection = psycopg.connect(db.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False), autocommit=True)
        driver_cursor = driver_connection.cursor()

        def driver() -> Any:
            driver_cursor.execute(compiled.string, driver_params)
            return driver_cursor.fetchone()

        ways: dict[str, Callable[[], Any]] = {
            "unit-core": unit_core, "unit-direct": unit_direct, "unit-conn": unit_conn,
            "core": lambda: core_connection.execute(door, params).first(),
            "direct": lambda: first_row(core_connection, door, params), "psycopg": driver}
        samples: dict[str, list[tuple[float, float]]] = {way: [] for way in WAYS}
        rows: dict[str, tuple[Any, ...]] = {}
        try:
            for way in WAYS:  # warm up: statement caches, psycopg's prepared statements
                per_call(20, ways[way])
            for _ in range(rounds):
                for way in WAYS:
                    cpu, wall, row = per_call(calls, ways[way])
                    samples[way].append((cpu, wall))
                    rows[way] = comparable(row)
        finally:
            core_connection.close()
            driver_connection.close()
        if rows["unit-core"][0] is None or len(set(rows.values())) != 1:
            raise harness.SetupError(f"the ways returned different rows: {rows}")
    return {way: {"cpu_us": statistics.median(cpu for cpu, _ in samples[way]),
                  "wall_us": statistics.median(wall for _, wall in samples[way]),
                  "columns": len(rows[way])} for way in WAYS}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=3000, help="calls per way and round (default 3000)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, each running every way once (default 3)")
    harness.add_in_process_options(p, "its configuration")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def measure_ways(database_url: str) -> dict[str, dict[str, float]]:
        harness.log(f"running the door query {args.calls} times per way, {args.rounds} rounds ...")
        return measure(args.calls, args.rounds)

    def report(figures: dict[str, dict[str, float]], database_url: str) -> None:
        harness.print_settings({"app code": harness.app_code_setting(),
                                "statement": f"the scan's door query, {figures['core']['columns']} columns, "
                                             f"{args.calls} calls x {args.rounds} rounds per way (medians)",
                                "database": harness.mask_url(database_url) + " (throwaway)"}, 12)
        print()
        harness.print_header(f"{'way':<13}{'µs CPU':>9}{'wall µs':>10}{'CPU ÷ psycopg':>15}")
        base = figures["psycopg"]["cpu_us"]
        for way in WAYS:
            figure = figures[way]
            print(f"{way:<13}{figure['cpu_us']:>9.0f}{figure['wall_us']:>10.0f}{figure['cpu_us'] / base:>15.1f}")
        print(f"(per statement, this process. Above psycopg: SQLAlchemy Core {figures['core']['cpu_us'] - base:.0f} µs, "
              f"first_row {figures['direct']['cpu_us'] - base:.0f} µs; a unit of work above its statement: "
              f"{figures['unit-direct']['cpu_us'] - figures['direct']['cpu_us']:.0f} µs with the session, "
              f"{figures['unit-conn']['cpu_us'] - figures['direct']['cpu_us']:.0f} µs without)")

    return harness.in_process_main(args, "statement_cost", measure_ways, report)


if __name__ == "__main__":
    sys.exit(main())
