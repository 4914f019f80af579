"""Fault tests with real processes: two `flask jobs scheduler` at once, then the leader killed.

Both run tests/jobs/fast_table.py (one job a second, so periods are seconds) against the suite's
database and a Redis server of their own, with a short lease (APP_SCHEDULER__* variables) to keep
the tests quick. The job appends a line per run to a file: every run must match a claimed
(job, period) row, and no period may be claimed twice.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from app.extensions import db
from jobs.scheduler import LEASE_KEY
from models import JobRun

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS, RENEW_SECONDS = 4, 1
TAKEOVER_LIMIT_SECONDS = 30

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server on PATH")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    """A Redis server of this test's own, never the machine's shared one."""
    port = free_port()
    folder = tmp_path / "redis"
    folder.mkdir()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--daemonize", "no", "--dir", str(folder)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        wait_for(lambda: ping(client), timeout=10, what="redis-server to start")
        yield url
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=10)


def ping(client: redis.Redis) -> bool:
    try:
        return client.ping()
    except redis.ConnectionError:
        return False


def wait_for(condition, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Cluster:
    """Scheduler processes started by one test; killed at its end, whatever happens."""

    def __init__(self, app, database_url: str, redis_url: str, folder: Path) -> None:
        self.app = app
        self.folder = folder
        self.ticks = folder / "ticks.log"
        self.ticks.touch()
        self.redis = redis.Redis.from_url(redis_url)
        self.env = {**os.environ, "FLASK_APP": "app:create_app", "PYTHONPATH": str(ROOT),
                    "APP_DATABASE__URL": database_url, "APP_REDIS__URL": redis_url,
                    "APP_SCHEDULER__LEASE_SECONDS": str(LEASE_SECONDS),
                    "APP_SCHEDULER__RENEW_SECONDS": str(RENEW_SECONDS),
                    "SCHEDULER_TEST_TICKS": str(self.ticks)}
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        log = open(self.folder / f"scheduler-{len(self.processes)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen([sys.executable, "-m", "flask", "jobs", "scheduler", "--table",
                                    "tests.jobs.fast_table"], cwd=ROOT, env=self.env, stdout=log, stderr=log)
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in sorted(self.folder.glob("scheduler-*.log")))

    def runs(self) -> list[tuple[str, str, str]]:
        """(period, status, owner pid) of every claimed run, read fresh."""
        with self.app.app_context():
            try:
                return [(period, status, owner.split(":")[1]) for period, status, owner in db.session.execute(
                    select(JobRun.period, JobRun.status, JobRun.owner).where(JobRun.job == "tick"))]
            finally:
                db.session.remove()

    def executions(self) -> Counter:
        """How many times each process actually ran the job."""
        return Counter(line.split()[0] for line in self.ticks.read_text().splitlines())

    def done_by(self, pid: int) -> int:
        return sum(1 for _, status, owner in self.runs() if status == "done" and owner == str(pid))

    def holder_pid(self) -> int | None:
        holder = self.redis.get(LEASE_KEY)
        return int(holder.decode().split(":")[1]) if holder else None

    def stop(self, process: subprocess.Popen) -> int:
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=30)

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        self.redis.close()


@pytest.fixture
def cluster(make_app, database_url, redis_url, tmp_path):
    made = Cluster(make_app(), database_url, redis_url, tmp_path)
    try:
        yield made
    finally:
        made.close()


def assert_each_run_matches_one_claim(cluster: Cluster, *, killed_pid: int | None = None) -> None:
    runs = cluster.runs()
    periods = [period for period, _, _ in runs]
    assert len(periods) == len(set(periods))  # the unique constraint, seen from here
    claimed = Counter(owner for _, _, owner in runs)
    executed = cluster.executions()
    for pid in set(claimed) | set(executed):
        if pid == str(killed_pid):
            # Killed between claiming a period and running it (or marking it done): at most one short.
            unfinished = sum(1 for _, status, owner in runs if owner == pid and status != "done")
            assert unfinished <= 1 and claimed[pid] - unfinished <= executed[pid] <= claimed[pid]
        else:
            assert executed[pid] == claimed[pid], cluster.logs()
            assert all(status == "done" for _, status, owner in runs if owner == pid)


def test_two_schedulers_at_once_run_each_period_once(cluster):
    first, second = cluster.start(), cluster.start()
    wait_for(lambda: len(cluster.runs()) >= 5, timeout=60, what="five periods to run")
    leader = cluster.holder_pid()
    assert leader in (first.pid, second.pid)
    standby = second if leader == first.pid else first
    assert cluster.done_by(standby.pid) == 0, cluster.logs()
    assert cluster.stop(standby) == 0
    assert cluster.stop(first if standby is second else second) == 0
    assert cluster.redis.get(LEASE_KEY) is None  # the leader gave its lease up on the way out
    assert_each_run_matches_one_claim(cluster)
    assert cluster.logs().count("acquired the lease") == 1


def test_the_standby_takes_over_when_the_leader_is_killed(cluster):
    first, second = cluster.start(), cluster.start()
    wait_for(lambda: len(cluster.runs()) >= 3, timeout=60, what="three periods to run")
    leader_pid = cluster.holder_pid()
    leader, standby = (first, second) if leader_pid == first.pid else (second, first)
    leader.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    leader.wait(timeout=10)
    wait_for(lambda: cluster.done_by(standby.pid) >= 1, timeout=TAKEOVER_LIMIT_SECONDS + 10,
             what="the standby to run the job")
    takeover_seconds = time.monotonic() - killed_at
    assert takeover_seconds < TAKEOVER_LIMIT_SECONDS, cluster.logs()
    wait_for(lambda: cluster.done_by(standby.pid) >= 3, timeout=30, what="the job to go on")
    assert cluster.holder_pid() == standby.pid
    assert cluster.stop(standby) == 0
    assert_each_run_matches_one_claim(cluster, killed_pid=leader.pid)
    killed_periods = [period for period, _, owner in cluster.runs() if owner == str(leader.pid)]
    taken_over_periods = [period for period, _, owner in cluster.runs() if owner == str(standby.pid)]
    assert max(killed_periods) < min(taken_over_periods)  # one leader after the other, never both
