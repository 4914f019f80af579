"""Rewards: N simultaneous redemptions through gunicorn on PostgreSQL; throughput, p99, stock exactly right.

    .venv/bin/python bench/redemptions.py [--volunteers 200] [--stocks 10,200] [--workers 2] [--threads 8]
        [--server-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--redis-url redis://127.0.0.1:6379/15]

Creates a throwaway PostgreSQL database, migrates it and seeds one organisation with one reward per
`--stocks` figure (default two: 10 units, where most answers are refusals, and 200, where every
redemption is real work) and `--volunteers` approved volunteers with enough points for all of them
(the service's own functions). Starts gunicorn (gthread, `--workers` × `--threads`) and, reward by
reward, releases one `POST /api/v1/rewards/{id}/redemptions` per volunteer at once (a barrier over as
many client threads). Reports per reward the wall time, throughput (answers a second), latency
percentiles, the answers by status and error code, and checks afterwards, in the database: stock =
initial − holds, one redemption per 201, holds = min(stock, volunteers); and over the whole run the
holds account = holds × price and the ledger balanced (sum of balances 0). Exit 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

PRICE = 30


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--volunteers", type=int, default=200, help="simultaneous redemptions (default 200)")
    parser.add_argument("--stocks", default="10,200",
                        help="one reward per figure, its units in stock; fired at one after the other (default 10,200)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    harness.add_server_url_option(parser)
    harness.add_redis_options(parser, "redis://127.0.0.1:6379/15")
    harness.add_json_option(parser)
    harness.add_keep_tmp_option(parser, "logs")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return harness.run_main(lambda run: measure(run, args), tmp_prefix="bench-redemptions-", keep_tmp=args.keep_tmp)


def seed(env: dict[str, str], volunteers: int, stocks: list[int]):
    """(app, reward ids, bearer tokens): the rewards are valid around the real clock (gunicorn uses it)."""
    for key, value in env.items():
        os.environ[key] = value
    from app import create_app
    from app.db import unit_of_work
    from app.extensions import db, settings
    from app.services import accounts
    from app.services.points import ledger
    from app.services.rewards import catalogue
    from models import Account, Organization, OrganizationStatus, Role, RoleGrant, Volunteer, VolunteerStatus

    now = datetime.now(timezone.utc)
    app = create_app()
    tokens = []
    with app.app_context():
        secret = settings()["app"]["secret_key"]
        with unit_of_work():
            chain = harness.seed_region_chain("BR", "兑换", (1_000_000, 300_000, 50_000, 8_000))
            organizer = Account(mp_openid="bench_org", created_at=now, last_login_at=now)
            db.session.add(organizer)
            org = Organization(name="基准服务站", region_id=chain[1].id, status=OrganizationStatus.APPROVED,
                               created_at=now, contact_name="王站长", contact_mobile="010-12345678")
            db.session.add(org)
            db.session.flush()
            db.session.add(RoleGrant(account_id=organizer.id, role=Role.ORGANIZER, organization_id=org.id, created_at=now))
            db.session.flush()
            reward_ids = []
            for n, stock in enumerate(stocks):
                reward = catalogue.publish(organizer.id, org.id, {
                    "kind": "goods", "title": ("环保袋", "保温杯", "雨伞", "帆布包")[n % 4], "points_price": PRICE,
                    "stock": stock, "limit_per_person": 1, "valid_from": now - timedelta(days=1),
                    "valid_until": now + timedelta(days=30), "pickup_place": "基准服务站"}, now=now)
                reward_ids.append(reward.id)
                region_id = reward.region_id
        with unit_of_work():
            for n in range(volunteers):
                account = Account(mp_openid=f"bench_r{n}", created_at=now, last_login_at=now)
                db.session.add(account)
                db.session.flush()
                volunteer = Volunteer(account_id=account.id, real_name="欧阳志远", mobile="13912345678",
                                      region_id=chain[3].id, status=VolunteerStatus.APPROVED,
                                      volunteer_number=f"BR3-{n:08d}", created_at=now, updated_at=now)
                db.session.add(volunteer)
                db.session.flush()
                ledger.earn(f"bench-earn-{n}", region_id, volunteer.id, PRICE * (len(stocks) + 1), None, now)
                tokens.append(accounts.issue_token(account.id, secret, generation=account.token_generation))
        db.engine.dispose()
    return app, reward_ids, tokens


def fire(port: int, reward_id: int, tokens: list[str], phase: int) -> tuple[float, list[tuple[int, str, float]]]:
    barrier = threading.Barrier(len(tokens))

    def send(item):
        n, token = item
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/rewards/{reward_id}/redemptions", method="POST",
            data=json.dumps({"nonce": f"bench-{phase}-{n:08d}"}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        barrier.wait(timeout=60)
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        elapsed = time.perf_counter() - started
        try:
            code = "created" if status == 201 else json.loads(body)["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = f"http_{status}"
        return status, code, elapsed

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        results = list(pool.map(send, enumerate(tokens)))
    return time.perf_counter() - started, results


def warm_up(port: int, tokens: list[str]) -> None:
    """As many reads of the rewards at once as there are worker threads: imports, pools and plans ready."""
    def read(token):
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/rewards",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()

    for _ in range(2):
        with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
            list(pool.map(read, tokens))


def check(app, rewards: list[tuple[int, int, int]], volunteers: int) -> dict[str, bool]:
    """`rewards`: (id, initial stock, 201 answers) of each reward fired at."""
    from sqlalchemy import func, select

    from app.extensions import db
    from models import PointsAccount, PointsAccountKind, Redemption, Reward

    checks: dict[str, bool] = {}
    with app.app_context():
        for reward_id, stock, created in rewards:
            left = db.session.scalar(select(Reward.stock).where(Reward.id == reward_id))
            rows = db.session.scalar(select(func.count()).select_from(Redemption).where(Redemption.reward_id == reward_id))
            harness.log(f"afterwards, reward of {stock}: stock left {left}, redemptions {rows}, 201 answers {created}")
            checks[f"stock {stock}: stock = initial - holds ({left})"] = left == stock - created
            checks[f"stock {stock}: one redemption per 201 ({rows})"] = rows == created
            checks[f"stock {stock}: holds = min(stock, volunteers)"] = created == min(stock, volunteers)
        held = db.session.scalar(select(func.sum(PointsAccount.balance)).where(PointsAccount.kind == PointsAccountKind.HOLDS)) or 0
        total = db.session.scalar(select(func.sum(PointsAccount.balance)))
        db.engine.dispose()
    holds = sum(created for _, _, created in rewards)
    harness.log(f"afterwards: holds account {held} (= {holds} holds × {PRICE}?), ledger sum {total}")
    checks[f"holds account = holds x price ({held})"] = held == holds * PRICE
    checks[f"ledger balanced (sum {total})"] = total == 0
    return checks


def measure(run: harness.Run, args) -> int:
    stocks = [int(x) for x in args.stocks.split(",") if x.strip()]
    try:
        db_url = run.throwaway_database(args.server_url, "bench_redemptions")
        redis_url, redis_desc = run.shared_redis(args.redis_url)
        env = harness.app_environment(run.tmp, db_url, redis_url, APP_TASKS__SQLITE_PATH=str(run.tmp / "tasks.db"))
        harness.migrate(env)
    except harness.SetupError as exc:
        print(f"set-up failed: {exc}", file=sys.stderr)
        return 1
    harness.log(f"seeding {args.volunteers} volunteers and rewards of {', '.join(map(str, stocks))} in stock")
    app, reward_ids, tokens = seed(env, args.volunteers, stocks)
    try:
        server = run.gunicorn("gunicorn-ours", "app:create_app()", env, workers=args.workers, worker_class="gthread",
                              threads=args.threads, timeout=120)
        harness.wait_ready(server, lambda: harness.check_answer(server.port, "GET", "/healthz", [b'"ok"']), timeout=180)
    except harness.SetupError as exc:
        print(f"set-up failed: {exc}", file=sys.stderr)
        return 1
    warm_up(server.port, tokens[: 2 * args.workers * args.threads])
    phases = []
    for phase, (reward_id, stock) in enumerate(zip(reward_ids, stocks)):
        harness.log(f"firing {len(tokens)} redemptions at once at the reward of {stock}")
        window = harness.CpuWindow(server=server.cpu_seconds, services=harness.service_cpu_seconds,
                                   machine=harness.machine_cpu_seconds, bench=harness.self_cpu_seconds)
        window.start()
        wall, results = fire(server.port, reward_id, tokens, phase)
        used = window.stop()
        other = max(used["machine"] - used["server"] - used["postgres"] - used["redis"] - used["bench"], 0.0)
        latencies = sorted(elapsed for _, _, elapsed in results)
        codes = Counter(code for _, code, _ in results)
        phases.append({"stock": stock, "reward_id": reward_id, "wall_seconds": wall,
                       "throughput": len(results) / wall, "latency": harness.latency_summary(latencies),
                       "answers": dict(codes), "created": codes.get("created", 0),
                       "server_cpu_ms_per_answer": used["server"] * 1000 / len(results),
                       "postgres_cpu_ms_per_answer": used["postgres"] * 1000 / len(results),
                       "other_cpu_pct": 100 * other / window.elapsed})
    checks = check(app, [(p["reward_id"], p["stock"], p["created"]) for p in phases], args.volunteers)
    harness.print_settings({"volunteers (simultaneous)": args.volunteers, "rewards (stock)": args.stocks,
                            "gunicorn": f"{args.workers} × {harness.worker_class_label('gthread', args.threads)}",
                            "redis": redis_desc}, 28)
    for p in phases:
        print()
        harness.print_header(f"reward of {p['stock']} in stock")
        print(f"wall time           {p['wall_seconds']:.3f} s")
        print(f"throughput          {p['throughput']:.1f} answers/s")
        print("latency             " + ", ".join(f"{key[:-3]} {value:.1f} ms" for key, value in p["latency"].items()))
        print(f"answers             {p['answers']}")
        print(f"CPU per answer      gunicorn {p['server_cpu_ms_per_answer']:.1f} ms, PostgreSQL "
              f"{p['postgres_cpu_ms_per_answer']:.1f} ms (others meanwhile: {p['other_cpu_pct']:.0f} % of a core)")
    print()
    for name, passed in checks.items():
        print(f"{name:<48}{harness.verdict(passed)}")
    if args.json:
        harness.write_json(args.json, {"phases": phases, "checks": checks})
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
