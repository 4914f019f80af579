"""The web process (`flask web`, app/web_server.py): granian serving the app, health checks out of its
access log, and the loaded app frozen out of the garbage collector's reach in each worker."""

from __future__ import annotations

import gc
import logging
import sys
import weakref

import pytest
import requests

from app import web_server
from tests.faults.harness import _end, _start, free_port, process_env, wait_for


class _Node:
    def __init__(self) -> None:
        self.partner: _Node | None = None


@pytest.fixture
def unfrozen_after():
    assert gc.get_freeze_count() == 0, "the test process must start unfrozen"
    yield
    gc.unfreeze()


def test_what_loading_built_is_frozen_and_its_garbage_collected(unfrozen_after):
    kept = [_Node() for _ in range(1000)]
    cycle = _Node()
    cycle.partner = _Node()
    cycle.partner.partner = cycle
    left_over = weakref.ref(cycle)
    del cycle

    web_server.freeze_loaded_objects()

    assert left_over() is None, "garbage left from loading must be collected, not frozen"
    assert gc.get_freeze_count() >= len(kept)
    tracked = {id(o) for o in gc.get_objects()}
    assert not any(id(node) in tracked for node in kept), "a frozen object is out of every generation"


def _access_record(path: str) -> logging.LogRecord:
    # As granian logs a request: one dict of fields for its format.
    return logging.LogRecord("granian.access", logging.INFO, __file__, 1, '"%(method)s %(path)s" %(status)d',
                             ({"method": "GET", "path": path, "status": 200},), None)


def test_the_access_log_leaves_out_health_checks_only():
    skip = web_server.SkipHealthChecks()
    assert not skip.filter(_access_record("/healthz"))
    assert skip.filter(_access_record("/api/v1/activities"))
    assert skip.filter(_access_record("/healthz/x"))
    assert skip.filter(logging.LogRecord("granian.access", logging.INFO, __file__, 1, "plain", None, None))


def test_flask_web_serves_the_app_and_logs_requests_but_health_checks(tmp_path):
    port = free_port()
    log = tmp_path / "web.log"
    env = process_env(f"sqlite:///{tmp_path / 'web.db'}", APP_REDIS__URL="")
    process = _start([sys.executable, "-m", "flask", "web", "--workers", "1", "--threads", "2", "--port", str(port)],
                     log=log, env=env)
    try:
        def healthy() -> bool:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(healthy, timeout=60, what="flask web to answer /healthz", details=lambda: log.read_text()[-2000:])
        missing = requests.get(f"http://127.0.0.1:{port}/api/v1/no-such-thing", timeout=5)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        wait_for(lambda: "/api/v1/no-such-thing" in log.read_text(), timeout=10, what="the access line",
                 details=lambda: log.read_text()[-2000:])
    finally:
        _end(process)
    written = log.read_text(errors="replace")
    assert '"GET /api/v1/no-such-thing HTTP/1.1" 404' in written
    assert "/healthz" not in written
    assert "worker processes: 1, threads per worker: 2" in written
