"""One scheduler instance, in process: leads while it holds the lease, stands by otherwise, fires with periods.

Ticks are driven by hand with a fake clock; the lease lives in a private in-process Redis whose
server can be taken down.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import fakeredis
import pytest
import redis
from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING
from apscheduler.triggers.date import DateTrigger

from app.timeutil import now_utc
from jobs.lease import RedisLease
from jobs.runner import Job, cron
from jobs.scheduler import LEASE_KEY, Scheduler, ScheduledTimeExecutor

LEASE_SECONDS, RENEW_SECONDS = 20, 5


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server():
    return fakeredis.FakeServer()


@pytest.fixture
def instances(app, server):
    """Two scheduler instances over one Redis, each with its own clock; shut down afterwards."""
    made = []

    def make() -> tuple[Scheduler, Clock]:
        clock = Clock()
        lease = RedisLease(fakeredis.FakeRedis(server=server), LEASE_KEY, ttl_seconds=LEASE_SECONDS)
        scheduler = Scheduler(app, [Job("tick", cron(minute="*"), lambda *, now: 0)], lease=lease,
                              lease_seconds=LEASE_SECONDS, renew_seconds=RENEW_SECONDS, misfire_grace_seconds=60,
                              clock=clock)
        scheduler.start()
        made.append(scheduler)
        return scheduler, clock

    yield make
    server.connected = True
    for scheduler in made:
        scheduler.shutdown()


def state(scheduler: Scheduler) -> int:
    return scheduler._aps.state


def test_one_instance_leads_and_the_other_stands_by(instances):
    (first, _), (second, _) = instances(), instances()
    assert state(first) == state(second) == STATE_PAUSED
    first.tick()
    second.tick()
    assert first.is_leading() and state(first) == STATE_RUNNING
    assert not second.is_leading() and state(second) == STATE_PAUSED
    for _ in range(3):
        first.tick()
        second.tick()
    assert first.is_leading() and not second.is_leading()


def test_a_standby_takes_over_a_lapsed_lease_and_the_old_leader_steps_down(instances, server, caplog):
    (first, _), (second, _) = instances(), instances()
    first.tick()
    fakeredis.FakeRedis(server=server).delete(LEASE_KEY)  # as when the leader stalled past its lease
    second.tick()
    assert second.is_leading()
    first.tick()
    assert not first.is_leading() and state(first) == STATE_PAUSED
    assert "stepped down (lost the lease)" in caplog.text
    assert f"scheduler {second.lease.owner} acquired the lease" in caplog.text


def test_a_leader_that_cannot_reach_redis_steps_down_before_its_lease_may_lapse(instances, server):
    leader, clock = instances()
    leader.tick()
    server.connected = False
    for _ in range(2):
        clock.now += RENEW_SECONDS
        leader.tick()
        assert leader.is_leading()  # the next attempt still comes before the lease may lapse: retry
    clock.now += RENEW_SECONDS
    leader.tick()
    assert not leader.is_leading() and state(leader) == STATE_PAUSED  # the next one would come at 20 s
    clock.now += RENEW_SECONDS
    leader.tick()  # standing by, still no Redis: nothing raised
    server.connected = True
    fakeredis.FakeRedis(server=server).delete(LEASE_KEY)  # its old lease has lapsed by now
    leader.tick()
    assert leader.is_leading()


def test_a_leader_whose_renewals_hang_steps_down_sooner(instances, server, monkeypatch):
    leader, clock = instances()
    leader.tick()

    def hang(*args, **kwargs):
        clock.now += 6  # connection timeouts and retries
        raise redis.ConnectionError("timed out")

    monkeypatch.setattr(leader.lease, "renew", hang)
    clock.now += RENEW_SECONDS
    leader.tick()  # failed at 11 s; the next attempt would end at 11 + 5 + 6 = 22 s
    assert not leader.is_leading()


def test_a_renewal_that_succeeds_restarts_the_countdown(instances, server):
    leader, clock = instances()
    leader.tick()
    for _ in range(10):
        clock.now += RENEW_SECONDS
        leader.tick()
    server.connected = False
    clock.now += RENEW_SECONDS
    leader.tick()
    assert leader.is_leading()


def test_shutdown_releases_the_lease_for_a_standby(instances):
    (first, _), (second, _) = instances(), instances()
    first.tick()
    first.shutdown()
    second.tick()
    assert second.is_leading()


def run_one_fire(run_at_offset: timedelta, grace_seconds: int) -> tuple[list, list[int]]:
    """Schedule one fire at now + offset through the executor; return its calls and the events."""
    calls, events, finished = [], [], threading.Event()

    def job(**kwargs):
        calls.append(kwargs)

    def listener(event):
        events.append(event.code)
        finished.set()

    scheduler = BackgroundScheduler(executors={"default": ScheduledTimeExecutor(max_workers=1)})
    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED)
    run_at = now_utc() + run_at_offset
    scheduler.add_job(job, DateTrigger(run_at), kwargs={"owner": "a"}, misfire_grace_time=grace_seconds)
    scheduler.start()
    try:
        assert finished.wait(10), "the job neither ran nor was missed"
    finally:
        scheduler.shutdown(wait=True)
    return [(call, run_at) for call in calls], events


def test_the_executor_hands_each_fire_its_scheduled_time():
    calls, events = run_one_fire(-timedelta(seconds=2), grace_seconds=60)
    [(kwargs, run_at)] = calls
    assert kwargs == {"owner": "a", "scheduled_at": run_at}
    assert events == [EVENT_JOB_EXECUTED]


def test_the_executor_skips_a_fire_later_than_its_grace():
    calls, events = run_one_fire(-timedelta(seconds=30), grace_seconds=5)
    assert calls == [] and events == [EVENT_JOB_MISSED]
