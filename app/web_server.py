"""The web process: the app served by granian's WSGI interface (`flask web`).

Granian (a Rust HTTP server, already the simulator's) parses HTTP/1.1, keeps connections alive and
writes answers in Rust; each worker process runs the app in a few Python threads. Against gunicorn's
sync workers, which parse in Python and close the connection after every answer, it takes about
half the CPU per request around the app, and clients (a proxy, the load generator) stop paying a
TCP connection per request. docs/ARCHITECTURE.md ("The web process runs on granian") has the
figures; `bench/checkin.py --server gunicorn` measures the old way beside it.
"""

from __future__ import annotations

import copy
import gc
import logging
import os
from typing import Any

from flask import Flask

# Two threads per worker: while one waits on PostgreSQL the other runs Python (measured best on 2 cores).
THREADS_PER_WORKER = 2
HEALTH_PATH = "/healthz"


def create_web_app() -> Flask:
    """The app as a web worker serves it: the factory granian calls once in each worker process."""
    from app import create_app

    app = create_app()
    freeze_loaded_objects()
    return app


def freeze_loaded_objects() -> None:
    """Move what loading the app built (about 250,000 objects) out of the garbage collector's reach.

    Without this, each full collection walks the whole app, libraries included: about 150 ms with the
    GIL held, during which the worker answers nothing. Frozen, a full collection walks only what
    requests have built since. The collection first keeps garbage left over from loading from being
    frozen with it.
    """
    gc.collect()
    gc.freeze()


class SkipHealthChecks(logging.Filter):
    """Leave `/healthz` out of the access log: probes would drown the requests a person is trying to follow."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.args, dict) and record.args.get("path") == HEALTH_PATH)


def logging_config() -> dict[str, Any]:
    """Granian's own logging settings with `SkipHealthChecks` on its access log (granian replaces the
    top-level keys it is given, so they are given whole)."""
    from granian.log import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"skip_health_checks": {"()": SkipHealthChecks}}
    config["handlers"]["access"]["filters"] = ["skip_health_checks"]
    return config


def serve(host: str, port: int, *, workers: int | None = None, threads: int = THREADS_PER_WORKER,
          access_log: bool = True) -> None:
    """Serve the app until interrupted: `workers` processes (default: one per CPU), `threads` each."""
    from granian import Granian

    Granian(
        f"{__name__}:create_web_app", factory=True, address=host, port=port, interface="wsgi",
        workers=workers or os.cpu_count() or 1, blocking_threads=threads, runtime_threads=1, websockets=False,
        log_level="info", log_dictconfig=logging_config(), log_access=access_log,
        # A worker that dies (out of memory, a crash in a C extension) is started again.
        respawn_failed_workers=True,
        # Ctrl-C signals the workers as well as the main process, and a granian worker can then hang
        # in its shutdown (its signal handler re-enters threading.Event.set): killed after 5 s.
        workers_kill_timeout=5,
    ).serve()
