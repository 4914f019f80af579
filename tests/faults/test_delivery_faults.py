"""Delivery under faults, with real processes: workers killed, Redis restarted, WeChat limiting and stalling.

Each test runs its own redis-server, its own WeChat simulator (`flask wechat-sim`) and its own
`flask jobs worker` processes against the suite's database (see harness.py); nothing touches the
machine's shared Redis. The simulator's record of what it received is the proof: nobody gets an
announcement twice, every row `sent` matches exactly one received message (same msgid), every
recipient's row ends `sent` or `ambiguous`, and only what the faults explain ends `ambiguous`.
"""

from __future__ import annotations

import time

import pytest

from models import NotificationStatus
from tests.faults.harness import (HAVE_REDIS_SERVER, LOST_IN_WORKER, Outcome, RedisServer, SimulatorProcess, Workers,
                                  process_env, seed_broadcast, settled, status_counts, wait_for)

pytestmark = pytest.mark.skipif(not HAVE_REDIS_SERVER, reason="needs redis-server on PATH")

# What a worker writes when a send's answer never came (WeChatTimeout).
TIMED_OUT = "no answer from WeChat within"


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis")
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def sim(database_url, tmp_path):
    simulator = SimulatorProcess(tmp_path, process_env(database_url))
    try:
        yield simulator
    finally:
        simulator.close()


@pytest.fixture
def make_workers(database_url, redis_server, sim, tmp_path):
    made: list[Workers] = []

    def factory(**delivery: str) -> Workers:
        workers = Workers(tmp_path, database_url, redis_server.url, sim.url, **delivery)
        made.append(workers)
        return workers

    try:
        yield factory
    finally:
        for workers in made:
            workers.close()


def progress(app, broadcast, sim, workers):
    return lambda: {"simulator_received": sim.sent(), "rows": dict(status_counts(app, broadcast.announcement_id)),
                    "workers_alive": len(workers.alive()), "logs": workers.logs(1500)}


def report(name: str, outcome: Outcome, seconds: float, **extra) -> dict:
    figures = {**outcome.figures(), **extra, "seconds": round(seconds, 1)}
    print(f"\n[{name}] " + ", ".join(f"{key}={value}" for key, value in figures.items()))
    return figures


def test_worker_killed_mid_broadcast(app, sim, make_workers):
    """10,000 recipients, two workers, one SIGKILLed mid-broadcast and a fresh one started: nobody lost,
    nobody twice; only the killed worker's in-flight batch may end ambiguous (recovered after the lease)."""
    started = time.monotonic()
    broadcast = seed_broadcast(app, sim, 10_000)
    seeded = time.monotonic() - started
    workers = make_workers()
    victim, survivor = workers.start(), workers.start()
    details = progress(app, broadcast, sim, workers)
    wait_for(lambda: sim.sent() >= 2_000, timeout=120, what="2,000 sends before the kill", details=details)
    workers.kill(victim)
    received_at_kill = sim.sent()
    assert received_at_kill < len(broadcast.openids), "the broadcast ended before the kill: nothing was tested"
    workers.start()
    # The dead worker's batch stays `sending` until a sweep (every 15 s) finds it older than the lease.
    wait_for(lambda: settled(app, broadcast), timeout=180, what="every row to leave pending/sending", details=details)
    assert survivor.poll() is None and len(workers.alive()) == 2, workers.logs()

    outcome = Outcome.read(app, broadcast, sim)
    report("worker killed", outcome, time.monotonic() - started, received_at_kill=received_at_kill,
           seeding_seconds=round(seeded, 1))
    outcome.assert_exactly_once_or_ambiguous()
    ambiguous = outcome.with_status(NotificationStatus.AMBIGUOUS)
    # Only the batch in flight in the killed worker: at most one batch, each marked by the sweep.
    assert len(ambiguous) <= workers.delivery("batch_size"), outcome.figures()
    assert all(row.last_error == LOST_IN_WORKER for row in ambiguous), [row for row in ambiguous[:5]]
    assert len(outcome.with_status(NotificationStatus.SENT)) + len(ambiguous) == len(broadcast.openids)


def test_redis_restart_during_delivery(app, sim, redis_server, make_workers):
    """Redis stops mid-delivery (its data gone: rate buckets, cached access token) and comes back on the
    same port: the workers pause, survive, resume, and every recipient gets the announcement once."""
    started = time.monotonic()
    broadcast = seed_broadcast(app, sim, 3_000)
    # A shared rate of 300/s keeps the broadcast going for ~10 s, long enough to pull Redis from under it.
    workers = make_workers(APP_DELIVERY__SUBSCRIBE_PER_SECOND="300")
    workers.start(), workers.start()
    details = progress(app, broadcast, sim, workers)
    wait_for(lambda: sim.sent() >= 600, timeout=120, what="600 sends before stopping Redis", details=details)
    redis_server.stop()
    received_at_stop = sim.sent()
    assert received_at_stop < len(broadcast.openids), "the broadcast ended before Redis stopped: nothing was tested"
    # No worker can take from the shared rate while Redis is away, so no new batch is claimed.
    wait_for(lambda: all("delivery paused" in log for log in workers.each_log()), timeout=30,
             what="every worker to notice Redis is gone", details=details)
    time.sleep(3)
    received_while_down = sim.sent() - received_at_stop
    redis_server.start()
    wait_for(lambda: sim.sent() > received_at_stop + received_while_down, timeout=60,
             what="delivery to resume once Redis is back", details=details)
    wait_for(lambda: settled(app, broadcast), timeout=120, what="every row to leave pending/sending", details=details)
    assert len(workers.alive()) == 2, workers.logs()

    outcome = Outcome.read(app, broadcast, sim)
    report("redis restarted", outcome, time.monotonic() - started, received_at_stop=received_at_stop,
           received_while_down=received_while_down)
    outcome.assert_exactly_once_or_ambiguous()
    # Redis is not on the send path: an ambiguous row can only come from a send whose answer timed out.
    ambiguous = outcome.with_status(NotificationStatus.AMBIGUOUS)
    assert all(row.last_error and row.last_error.startswith(TIMED_OUT) for row in ambiguous), ambiguous[:5]
    assert len(outcome.with_status(NotificationStatus.SENT)) + len(ambiguous) == len(broadcast.openids)


def test_rate_limit_and_timeouts_back_off_then_deliver(app, sim, make_workers):
    """WeChat answers 45009 (injected, then from its own rate limit) and stalls past the timeout on a few
    sends: the rate-limited rows come back after backoff and are delivered, the stalled ones end
    ambiguous and are never resent, nobody gets the announcement twice."""
    rejected, stalled, stall_seconds = 30, 5, 4.0
    started = time.monotonic()
    broadcast = seed_broadcast(app, sim, 400)
    # The simulator allows 50 sends a second; the workers' shared bucket allows twice that.
    sim.configure(rate_limit_per_second=50)
    sim.fault(api="subscribe", errcode=45009, count=rejected)
    sim.fault(api="subscribe", delay_seconds=stall_seconds, count=stalled)
    workers = make_workers(APP_DELIVERY__SUBSCRIBE_PER_SECOND="100", APP_DELIVERY__MAX_ATTEMPTS="20")
    assert stall_seconds > float(workers.settings["APP_WECHAT__TIMEOUT_SECONDS"])
    workers.start(), workers.start()
    details = progress(app, broadcast, sim, workers)
    wait_for(lambda: settled(app, broadcast), timeout=120, what="every row to leave pending/sending", details=details)
    # A stalled request is answered (and recorded, unless over the rate) stall_seconds after it arrived;
    # its worker gave up long before the row was marked, so this bounds the late recordings.
    time.sleep(stall_seconds)

    outcome = Outcome.read(app, broadcast, sim)
    stats = sim.stats()
    figures = report("rate limit and timeouts", outcome, time.monotonic() - started,
                     faults_served=stats["faults_served"], simulator_rate_limited=stats["rate_limited"],
                     subscribe_calls=stats["calls"].get("subscribe", 0))
    outcome.assert_exactly_once_or_ambiguous()
    assert sim.faults() == [] and stats["faults_served"] == rejected + stalled, figures
    assert stats["rate_limited"] > 0, f"the simulator's own rate limit never answered 45009: {figures}"
    ambiguous = outcome.with_status(NotificationStatus.AMBIGUOUS)
    assert len(ambiguous) == stalled, figures
    assert all(row.last_error.startswith(TIMED_OUT) for row in ambiguous), ambiguous
    assert len(outcome.with_status(NotificationStatus.SENT)) == len(broadcast.openids) - stalled, figures
    # Every attempt reached the simulator once, and every failed one was retried, never a stalled one:
    # attempts beyond the first = injected 45009s + the simulator's own 45009s, less those it gave
    # to stalled requests after their stall (their rows were already ambiguous, not retried).
    attempts = sum(row.attempts for row in outcome.rows)
    assert attempts == stats["calls"]["subscribe"], figures
    stalled_then_limited = stalled - figures["ambiguous_received"]
    assert attempts - len(outcome.rows) == rejected + stats["rate_limited"] - stalled_then_limited, figures
    assert figures["retried"] >= 1, figures
