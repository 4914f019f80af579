"""Benchmark of the console's volunteer directory over 100,000 volunteers in scope, on PostgreSQL.

The script makes a throwaway PostgreSQL database (dropped at the end), migrates it, and seeds with
two INSERT … SELECT over generate_series (seconds, not measured): a district → street → four
communities, an approved organisation in the district with one organiser, N accounts and N
volunteers spread over the communities (90 % approved, 5 % pending, 3 % rejected, 2 % suspended;
names from common surnames and given names; categories and skills varied). Then VACUUM ANALYZE
(what autovacuum does after a bulk insert).

Each case is one `GET /api/v1/volunteers?…` through the whole service in this process (Flask's
test client: bearer token, query validation, the scope and the filters, the count, the page,
masking, JSON), timed one after another; the cases:
  list          the first page, newest first (status=approved, and all statuses)
  name search   q=<one character> (many matches) and q=<a full name> (few)
  last four     q=<4 digits> (indexed mobile_last4)
  deep pages    a walk of 200 pages by cursor, newest first and by name: every page's time (the
                total is counted on the first page and carried in the cursor)
  filters       category=, skill=, sort by service time
Target: p99 < 100 ms for each. Prints p50/p99 per case and writes them with --json.

Run from the repository root:  .venv/bin/python bench/console_lists.py [--volunteers 100000] [--json out.json]
Exit code: 0 once measured (targets missed or not), 1 if the set-up failed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import harness  # noqa: E402

TARGET_P99_MS = 100.0
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬斌宇浩凯鹏飞"

_SEED_ACCOUNTS = """
INSERT INTO accounts (mp_openid, created_at, last_login_at, token_generation)
SELECT %(tag)s || g, now(), now(), 0 FROM generate_series(1, %(n)s) AS g
"""
_SEED_VOLUNTEERS = """
INSERT INTO volunteers (account_id, real_name, mobile, mobile_last4, birth_date, categories, skills, region_id,
                        status, total_service_minutes, service_record_count, created_at, updated_at)
SELECT a.id,
       substr(%(surnames)s, 1 + (g * 7) %% length(%(surnames)s), 1)
         || substr(%(given)s, 1 + (g * 13) %% length(%(given)s), 1)
         || CASE WHEN g %% 3 = 0 THEN '' ELSE substr(%(given)s, 1 + (g * 31) %% length(%(given)s), 1) END,
       '13' || lpad(((g * 7919) %% 1000000000)::text, 9, '0'),
       right('13' || lpad(((g * 7919) %% 1000000000)::text, 9, '0'), 4),
       date '1960-01-01' + (g %% 15000),
       (ARRAY['["community"]', '["youth"]', '["retiree", "party_member"]', '["student"]', '["worker"]'])[1 + g %% 5]::json,
       (ARRAY['[]', '["急救"]', '["摄影", "驾驶"]', '["法律咨询"]', '[]', '["心理疏导"]'])[1 + g %% 6]::json,
       (%(regions)s::int[])[1 + g %% 4],
       CASE WHEN g %% 100 < 90 THEN 'approved' WHEN g %% 100 < 95 THEN 'pending'
            WHEN g %% 100 < 98 THEN 'rejected' ELSE 'suspended' END,
       (g * 37) %% 6000, (g * 37) %% 6000 / 120,
       now() - make_interval(secs => g * 60), now()
FROM generate_series(1, %(n)s) AS g JOIN accounts a ON a.mp_openid = %(tag)s || g
"""


def seed(db_url: str, n: int) -> dict[str, Any]:
    """The region tree, organisation and organiser through the app; the volunteers in two INSERT … SELECT."""
    import psycopg

    from app import create_app
    from app.extensions import db
    from app.services import accounts, regions, roles
    from app.timeutil import now_utc
    from models import Account, Organization, OrganizationStatus, RegionLevel, Role

    t0 = time.monotonic()
    app = create_app()
    tag = secrets.token_hex(3).upper()
    with app.app_context():
        now = now_utc()
        city, district, street, first = harness.seed_region_chain(f"BL{tag}", "", (1_000_000, 300_000, 50_000, 8_000))
        others = [regions.add_region(f"BL{tag}c{i}", f"基准社区{i}", RegionLevel.COMMUNITY, street, 8_000)
                  for i in range(3)]
        org = Organization(name=f"名录基准志愿者协会 {tag}", region_id=district.id, status=OrganizationStatus.APPROVED,
                           approved_at=now, created_at=now)
        organizer = Account(mp_openid=f"bench_lists_{tag}_organizer", created_at=now, last_login_at=now)
        db.session.add_all([org, organizer])
        db.session.flush()
        roles.grant(organizer.id, Role.ORGANIZER, organization_id=org.id, now=now)
        db.session.commit()
        token = accounts.issue_token(organizer.id, app.extensions["settings"]["app"]["secret_key"])
        region_ids = [first.id] + [r.id for r in others]
        db.session.remove()
        db.engine.dispose()
    with psycopg.connect(harness.libpq_url(db_url), autocommit=True) as conn:
        conn.execute(_SEED_ACCOUNTS, {"tag": f"bench_lists_{tag}_", "n": n})
        conn.execute(_SEED_VOLUNTEERS, {"tag": f"bench_lists_{tag}_", "n": n, "surnames": SURNAMES, "given": GIVEN,
                                        "regions": region_ids})
        # What autovacuum does soon after a bulk insert (PostgreSQL 13+): statistics and the visibility
        # map, without which the count cannot be an index-only scan.
        conn.execute("VACUUM ANALYZE accounts")
        conn.execute("VACUUM ANALYZE volunteers")
        sample = conn.execute("SELECT real_name, mobile_last4 FROM volunteers ORDER BY id DESC LIMIT 1").fetchone()
    return {"token": token, "seconds": time.monotonic() - t0, "full_name": sample[0], "last4": sample[1]}


def timed(client: Any, url: str, headers: dict[str, str]) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    response = client.get(url, headers=headers)
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise harness.SetupError(f"GET {url}: {response.status_code} {response.get_data(as_text=True)[:300]}")
    return elapsed, response.get_json()


def measure_cases(args: argparse.Namespace, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    from app import create_app

    app = create_app()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {data['token']}"}
    base = "/api/v1/volunteers?limit=20"
    single = [
        ("list, approved, newest first", base + "&status=approved"),
        ("list, every status", base),
        ("name search, one character", base + "&q=丽"),
        ("name search, a full name", base + "&q=" + data["full_name"]),
        ("last four digits", base + "&q=" + data["last4"]),
        ("filter: category", base + "&status=approved&category=youth"),
        ("filter: skill", base + "&status=approved&skill=急救"),
        ("sort: service time", base + "&status=approved&sort=-total_service_minutes"),
    ]
    results: dict[str, dict[str, Any]] = {}
    for _ in range(5):  # warm the connection pool and the plans
        for _, url in single:
            timed(client, url, headers)
    for label, url in single:
        window = _window(args)
        times = sorted(timed(client, url, headers)[0] for _ in range(args.repeat))
        results[label] = {**harness.latency_summary(times), "requests": len(times), "url": url, **_cpu(window)}
    for label, sort in (("deep pages, newest first", "-created_at"), ("deep pages, by name", "real_name")):
        window = _window(args)
        times, cursor, total = [], None, 0
        for _ in range(args.pages):
            url = base + f"&status=approved&sort={sort}" + (f"&cursor={cursor}" if cursor else "")
            elapsed, body = timed(client, url, headers)
            times.append(elapsed)
            total, cursor = body["total"], body["next_cursor"]
            if cursor is None:
                break
        results[label] = {**harness.latency_summary(sorted(times)), "requests": len(times),
                          "url": base + f"&status=approved&sort={sort}&cursor=…", "pages_walked": len(times),
                          "rows_in_scope": total, **_cpu(window)}
    return results


def _window(args: argparse.Namespace) -> harness.CpuWindow:
    """Wait for a quiet machine (others' tests share it), then start counting CPU for the case."""
    if args.quiet_wait > 0:
        harness.wait_until_quiet(args.quiet_wait)
    window = harness.CpuWindow(machine=harness.machine_cpu_seconds, bench=harness.self_cpu_seconds,
                               services=harness.service_cpu_seconds)
    window.start()
    return window


def _cpu(window: harness.CpuWindow) -> dict[str, float]:
    """The case's CPU in % of one core: this process, PostgreSQL, and everything else on the machine."""
    used = window.percent(window.stop())
    return {"bench_cpu_pct": used["bench"], "postgres_cpu_pct": used["postgres"],
            "other_cpu_pct": max(used["machine"] - used["bench"] - used["postgres"] - used["redis"], 0.0)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--volunteers", type=int, default=100_000, help="volunteers in scope (default 100000)")
    p.add_argument("--repeat", type=int, default=200, help="requests per single-page case (default 200)")
    p.add_argument("--pages", type=int, default=200, help="pages walked by cursor per deep-page case (default 200)")
    harness.add_server_url_option(p)
    p.add_argument("--quiet-wait", type=float, default=30.0,
                   help="before each case, wait up to this many seconds for the machine to be quiet "
                        "(others' CPU below 25 %% of a core); 0: do not wait (default 30)")
    harness.add_json_option(p)
    harness.add_keep_tmp_option(p, "config")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.run_main(lambda run: run_bench(run, args), tmp_prefix="bench-lists-", keep_tmp=args.keep_tmp)


def run_bench(run: harness.Run, args: argparse.Namespace) -> int:
    settings: dict[str, Any] = {
        "volunteers": f"{args.volunteers} in one organiser's scope (4 communities of one street)",
        "client": "Flask test client in this process, one request at a time (no HTTP server, no network)",
        "repeat": f"{args.repeat} requests per case; deep pages: a walk of {args.pages} pages by cursor",
        "app code": f"sha256 {harness.code_fingerprint()} of app/, handlers/, models/ (*.py), measured "
                    f"{time.strftime('%Y-%m-%d %H:%M')}",
    }
    try:
        db_url = run.throwaway_database(args.server_url, "bench_lists")
        settings["database"] = f"{harness.mask_url(db_url)} (throwaway, dropped at the end)"
        env = harness.app_environment(run.tmp, db_url, "")
        os.environ.update(env)
        harness.migrate(env)
        harness.log(f"seeding {args.volunteers} volunteers ...")
        data = seed(db_url, args.volunteers)
        harness.log(f"seeded in {data['seconds']:.1f} s (not measured)")
        settings["seeding"] = f"{data['seconds']:.1f} s, not measured"
        results = measure_cases(args, data)
    except harness.SetupError as exc:
        print(f"set-up failed: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        from app.extensions import db

        try:
            db.engine.dispose()
        except Exception:  # noqa: BLE001 - no app context left: nothing to dispose
            pass
    harness.print_settings(settings, 10)
    print("  other CPU: what the rest of the machine used during the case, in % of one core (2 cores = 200 %);\n"
          "             above ~25 % the case was disturbed by others' work and its figures read high")
    print()
    harness.print_header(f"{'case':<32}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'requests':>10}{'other CPU':>11}   target")
    checks: dict[str, Any] = {}
    for label, r in results.items():
        passed = r["p99_ms"] < TARGET_P99_MS
        print(f"{label:<32}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['max_ms']:>9.1f}{r['requests']:>10}"
              f"{r['other_cpu_pct']:>10.0f}%   "
              f"p99 < {TARGET_P99_MS:g} ms {harness.verdict(passed)}")
        checks[label] = {"p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "pass": passed}
    if args.json:
        harness.write_json(args.json, {"settings": settings, "results": results, "checks": checks})
    return 0


if __name__ == "__main__":
    sys.exit(main())
