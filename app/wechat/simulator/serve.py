"""Serving the simulator: granian (a Rust HTTP server) when it is installed, else werkzeug's.

The simulator keeps its state (tokens, recorded messages, the rate-limit bucket) in its process, so
it is served by one process with threads: granian's WSGI interface with one worker and
BLOCKING_THREADS threads (HTTP/1.1 parsing, keep-alive and writing in Rust, the app in Python
threads), or werkzeug's threaded development server. `flask wechat-sim` uses `serve`;
bench/broadcast_sim.py names the same factory for the benchmarks.
"""

from __future__ import annotations

import logging
import os

from flask import Flask

# Threads running the app: parallel requests (an injected delay holds one of them).
BLOCKING_THREADS = 16
# The send limit `serve` was given, for the factory (which runs in the server's worker process).
RATE_VARIABLE = "WECHAT_SIM_RATE_LIMIT_PER_SECOND"


def create_from_settings() -> Flask:
    """The simulator of the configured [wechat] apps (a factory for a server that imports its app: the
    settings come from APP_CONFIG / APP_* as for the service); its send limit is simulator.rate_limit_per_second,
    or WECHAT_SIM_RATE_LIMIT_PER_SECOND if set (by `serve`)."""
    from app.config import load_settings, thaw
    from app.wechat.simulator import create_simulator_app

    conf = load_settings()
    rate = float(os.environ.get(RATE_VARIABLE) or conf["simulator"]["rate_limit_per_second"])
    return create_simulator_app(thaw(conf["wechat"]), rate_limit_per_second=rate)


def granian_available() -> bool:
    try:
        import granian  # noqa: F401
    except ImportError:
        return False
    return True


def serve(host: str, port: int, *, rate_limit: float, server: str = "auto", access_log: bool = True,
          threads: int = BLOCKING_THREADS) -> None:
    """Serve the simulator until interrupted. server: "granian", "werkzeug" or "auto" (granian if installed)."""
    if server == "auto":
        server = "granian" if granian_available() else "werkzeug"
    os.environ[RATE_VARIABLE] = str(rate_limit)  # for the factory, in this process or granian's worker
    if server == "granian":
        from granian import Granian

        Granian(
            f"{__name__}:create_from_settings", factory=True, address=host, port=port, interface="wsgi",
            workers=1, blocking_threads=threads, runtime_threads=1, websockets=False, log_access=access_log,
            log_level="info" if access_log else "warning",
            # Ctrl-C signals the worker as well as the main process, and granian's worker can then hang
            # in its shutdown (its signal handler re-enters threading.Event.set): kill it after 5 s.
            workers_kill_timeout=5,
        ).serve()
        return
    from werkzeug.serving import run_simple

    if not access_log:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    run_simple(host, port, create_from_settings(), threaded=True, use_reloader=False)
