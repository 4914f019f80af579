"""Tasks for the task tests: one records its key once, one fails a given number of times first."""

from __future__ import annotations

from app.db import insert_unless_present, unit_of_work
from app.extensions import get_redis
from app.tasks import task
from app.timeutil import now_utc
from models import JobRun


@task(retries=0)
def record(key: str) -> bool:
    """Write one `sample` row for `key`; a second run finds it and adds nothing. Counts its runs in Redis.

    A run is counted once its transaction is over, so a test that waits for the count reads the
    database after every run's commit, not while a worker thread's insert is still in flight.
    """
    try:
        with unit_of_work():
            return insert_unless_present(JobRun, {"job": "sample", "period": key, "status": "done",
                                                  "owner": "task", "started_at": now_utc()}) is not None
    finally:
        get_redis().incr(f"samples:runs:{key}")


@task(retries=3, retry_delay=0)
def flaky(key: str, failures: int) -> None:
    """Raise on the first `failures` attempts, then record `key`."""
    attempt = get_redis().incr(f"samples:attempts:{key}")
    if attempt <= failures:
        raise RuntimeError(f"attempt {attempt} fails on purpose")
    record.call_local(key)
