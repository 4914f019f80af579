"""The background-task library (Huey) on the worker path: a real consumer runs what a request enqueued.

On SQLite (first pass) the queue is SqliteHuey's file; on the PostgreSQL pass it is RedisHuey on the
suite's Redis. Huey's immediate mode is not used: every task crosses the queue.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import tasks
from app.extensions import db, get_redis
from models import JobRun
from tests.tasks import samples

ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition, *, timeout: float = 20, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def sample_rows(key: str) -> int:
    try:
        return db.session.scalar(select(func.count()).select_from(JobRun).where(JobRun.job == "sample",
                                                                                JobRun.period == key))
    finally:
        # End the read at once: on SQLite every transaction holds the write lock the consumer needs.
        db.session.rollback()


@pytest.fixture
def consumer(app_context):
    """Huey's consumer with two worker threads, in this process, on the app's queue."""
    running = tasks.make_consumer(workers=2)
    running.start()
    yield running
    running.stop(graceful=True)


def test_the_backend_follows_the_redis_setting(app):
    storage = type(tasks.huey.storage).__name__
    assert storage == ("RedisStorage" if os.environ.get("TEST_REDIS_URL") else "SqliteStorage")


def test_a_task_enqueued_runs_in_the_consumer_in_the_app_context(consumer):
    samples.record("first")
    wait_for(lambda: get_redis().get("samples:runs:first") == b"1", what="the consumer to run the task")
    assert sample_rows("first") == 1


def test_a_failing_task_is_retried_until_it_succeeds(consumer):
    samples.flaky("flaky", 2)
    wait_for(lambda: sample_rows("flaky") == 1, what="the third attempt")
    assert int(get_redis().get("samples:attempts:flaky")) == 3


def test_a_task_run_twice_changes_nothing_the_second_time(consumer):
    samples.record("twice")
    samples.record("twice")
    wait_for(lambda: get_redis().get("samples:runs:twice") == b"2", what="both runs")
    assert sample_rows("twice") == 1


def test_an_unbound_queue_refuses_to_enqueue():
    storage = tasks.UnboundStorage("volunteer")
    with pytest.raises(RuntimeError, match="not bound"):
        storage.enqueue(b"task")


def test_the_flask_jobs_tasks_process_runs_an_enqueued_task(app_context, database_url):
    """A real `flask jobs tasks` process on the suite's database and queue."""
    conf = app_context.extensions["settings"]
    env = {**os.environ, "FLASK_APP": "app:create_app", "APP_DATABASE__URL": database_url,
           "APP_REDIS__URL": conf["redis"]["url"], "APP_TASKS__SQLITE_PATH": conf["tasks"]["sqlite_path"],
           "APP_FILES__DIRECTORY": conf["files"]["directory"]}
    samples.record("process")
    worker = subprocess.Popen([sys.executable, "-m", "flask", "jobs", "tasks", "--workers", "1",
                               "--import", "tests.tasks.samples"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: sample_rows("process") == 1, timeout=60, what="the task process")
    finally:
        worker.send_signal(signal.SIGINT)  # Huey's graceful stop
        output, _ = worker.communicate(timeout=30)
    assert "task consumer on" in output
    assert "tests.tasks.samples.record" in output
