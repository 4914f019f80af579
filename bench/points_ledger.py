"""Points: a volunteer's balance and history with 10,000,000 transfers in the ledger (issue 13).

    .venv/bin/python bench/points_ledger.py [--transfers 10000000] [--volunteers 100000]
        [--keep] [--reuse] [--database bench_points] [--requests 300] [--connections 8] [--seconds 10]

Loads a PostgreSQL ledger (`points_accounts`, `points_transfers`, two `points_entries` per transfer),
then measures `GET /api/v1/me/points` through gunicorn with real volunteers' bearer tokens.

Loading (timed apart, not a figure): the region chain and one organisation with the app's own code,
the accounts and volunteers with COPY and one INSERT … SELECT, then the ledger generated in Python
and sent with COPY (psycopg's `cursor.copy`) over two connections at once (transfers, entries).
The ledger's triggers (migration 0022: balances and entries written by the transfer's INSERT,
accounts born empty) are bypassed in the loading connections only (`SET session_replication_role =
replica`) and the secondary indexes, unique constraints and foreign keys of the three tables are
dropped before and recreated (validated) after; the generator computes what the trigger would have
written: each side's entry (debit first) with the account's running balance, each account's final
balance and version. Then, before any measurement, SQL checks that the data is consistent: the
balances sum to 0, every account's balance equals its last entry's `balance_after` and its version
its number of entries, every transfer's two entries sum to 0, no balance below zero except
issuance's, and for the measured accounts every `balance_after` is the running sum of the entries.

The skew: transfer i picks volunteer ⌊N·u³⌋ (u uniform), so the first volunteers hold tens of
thousands of lines (the first one about a fiftieth of the ledger) and the median one about 50.
The mix: about 72 % earn (issuance → volunteer), 8 % bonus (the organisation's pool → volunteer),
8 % gift (volunteer → volunteer), 4 % hold (volunteer → holds), 4 % expire (volunteer → expiry) and
4 % settlements of the oldest pending hold (4 in 5 posted → redemptions, the rest voided back); a
spend larger than the balance becomes an earn.

Measured, one request at a time on one kept-alive connection, `--requests` each, after a warm-up:
the first page (balance + 20 lines) and a deep page (by cursor, from the middle of the history) of
the 20 volunteers with the most lines and of 200 ordinary ones (20–200 lines): p50/p95/p99 and
requests/s; then all four cases mixed over `--connections` connections for `--seconds`
(throughput). Target: p99 < 20 ms for each case. EXPLAIN ANALYZE of the page's two queries for the
hottest volunteer is printed (first and deep page).

`--keep` keeps the database (`--database`, default bench_points) after the run; `--reuse` measures
on a ledger an earlier `--keep` run loaded with the same --transfers/--volunteers/--seed (loading
10,000,000 transfers takes minutes). Without either, the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness, kpi_data  # noqa: E402

META_TABLE = "bench_points_meta"
LEDGER_TABLES = ["points_accounts", "points_transfers", "points_entries"]
TARGET_P99_MS = 20.0
CHUNK = 20_000
# Fixed account ids of the system accounts; volunteer i's account is FIRST_VOLUNTEER_ACCOUNT + i.
ISSUANCE, POOL, HOLDS, REDEMPTIONS, EXPIRY = 1, 2, 3, 4, 5
FIRST_VOLUNTEER_ACCOUNT = 6
POOL_FUNDING = 10**12


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--transfers", type=int, default=10_000_000, help="transfers in the ledger (default 10,000,000)")
    p.add_argument("--volunteers", type=int, default=100_000, help="volunteers (default 100,000)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--requests", type=int, default=300, help="requests per latency case (default 300)")
    p.add_argument("--connections", type=int, default=8, help="connections of the mixed throughput case (default 8)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of the mixed throughput case (default 10)")
    add_common_options(p, "bench_points", "the ledger")
    return p.parse_args(argv)


def add_common_options(p: argparse.ArgumentParser, database_name: str, what: str) -> None:
    """The options the points benchmarks share: the kept database, gunicorn, and harness's own."""
    p.add_argument("--database", default=database_name,
                   help=f"name of the database kept with --keep / reused with --reuse (default {database_name})")
    p.add_argument("--keep", action="store_true", help="keep the database after the run")
    p.add_argument("--reuse", action="store_true", help=f"measure on {what} a --keep run left, if it matches")
    p.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    harness.add_server_url_option(p)
    harness.add_redis_options(p, "redis://127.0.0.1:6379/12")
    harness.add_quiet_wait_option(p)
    harness.add_json_option(p)
    harness.add_keep_tmp_option(p, "config, gunicorn log")


def main(argv=None) -> int:
    args = parse_args(argv)
    return harness.run_main(lambda run: measure(run, args), tmp_prefix="bench-points-", keep_tmp=args.keep_tmp)


# ---------------------------------------------------------------------------------------------
# Loading


def database(run: harness.Run, args) -> str:
    """The SQLAlchemy URL of the database: the named one (created if missing) with --keep/--reuse, else a throwaway."""
    import psycopg

    if not (args.keep or args.reuse):
        return run.throwaway_database(args.server_url, args.database)
    with psycopg.connect(harness.libpq_url(args.server_url), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (args.database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{args.database}"')
    url = harness.replace_database(args.server_url, args.database)
    if not args.keep:  # --reuse alone: measured, then dropped
        run.defer(lambda: harness.drop_database(args.server_url, args.database))
    return url


def environment(run: harness.Run, args) -> tuple[str, dict[str, str], str]:
    """(database URL, APP_* variables, also set in this process, Redis description) of a points benchmark."""
    db_url = database(run, args)
    redis_url, redis_desc = run.shared_redis(None if args.no_redis else args.redis_url)
    env = harness.app_environment(run.tmp, db_url, redis_url)
    os.environ.update(env)
    return db_url, env, redis_desc


def read_meta(conn) -> dict[str, Any] | None:
    if not conn.execute("SELECT to_regclass(%s)", (META_TABLE,)).fetchone()[0]:
        return None
    row = conn.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'loaded'").fetchone()
    return None if row is None else json.loads(row[0])


def seed_people(db_url: str, volunteers: int, now: datetime) -> dict[str, Any]:
    """The region chain, the organisation (app code), N accounts (COPY) and N approved volunteers."""
    import psycopg

    from app import create_app
    from app.extensions import db
    from models import Organization, OrganizationStatus

    app = create_app()
    with app.app_context():
        chain = harness.seed_region_chain("BP", "积分", (10_000_000, 1_000_000, 300_000, 150_000))
        org = Organization(name="积分基准志愿者协会", region_id=chain[3].id, status=OrganizationStatus.APPROVED,
                           approved_at=now, created_at=now)
        db.session.add(org)
        db.session.commit()
        region_id, community_id, org_id = chain[0].id, chain[3].id, org.id
        db.session.remove()
        db.engine.dispose()
    with psycopg.connect(harness.libpq_url(db_url)) as conn, conn.cursor() as cur:
        with cur.copy("COPY accounts (mp_openid, created_at, last_login_at) FROM STDIN") as copy:
            for i in range(volunteers):
                copy.write_row((f"bench_p{i:07d}", now, now))
        cur.execute(
            "INSERT INTO volunteers (account_id, real_name, mobile, categories, skills, region_id, status, "
            "reviewed_at, total_service_minutes, service_record_count, created_at, updated_at) "
            "SELECT id, '志愿者' || id, '139' || lpad((id %% 100000000)::text, 8, '0'), '[]', '[]', %s, "
            "'approved', %s, 0, 0, %s, %s FROM accounts WHERE mp_openid LIKE 'bench_p%%' ORDER BY id",
            (community_id, now, now, now))
        volunteer_ids = [r[0] for r in cur.execute(
            "SELECT v.id FROM volunteers v JOIN accounts a ON a.id = v.account_id "
            "WHERE a.mp_openid LIKE 'bench_p%%' ORDER BY a.mp_openid").fetchall()]
        conn.commit()
    return {"region_id": region_id, "org_id": org_id, "volunteer_ids": volunteer_ids}


def load_ledger(db_url: str, args, people: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Generate the transfers and entries, COPY them in with the triggers off, recreate what was dropped."""
    import psycopg

    rng = random.Random(args.seed)
    n, total = args.volunteers, args.transfers
    accounts = FIRST_VOLUNTEER_ACCOUNT + n
    balance = [0] * accounts
    version = [0] * accounts
    timings: dict[str, float] = {}
    t_start = time.monotonic()
    url = harness.libpq_url(db_url)
    tconn, econn = psycopg.connect(url), psycopg.connect(url)
    for conn in (tconn, econn):
        conn.execute("SET session_replication_role = replica")  # the ledger's triggers off, in these two only
        conn.execute("SET maintenance_work_mem = '256MB'")
    t0 = time.monotonic()
    saved = kpi_data.drop_secondary(tconn, LEDGER_TABLES)
    tconn.commit()
    timings["drop_s"] = time.monotonic() - t0

    start_epoch = int((now - timedelta(days=730)).timestamp())
    step = 730 * 86400 / max(total, 1)
    stamp_cache: dict[int, str] = {}

    def stamp(t: int) -> str:
        bucket = t >> 7
        text = stamp_cache.get(bucket)
        if text is None:
            text = kpi_data.ts(int(start_epoch + (bucket << 7) * step))
            stamp_cache.clear()
            stamp_cache[bucket] = text
        return text

    pending: deque[tuple[int, int, int]] = deque()  # (hold transfer id, volunteer account, amount)
    amounts = (5, 10, 10, 15, 20, 20, 30, 40, 60)
    rand = rng.random
    t_lines: list[str] = []
    e_lines: list[str] = []
    t0 = time.monotonic()
    with tconn.cursor() as tcur, econn.cursor() as ecur, \
            tcur.copy("COPY points_transfers (id, idempotency_key, debit_account_id, credit_account_id, amount, code, "
                      "reference, corrects_transfer_id, pending_transfer_id, expires_at, event_at, created_at) "
                      "FROM STDIN") as tcopy, \
            ecur.copy("COPY points_entries (id, account_id, transfer_id, amount, balance_after) FROM STDIN") as ecopy:
        for t in range(1, total + 1):
            at = stamp(t)
            pend = "\\N"
            expires = "\\N"
            if t == 1:
                debit, credit, amount, code, ref = ISSUANCE, POOL, POOL_FUNDING, "fund", "bench:pool"
            else:
                acct = FIRST_VOLUNTEER_ACCOUNT + int(n * rand() ** 3)
                r = rand()
                amount = amounts[int(rand() * 9)]
                if pending and r < 0.06:
                    hold_id, holder, amount = pending.popleft()
                    pend = hold_id
                    if r < 0.048:
                        debit, credit, code, ref = HOLDS, REDEMPTIONS, "post", f"redemption:{hold_id}"
                    else:
                        debit, credit, code, ref = HOLDS, holder, "void", f"redemption:{hold_id}"
                elif r < 0.76 or balance[acct] < amount:
                    debit, credit, code, ref = ISSUANCE, acct, "earn", f"service_record:{t}"
                elif r < 0.84:
                    debit, credit, code, ref = POOL, acct, "bonus", f"activity:{t % 5000}"
                elif r < 0.92:
                    other = FIRST_VOLUNTEER_ACCOUNT + int(n * rand())
                    if other == acct:
                        other = FIRST_VOLUNTEER_ACCOUNT + (other - FIRST_VOLUNTEER_ACCOUNT + 1) % n
                    debit, credit, code, ref = acct, other, "gift", None
                elif r < 0.96:
                    debit, credit, code, ref = acct, HOLDS, "hold", f"redemption:{t}"
                    expires = at
                    pending.append((t, acct, amount))
                else:
                    debit, credit, code, ref = acct, EXPIRY, "expire", "expiry"
            balance[debit] -= amount
            balance[credit] += amount
            version[debit] += 1
            version[credit] += 1
            t_lines.append(f"{t}\tb:{t}\t{debit}\t{credit}\t{amount}\t{code}\t{ref or chr(92) + 'N'}\t\\N\t{pend}\t"
                           f"{expires}\t{at}\t{at}")
            e_lines.append(f"{2 * t - 1}\t{debit}\t{t}\t{-amount}\t{balance[debit]}\n"
                           f"{2 * t}\t{credit}\t{t}\t{amount}\t{balance[credit]}")
            if len(t_lines) >= CHUNK:
                tcopy.write(("\n".join(t_lines) + "\n").encode())
                ecopy.write(("\n".join(e_lines) + "\n").encode())
                t_lines, e_lines = [], []
                if t % 1_000_000 < CHUNK:
                    harness.log(f"  {t:,} transfers ({time.monotonic() - t0:.0f} s)")
        if t_lines:
            tcopy.write(("\n".join(t_lines) + "\n").encode())
            ecopy.write(("\n".join(e_lines) + "\n").encode())
    econn.commit()
    econn.close()
    timings["generate_and_copy_s"] = time.monotonic() - t0
    t0 = time.monotonic()
    with tconn.cursor() as cur, cur.copy("COPY points_accounts (id, kind, owner_id, balance, version, allow_negative, "
                                         "created_at) FROM STDIN") as copy:
        at = kpi_data.ts(start_epoch)
        system = {ISSUANCE: ("issuance", people["region_id"], "t"), POOL: ("org_pool", people["org_id"], "f"),
                  HOLDS: ("holds", people["region_id"], "f"), REDEMPTIONS: ("redemptions", people["region_id"], "f"),
                  EXPIRY: ("expiry", people["region_id"], "f")}
        lines = [f"{i}\t{kind}\t{owner}\t{balance[i]}\t{version[i]}\t{neg}\t{at}" for i, (kind, owner, neg) in system.items()]
        lines += [f"{FIRST_VOLUNTEER_ACCOUNT + i}\tvolunteer\t{vid}\t{balance[FIRST_VOLUNTEER_ACCOUNT + i]}\t"
                  f"{version[FIRST_VOLUNTEER_ACCOUNT + i]}\tf\t{at}" for i, vid in enumerate(people["volunteer_ids"])]
        copy.write(("\n".join(lines) + "\n").encode())
    for table in LEDGER_TABLES:
        tconn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    tconn.commit()
    timings["accounts_s"] = time.monotonic() - t0
    harness.log(f"  loaded {total:,} transfers, {2 * total:,} entries in {timings['generate_and_copy_s']:.0f} s; "
                "recreating indexes, constraints and foreign keys ...")
    timings.update(kpi_data.recreate_secondary(tconn, saved, harness.log))
    tconn.commit()
    tconn.close()
    t0 = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE points_accounts, points_transfers, points_entries")
    timings["vacuum_analyze_s"] = time.monotonic() - t0
    timings["total_s"] = time.monotonic() - t_start
    return {"transfers": total, "entries": 2 * total, "pending_holds": len(pending), "timings": timings}


def prepare(db_url: str, env: dict[str, str], args) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(harness.libpq_url(db_url)) as conn:
        meta = read_meta(conn)
    wanted = {"transfers": args.transfers, "volunteers": args.volunteers, "seed": args.seed}
    if args.reuse and meta and all(meta.get(k) == v for k, v in wanted.items()):
        harness.log(f"reusing the ledger loaded {meta['loaded_at']} ({meta['transfers']:,} transfers)")
        return {**meta, "reused": True}
    if meta is not None or (args.reuse and meta is None and _has_rows(db_url)):
        harness.log("the database holds another load: emptying it")
        with psycopg.connect(harness.libpq_url(db_url), autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
    harness.migrate(env)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    harness.log(f"loading {args.volunteers:,} volunteers and {args.transfers:,} transfers with COPY ...")
    t0 = time.monotonic()
    people = seed_people(db_url, args.volunteers, now)
    seeded_s = time.monotonic() - t0
    loaded = load_ledger(db_url, args, people, now)
    loaded["timings"]["people_s"] = seeded_s
    meta = {**wanted, "loaded_at": now.isoformat(), **loaded}
    with psycopg.connect(harness.libpq_url(db_url)) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key text PRIMARY KEY, value text NOT NULL)")
        conn.execute(f"INSERT INTO {META_TABLE} VALUES ('loaded', %s) ON CONFLICT (key) DO UPDATE SET value = "
                     "excluded.value", (json.dumps(meta),))
    return {**meta, "reused": False}


def _has_rows(db_url: str) -> bool:
    import psycopg

    with psycopg.connect(harness.libpq_url(db_url)) as conn:
        return bool(conn.execute("SELECT to_regclass('points_transfers')").fetchone()[0])


# ---------------------------------------------------------------------------------------------
# Consistency, before any measurement


def check_consistency(db_url: str, measured_accounts: list[int]) -> dict[str, Any]:
    import psycopg

    t0 = time.monotonic()
    with psycopg.connect(harness.libpq_url(db_url)) as conn:
        q = lambda sql, *a: int(conn.execute(sql, a or None).fetchone()[0])  # noqa: E731
        figures = {
            "transfers": q("SELECT count(*) FROM points_transfers"),
            "entries": q("SELECT count(*) FROM points_entries"),
            "sum of balances": q("SELECT sum(balance) FROM points_accounts"),
            "accounts whose balance is not their last entry's": q(
                "SELECT count(*) FROM points_accounts a LEFT JOIN LATERAL (SELECT e.balance_after FROM points_entries e "
                "WHERE e.account_id = a.id ORDER BY e.id DESC LIMIT 1) l ON true "
                "WHERE coalesce(l.balance_after, 0) <> a.balance"),
            "accounts whose version is not their entry count": q(
                "SELECT count(*) FROM points_accounts a LEFT JOIN (SELECT account_id, count(*) AS n FROM points_entries "
                "GROUP BY account_id) c ON c.account_id = a.id WHERE coalesce(c.n, 0) <> a.version"),
            "transfers whose entries do not sum to 0 or are not two": q(
                "SELECT count(*) FROM (SELECT transfer_id FROM points_entries GROUP BY transfer_id "
                "HAVING sum(amount) <> 0 OR count(*) <> 2) x"),
            "negative balances (not issuance)": q(
                "SELECT count(*) FROM points_accounts WHERE balance < 0 AND NOT allow_negative"),
            "measured accounts' lines off their running sum": q(
                "SELECT count(*) FROM (SELECT balance_after, sum(amount) OVER (PARTITION BY account_id ORDER BY id) AS s "
                "FROM points_entries WHERE account_id = ANY(%s)) x WHERE balance_after <> s", measured_accounts),
        }
    passed = (figures["entries"] == 2 * figures["transfers"] and figures["sum of balances"] == 0
              and all(v == 0 for k, v in figures.items() if k not in ("transfers", "entries", "sum of balances")))
    return {"figures": figures, "pass": passed, "seconds": time.monotonic() - t0}


# ---------------------------------------------------------------------------------------------
# Measuring


def choose(db_url: str) -> dict[str, Any]:
    """The 20 busiest volunteer accounts and 200 ordinary ones (20–200 lines), with their account ids,
    line counts and the cursor of the page in the middle of their history."""
    import psycopg

    from app.services.paging import encode_cursor

    with psycopg.connect(harness.libpq_url(db_url)) as conn:
        sql = ("SELECT pa.id, pa.version, v.account_id, a.token_generation FROM points_accounts pa "
               "JOIN volunteers v ON v.id = pa.owner_id JOIN accounts a ON a.id = v.account_id "
               "WHERE pa.kind = 'volunteer' ")
        hot = conn.execute(sql + "ORDER BY pa.version DESC LIMIT 20").fetchall()
        ordinary = conn.execute(sql + "AND pa.version BETWEEN 20 AND 200 ORDER BY md5(pa.id::text) LIMIT 200").fetchall()
        groups = {}
        for name, rows in (("hot", hot), ("ordinary", ordinary)):
            people = []
            for account, lines, login, generation in rows:
                middle = conn.execute("SELECT id FROM points_entries WHERE account_id = %s ORDER BY id DESC "
                                      "OFFSET %s LIMIT 1", (account, max(0, min(lines // 2, lines - 21)))).fetchone()[0]
                people.append({"points_account": account, "lines": lines, "login": login, "generation": generation,
                               "deep_cursor": encode_cursor((middle,))})
            groups[name] = people
    return groups


def tokens_for(groups: dict[str, Any]) -> None:
    from app import create_app
    from app.extensions import settings
    from app.services import accounts

    app = create_app()
    with app.app_context():
        secret = settings()["app"]["secret_key"]
        for people in groups.values():
            for person in people:
                person["token"] = accounts.issue_token(person["login"], secret, generation=person["generation"])


class Client:
    """GETs with a bearer token on one kept-alive connection (bench/kpi.py's get_json): (seconds, JSON)."""

    def __init__(self, port: int):
        self.port = port
        self.holder: dict[str, Any] = {}

    def get(self, path: str, token: str) -> tuple[float, dict[str, Any]]:
        from bench.kpi import get_json

        return get_json(self.port, path, token, self.holder)


def cases(groups: dict[str, Any]) -> dict[str, Any]:
    """label → (people, path of person)."""
    return {
        "hot, first page": (groups["hot"], lambda p: "/api/v1/me/points"),
        "hot, deep page (cursor)": (groups["hot"], lambda p: f"/api/v1/me/points?cursor={p['deep_cursor']}"),
        "ordinary, first page": (groups["ordinary"], lambda p: "/api/v1/me/points"),
        "ordinary, deep page (cursor)": (groups["ordinary"], lambda p: f"/api/v1/me/points?cursor={p['deep_cursor']}"),
    }


def start_server(run: harness.Run, env: dict[str, str], workers: int, timeout: int = 300) -> harness.Proc | None:
    """gunicorn (sync workers) serving the app, once /healthz answers; None (said on stderr) if it did not come up."""
    try:
        server = run.gunicorn("gunicorn-ours", "app:create_app()", env, workers=workers, timeout=timeout)
        harness.wait_ready(server, lambda: harness.check_answer(server.port, "GET", "/healthz", [b'"ok"']), timeout=120)
    except harness.SetupError as exc:
        print(f"set-up failed: {exc}", file=sys.stderr)
        return None
    return server


def time_cases(client: Client, requests: dict[str, Callable[[int], tuple[str, str]]], count: int, quiet_wait: float,
               server_cpu: Callable[[], float]) -> dict[str, Any]:
    """Each case `count` times, one request at a time (request i: `make(i)` = (path, token)), after waiting
    for a quiet machine: p50/p95/p99, requests/s, CPU per request of gunicorn and PostgreSQL, others' CPU."""
    results = {}
    for label, make in requests.items():
        if quiet_wait > 0:
            harness.wait_until_quiet(quiet_wait)
        window = harness.CpuWindow(machine=harness.machine_cpu_seconds, bench=harness.self_cpu_seconds,
                                   services=harness.service_cpu_seconds, server=server_cpu)
        window.start()
        times = sorted(client.get(*make(i))[0] for i in range(count))
        used = window.percent(window.stop())
        results[label] = {**harness.latency_summary(times), "p95_ms": harness.percentile(times, 95) * 1000,
                          "requests": count, "per_second": count / window.elapsed,
                          "server_cpu_ms": used["server"] * window.elapsed * 10 / count,
                          "postgres_cpu_ms": used["postgres"] * window.elapsed * 10 / count,
                          "other_cpu_pct": max(used["machine"] - used["postgres"] - used["redis"] - used["server"]
                                               - used["bench"], 0.0)}
        harness.log(f"  {label}: p50 {results[label]['p50_ms']:.1f} ms, p95 {results[label]['p95_ms']:.1f} ms, "
                    f"p99 {results[label]['p99_ms']:.1f} ms")
    return results


def print_cases(first_column: str, results: dict[str, Any]) -> None:
    harness.print_header(f"{first_column:<32}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'req/s':>8}{'other CPU':>11}"
                         f"{'CPU ms/req: gunicorn, PostgreSQL':>34}")
    for label, r in results.items():
        print(f"{label:<32}{r['p50_ms']:>8.1f}{r['p95_ms']:>8.1f}{r['p99_ms']:>8.1f}{r['per_second']:>8.0f}"
              f"{r['other_cpu_pct']:>10.0f}%{r['server_cpu_ms']:>25.2f}, {r['postgres_cpu_ms']:.2f}")


def print_p99_targets(heading: str, results: dict[str, Any], limit_ms: float) -> dict[str, Any]:
    print(f"\n{heading}")
    table = harness.TargetTable(40, 8, 12)
    for label, r in results.items():
        table.record(label, f"{label}: p99 ms", r["p99_ms"], f"< {limit_ms:.0f}", r["p99_ms"] < limit_ms,
                     target_max=limit_ms)
    return table.checks


def measure_latency(port: int, groups: dict[str, Any], args, server_cpu) -> dict[str, Any]:
    client = Client(port)
    table = cases(groups)
    for people, path in table.values():  # warm-up: imports, pool, plans; and the answers are checked
        for person in people[:10]:
            _, body = client.get(path(person), person["token"])
            if not body["items"] or not isinstance(body["balance"], int):
                raise RuntimeError(f"unexpected answer ({len(body['items'])} lines): {str(body)[:300]}")

    def request(people, path):
        return lambda i: (path(people[i % len(people)]), people[i % len(people)]["token"])

    return time_cases(client, {label: request(people, path) for label, (people, path) in table.items()},
                      args.requests, args.quiet_wait, server_cpu)


def measure_throughput(port: int, groups: dict[str, Any], args) -> dict[str, Any]:
    """All four cases mixed over `--connections` threads for `--seconds`."""
    items = [(person, path) for people, path in cases(groups).values() for person in people[:20]]
    deadline = time.monotonic() + args.seconds
    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def loop(k: int) -> None:
        client, own, i = Client(port), [], k
        while time.monotonic() < deadline:
            person, path = items[i % len(items)]
            i += args.connections
            try:
                own.append(client.get(path(person), person["token"])[0])
            except Exception as exc:  # noqa: BLE001 - counted, shown
                errors.append(str(exc)[:200])
        with lock:
            times.extend(own)

    started = time.monotonic()
    threads = [threading.Thread(target=loop, args=(k,)) for k in range(args.connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    summary = harness.latency_summary(sorted(times))
    summary["p95_ms"] = harness.percentile(sorted(times), 95) * 1000
    return {**summary, "requests": len(times), "per_second": len(times) / wall, "errors": len(errors)}


def explain(db_url: str, groups: dict[str, Any]) -> list[str]:
    """EXPLAIN ANALYZE of the page's statements as views.mine issues them (compiled by SQLAlchemy), for the
    busiest volunteer and an ordinary one, first and deep page."""
    import psycopg
    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql

    from app.services.paging import decode_cursor
    from app.services.points.views import HISTORY
    from models.points import PointsEntry, PointsTransfer

    def sql(statement) -> str:
        return str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))

    out = []
    with psycopg.connect(harness.libpq_url(db_url)) as conn:
        for who, person in (("the busiest volunteer", groups["hot"][0]), ("an ordinary volunteer", groups["ordinary"][0])):
            for label, cursor in (("first page", None), ("deep page", person["deep_cursor"])):
                page = select(PointsEntry).where(PointsEntry.account_id == person["points_account"])
                if cursor:
                    page = page.where(HISTORY.after(decode_cursor(cursor)))
                page = page.order_by(*HISTORY.order_by()).limit(21)
                rows = conn.execute(sql(page)).fetchall()
                out.append(f"-- {who} ({person['lines']:,} lines), {label}: {sql(page)}")
                out += [r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql(page)).fetchall()]
                ids = [r[2] for r in rows[:20]]
                lookup = select(PointsTransfer).where(PointsTransfer.id.in_(ids))
                out.append(f"-- {who}, {label}: the page's transfers (id IN the 20 ids)")
                out += [r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql(lookup)).fetchall()]
    return out


def measure(run: harness.Run, args) -> int:
    try:
        db_url, env, redis_desc = environment(run, args)
        meta = prepare(db_url, env, args)
    except harness.SetupError as exc:
        print(f"set-up failed: {exc}", file=sys.stderr)
        return 1
    groups = choose(db_url)
    measured = [p["points_account"] for people in groups.values() for p in people]
    harness.log("checking the ledger's consistency ...")
    consistency = check_consistency(db_url, measured)
    for name, value in consistency["figures"].items():
        harness.log(f"  {name:<56}{value}")
    harness.log(f"  consistency: {harness.verdict(consistency['pass'])} ({consistency['seconds']:.0f} s)")
    if not consistency["pass"]:
        return 1
    tokens_for(groups)
    plans = explain(db_url, groups)
    server = start_server(run, env, args.workers)
    if server is None:
        return 1
    harness.log("GET /api/v1/me/points, one request at a time ...")
    latency = measure_latency(server.port, groups, args, server.cpu_seconds)
    harness.log(f"mixed, {args.connections} connections, {args.seconds:.0f} s ...")
    throughput = measure_throughput(server.port, groups, args)

    hot_lines = [p["lines"] for p in groups["hot"]]
    ordinary_lines = sorted(p["lines"] for p in groups["ordinary"])
    settings = {
        "ledger": f"{meta['transfers']:,} transfers, {meta['entries']:,} entries, {args.volunteers:,} volunteers "
                  f"({'reused' if meta['reused'] else 'loaded now'}, {meta['loaded_at']})",
        "hot volunteers": f"20, {min(hot_lines):,}–{max(hot_lines):,} lines each",
        "ordinary volunteers": f"{len(ordinary_lines)}, {ordinary_lines[0]}–{ordinary_lines[-1]} lines "
                               f"(median {ordinary_lines[len(ordinary_lines) // 2]})",
        "gunicorn": f"{args.workers} sync workers",
        "redis": redis_desc,
        "app code": f"sha256 {harness.code_fingerprint()}, measured {time.strftime('%Y-%m-%d %H:%M')}",
    }
    harness.print_settings(settings, 20)
    t = meta["timings"]
    print("\nLoading (not a figure): " + ", ".join(
        f"{k[:-2].replace('_', ' ')} {v:.0f} s" for k, v in t.items()) + (" (reused)" if meta["reused"] else ""))
    print(f"Consistency before measuring: {harness.verdict(consistency['pass'])} "
          + "; ".join(f"{k} {v:,}" for k, v in consistency["figures"].items()))
    print()
    print_cases("case", latency)
    print(f"{'mixed, ' + str(args.connections) + ' connections':<32}{throughput['p50_ms']:>8.1f}"
          f"{throughput['p95_ms']:>8.1f}{throughput['p99_ms']:>8.1f}{throughput['per_second']:>8.0f}"
          f"   errors {throughput['errors']}")
    checks = print_p99_targets("Targets", latency, TARGET_P99_MS)
    print("\nQuery plans")
    for line in plans:
        print("  " + line)
    if args.json:
        harness.write_json(args.json, {"settings": settings, "loading": meta, "consistency": consistency,
                                       "latency": latency, "throughput": throughput, "plans": plans,
                                       "checks": checks})
    return 0


if __name__ == "__main__":
    sys.exit(main())
