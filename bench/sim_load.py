"""The WeChat simulator alone: its CPU per subscribe message, without the rest of the delivery pipeline.

Starts the simulator as bench/broadcast.py does (gunicorn, one process, gthread threads, serving
`bench.broadcast_sim:create()`; or `flask wechat-sim` as shipped), takes a mini-program token, then
posts --messages subscribe messages (`POST /cgi-bin/message/subscribe/send`, each to its own openid)
from --connections client threads, each over one kept-alive HTTP/1.1 connection (--no-keepalive: a
new connection per message). Figures: the simulator's CPU seconds (process and children, from /proc)
over the posting, per message; the rate; and a check that the record holds every message once.

Run from the repository root:
    .venv/bin/python bench/sim_load.py                        # 20000 messages, 16 connections, gunicorn
    .venv/bin/python bench/sim_load.py --server werkzeug      # `flask wechat-sim` as shipped
    .venv/bin/python bench/sim_load.py --gunicorn-arg=--keep-alive --gunicorn-arg=30
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import harness  # noqa: E402
from bench.harness import log  # noqa: E402

TEMPLATE = "sim_tmpl_announcement"


def start(run: harness.Run, args) -> harness.Proc:
    env = harness.app_environment(run.tmp, "sqlite://", "", BENCH_SIM_RATE=str(args.rate),
                                  APP_SIMULATOR__RATE_LIMIT_PER_SECOND=str(args.rate), FLASK_APP="app:create_app",
                                  BENCH_SIM_FAST_PATH="1" if args.fast_path else "0")
    if args.server == "gunicorn":
        proc = run.gunicorn("simulator", "bench.broadcast_sim:create()", env, workers=1, worker_class="gthread",
                            threads=args.threads, timeout=60, extra=("--backlog", "2048", *args.gunicorn_arg))
    elif args.server == "granian":
        port = harness.free_port()
        cmd = [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1", "--blocking-threads", str(args.threads), "--no-access-log", "--log-level", "warning",
               "--factory", *args.granian_arg, "bench.broadcast_sim:create"]
        proc = run.spawn("simulator", cmd, env)
        proc.port = port
    else:
        port = harness.free_port()
        cmd = [sys.executable, "-m", "flask", "wechat-sim", "--host", "127.0.0.1", "--port", str(port),
               "--rate-limit", str(args.rate), *args.cli_arg]
        proc = run.spawn("simulator", cmd, env)
        proc.port = port
    harness.wait_ready(proc, lambda: harness.check_answer(proc.port, "GET", "/_sim/health", [b"true"]))
    return proc


def post_all(port: int, token: str, args) -> tuple[int, dict[int, int]]:
    """Post the messages from --connections threads; (messages answered errcode 0, other errcodes)."""
    path = f"/cgi-bin/message/subscribe/send?access_token={token}"
    next_index = iter(range(args.messages))
    lock = threading.Lock()
    ok, errors = [0], {}

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                break
            if args.pace:
                delay = start + i / args.pace - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            body = json.dumps({
                "touser": f"sim_load_{i}", "template_id": TEMPLATE, "page": "pages/announcements/detail?id=1",
                "miniprogram_state": "formal", "lang": "zh_CN",
                "data": {"thing1": {"value": "社区通知"}, "thing2": {"value": "本周六上午九点集合"},
                         "time3": {"value": "2026-12-06 09:00"}},
            }, ensure_ascii=False).encode()
            if not args.keepalive:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            answer = json.loads(conn.getresponse().read())
            with lock:
                if answer["errcode"] == 0:
                    ok[0] += 1
                else:
                    errors[answer["errcode"]] = errors.get(answer["errcode"], 0) + 1
        conn.close()

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(args.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ok[0], errors


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=20000, help="subscribe messages to post (default 20000)")
    p.add_argument("--connections", type=int, default=16, help="client threads, one connection each (default 16)")
    p.add_argument("--no-keepalive", dest="keepalive", action="store_false", help="a new connection per message")
    p.add_argument("--server", choices=["gunicorn", "werkzeug", "granian"], default="gunicorn",
                   help="gunicorn as bench/broadcast.py runs it (default), or `flask wechat-sim`")
    p.add_argument("--threads", type=int, default=16, help="gunicorn gthread threads (default 16)")
    p.add_argument("--gunicorn-arg", action="append", default=[], help="extra gunicorn argument (repeatable)")
    p.add_argument("--granian-arg", action="append", default=[], help="extra granian argument (repeatable)")
    p.add_argument("--cli-arg", action="append", default=[], help="extra `flask wechat-sim` argument (repeatable)")
    p.add_argument("--pace", type=float, default=0,
                   help="post at most this many messages a second, all connections together (default 0: at once)")
    p.add_argument("--no-fast-path", dest="fast_path", action="store_false",
                   help="serve the sends through the Flask views (BENCH_SIM_FAST_PATH=0)")
    p.add_argument("--rate", type=float, default=0, help="the simulator's send limit (default 0: none)")
    p.add_argument("--warmup", type=int, default=500, help="messages posted before measuring (default 500)")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = p.parse_args()
    harness.install_interrupt_handlers()

    with tempfile.TemporaryDirectory(prefix="sim_load_") as tmp:
        run = harness.Run(Path(tmp))
        try:
            sim = start(run, args)
            from app.config import load_settings
            mp = load_settings()["wechat"]["miniprogram"]
            token = harness.http_json(sim.port, "POST", "/cgi-bin/stable_token", {
                "grant_type": "client_credential", "appid": mp["app_id"], "secret": mp["app_secret"]})["access_token"]
            if args.warmup:
                warm = argparse.Namespace(**{**vars(args), "messages": args.warmup})
                post_all(sim.port, token, warm)
            harness.http_json(sim.port, "DELETE", "/_sim/messages")
            cpu0, t0 = sim.cpu_seconds(), time.monotonic()
            ok, errors = post_all(sim.port, token, args)
            seconds, cpu = time.monotonic() - t0, sim.cpu_seconds() - cpu0
            record = harness.http_json(sim.port, "GET", "/_sim/messages?template_id=" + TEMPLATE)["messages"]
            users = {m["touser"] for m in record}
        finally:
            run.close()
    figures = {
        "server": args.server, "fast_path": args.fast_path, "pace": args.pace, "keepalive": args.keepalive, "connections": args.connections,
        "messages": args.messages, "answered_ok": ok, "errors": errors, "recorded": len(record),
        "unique_recorded": len(users), "seconds": round(seconds, 2), "per_second": round(args.messages / seconds),
        "simulator_cpu_s": round(cpu, 2), "simulator_ms_per_message": round(1000 * cpu / args.messages, 3),
    }
    log(f"{args.server}{' ' + ' '.join(args.gunicorn_arg) if args.gunicorn_arg else ''}, "
        f"{'fast path' if args.fast_path else 'Flask views'}, {f'paced {args.pace:g}/s' if args.pace else 'unpaced'}, "
        f"{'keep-alive' if args.keepalive else 'new connection each'}, {args.connections} connections: "
        f"{args.messages} messages in {seconds:.1f} s ({figures['per_second']}/s); simulator CPU {cpu:.2f} s = "
        f"{figures['simulator_ms_per_message']:.3f} ms per message; ok {ok}, errors {errors}, "
        f"recorded {len(record)} ({len(users)} openids)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    complete = ok == args.messages and len(record) == args.messages == len(users)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
