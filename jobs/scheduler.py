"""The scheduler process (`flask jobs scheduler`): APScheduler 3 firing the job table, one leader cluster-wide.

Every instance starts APScheduler paused and competes for a Redis lease. The holder resumes it and
renews the lease every `scheduler.renew_seconds`; the others stand by and try to take the lease as
often. A leader that finds the lease gone, or cannot reach Redis until the lease may have lapsed,
pauses at once and stands by again, so two leaders overlap only if a process stalls longer than
its lease. The lease saves duplicate work; correctness comes from the (job, period) claim in the
database (see jobs/runner.py).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import redis
from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from app.extensions import get_redis, settings
from app.timeutil import SHANGHAI, now_utc
from jobs import runner
from jobs.lease import RedisLease

logger = logging.getLogger(__name__)

LEASE_KEY = "scheduler:leader"
MAX_PARALLEL_JOBS = 8


class ScheduledTimeExecutor(BaseExecutor):
    """A thread pool that hands each fire its scheduled time.

    APScheduler 3 tells the scheduled time only to event listeners, not to the job; the period key
    needs it in the job, so this executor calls `func(..., scheduled_at=run_time)`. It applies the
    misfire grace as APScheduler's own executors do.
    """

    def __init__(self, max_workers: int = MAX_PARALLEL_JOBS) -> None:
        super().__init__()
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="job")

    def _do_submit_job(self, job: Any, run_times: Sequence[datetime]) -> None:
        def run() -> list[JobExecutionEvent]:
            events = []
            for run_time in run_times:  # one, the latest, as jobs coalesce
                late = now_utc() - run_time
                if job.misfire_grace_time is not None and late > timedelta(seconds=job.misfire_grace_time):
                    logger.warning("job %s scheduled at %s missed by %s; its next run catches up", job.id,
                                   run_time.isoformat(), late)
                    events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, job._jobstore_alias, run_time))
                    continue
                retval = job.func(*job.args, scheduled_at=run_time, **job.kwargs)
                events.append(JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, job._jobstore_alias, run_time,
                                                retval=retval))
            return events

        def done(future: Future) -> None:
            exc = future.exception()
            if exc is None:
                self._run_job_success(job.id, future.result())
            else:
                self._run_job_error(job.id, exc, exc.__traceback__)

        self._pool.submit(run).add_done_callback(done)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait)


class Scheduler:
    """One scheduler instance: leader while it holds the lease, standby otherwise."""

    def __init__(self, app: Flask, table: Sequence[runner.Job], *, lease: RedisLease, lease_seconds: float,
                 renew_seconds: float, misfire_grace_seconds: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lease = lease
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self._clock = clock
        self._leading = threading.Event()
        self._renewed_at = 0.0  # monotonic time of the last renewal attempt that succeeded
        self._standby_reported = ""
        self._aps = BackgroundScheduler(
            timezone=SHANGHAI, executors={"default": ScheduledTimeExecutor()},
            # A late fire (busy machine, take-over) still runs within the grace, once however many it missed.
            job_defaults={"coalesce": True, "misfire_grace_time": misfire_grace_seconds, "max_instances": 1})
        for job in table:
            self._aps.add_job(runner.fire, trigger=job.trigger, id=job.name, name=job.name, args=[app, job],
                              kwargs={"owner": lease.owner, "is_leading": self.is_leading})

    def is_leading(self) -> bool:
        return self._leading.is_set()

    def run(self, stop: threading.Event) -> None:
        """Lead or stand by until `stop` is set."""
        self.start()
        try:
            while not stop.is_set():
                self.tick()
                stop.wait(self.renew_seconds)
        finally:
            self.shutdown()

    def start(self) -> None:
        """Start APScheduler paused: it fires nothing until this instance holds the lease."""
        self._aps.start(paused=True)
        logger.info("scheduler %s started with jobs %s; standing by for the lease", self.lease.owner,
                    ", ".join(job.id for job in self._aps.get_jobs()))

    def shutdown(self) -> None:
        """Stop firing, let running jobs finish, then give the lease up for a standby to take."""
        if not self._aps.running:
            return
        if self.is_leading():
            self._step_down("shutting down")
        self._aps.shutdown(wait=True)
        try:
            self.lease.release()
        except redis.RedisError:
            pass  # it lapses by itself
        logger.info("scheduler %s stopped", self.lease.owner)

    def tick(self) -> None:
        """Renew the lease if leading, else try to take it."""
        if self.is_leading():
            self._keep_lead()
        else:
            self._try_to_lead()

    def _try_to_lead(self) -> None:
        attempt_at = self._clock()
        try:
            acquired = self.lease.acquire()
            holder = None if acquired else self.lease.holder()
        except redis.RedisError as exc:
            self._report_standby(f"Redis unreachable ({exc})")
            return
        if not acquired:
            self._report_standby(f"lease held by {holder}")
            return
        self._renewed_at = attempt_at
        self._leading.set()
        self._aps.resume()
        self._standby_reported = ""
        logger.info("scheduler %s acquired the lease %s: firing jobs", self.lease.owner, self.lease.key)

    def _keep_lead(self) -> None:
        attempt_at = self._clock()
        try:
            still_held = self.lease.renew()
        except redis.RedisError as exc:
            # The lease may lapse in Redis at renewed_at + lease_seconds, and another instance lead
            # from then on: stop unless the next attempt, taking as long as this one, ends before that.
            failed_at = self._clock()
            if failed_at + self.renew_seconds + (failed_at - attempt_at) >= self._renewed_at + self.lease_seconds:
                self._step_down(f"cannot renew the lease before it lapses: Redis unreachable ({exc})")
            else:
                logger.warning("scheduler %s could not renew the lease (%s); retrying", self.lease.owner, exc)
            return
        if still_held:
            self._renewed_at = attempt_at
        else:
            self._step_down("lost the lease")

    def _step_down(self, reason: str) -> None:
        self._leading.clear()
        self._aps.pause()
        logger.warning("scheduler %s stepped down (%s): jobs paused", self.lease.owner, reason)

    def _report_standby(self, state: str) -> None:
        # Standbys poll often; say so only when what they see changes.
        if state != self._standby_reported:
            logger.info("scheduler %s standing by: %s", self.lease.owner, state)
            self._standby_reported = state


def build(app: Flask, table_module: str = "jobs.schedule") -> Scheduler:
    """A scheduler over the app's Redis and settings and the job table in `table_module`."""
    conf = settings()["scheduler"]
    lease = RedisLease(get_redis(), LEASE_KEY, ttl_seconds=conf["lease_seconds"])
    return Scheduler(app, runner.load_table(table_module), lease=lease, lease_seconds=conf["lease_seconds"],
                     renew_seconds=conf["renew_seconds"], misfire_grace_seconds=conf["misfire_grace_seconds"])


def run_forever(app: Flask, table_module: str = "jobs.schedule") -> None:
    """Run a scheduler until SIGTERM or SIGINT (`flask jobs scheduler`)."""
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:  # noqa: ARG001
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with app.app_context():
        scheduler = build(app, table_module)
    scheduler.run(stop)
