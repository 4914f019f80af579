"""What a periodic job is, and how one scheduled fire of it runs: app context, (job, period) claim, logging.

A `Job` pairs a name and an APScheduler trigger with a function `fn(*, now) -> int | dict`. A fire
runs the function at most once per (job, period), the period being where the fire's scheduled time
falls (see `app.services.job_runs`). The table of jobs is `jobs/schedule.py`.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from app.db import unit_of_work
from app.extensions import db
from app.services import job_runs
from app.services.job_runs import Period
from app.timeutil import SHANGHAI, current_time, now_utc

logger = logging.getLogger(__name__)

# Interval triggers count from this moment rather than from each process's start, so every
# scheduler instance fires on the same grid and a take-over lands on the same periods.
INTERVAL_ANCHOR = datetime(2000, 1, 1, tzinfo=SHANGHAI)


def cron(**fields: Any) -> CronTrigger:
    """A cron trigger on the Asia/Shanghai clock, e.g. cron(hour=2, minute=0) for 02:00 every day."""
    return CronTrigger(timezone=SHANGHAI, **fields)


def every(**interval: float) -> IntervalTrigger:
    """A fixed interval, e.g. every(minutes=10), on a grid shared by every scheduler instance."""
    return IntervalTrigger(timezone=SHANGHAI, start_date=INTERVAL_ANCHOR, **interval)


def period_of(trigger: BaseTrigger) -> Period:
    """The longest period that holds at most one fire: a minutely cron → MINUTE, 02:00 daily → DAY.

    Found from the coming fires rather than by reading cron fields, whose defaults interact
    (day="1" leaves day_of_week="*", which does not make the job daily).
    """
    fires = _upcoming_fires(trigger)
    for period in reversed(Period):
        if _separates(period, fires):
            return period
    raise ValueError(f"{trigger} fires more than once a second; no period can tell its fires apart")


def _upcoming_fires(trigger: BaseTrigger, count: int = 24) -> list[datetime]:
    fires: list[datetime] = []
    previous, moment = None, now_utc()
    while len(fires) < count:
        previous = trigger.get_next_fire_time(previous, moment)
        if previous is None:
            break
        fires.append(previous)
        moment = previous + timedelta(microseconds=1)
    return fires


def _separates(period: Period, fires: list[datetime]) -> bool:
    keys = [job_runs.period_key(at, period) for at in fires]
    return len(set(keys)) == len(keys)


@dataclass(frozen=True)
class Job:
    """One entry of the table: `fn(now=...)` runs on `trigger`, at most once per `period`."""

    name: str
    trigger: BaseTrigger
    fn: Callable[..., int | dict]
    # The length of one period; None: the longest that holds one fire (see period_of).
    period: Period | None = None

    def __post_init__(self) -> None:
        if self.period is None:
            object.__setattr__(self, "period", period_of(self.trigger))


def load_table(module_name: str) -> tuple[Job, ...]:
    """The `JOBS` of a module (jobs.schedule, or a test's table), checked."""
    table = tuple(importlib.import_module(module_name).JOBS)
    names = [job.name for job in table]
    if len(set(names)) != len(names):
        raise ValueError(f"{module_name}.JOBS repeats a job name: {names}")
    for job in table:
        _check_period_fits(job)
    return table


def _check_period_fits(job: Job) -> None:
    """Refuse a period that holds two fires: the second fire in a period would always be skipped."""
    if not _separates(job.period, _upcoming_fires(job.trigger)):
        raise ValueError(f"job {job.name}: period {job.period} is longer than the time between its fires")


def fire(app: Flask, job: Job, *, owner: str, is_leading: Callable[[], bool] = lambda: True,
         scheduled_at: datetime | None = None) -> str:
    """Run one fire of `job` unless its period already ran: 'done', 'failed', 'skipped' or 'not_leading'.

    The scheduler passes the fire's `scheduled_at`; by hand, the period is the current one. Nothing
    here raises: a failing job is logged and its run marked failed, so the scheduler keeps going.
    The job's `now` is the app's clock (`current_time`: the real one unless a test pinned it).
    """
    if not is_leading():
        # Submitted just before this process lost the lease: the new leader owns the schedule now.
        logger.info("job %s for %s not run: this scheduler no longer holds the lease", job.name,
                    scheduled_at or "now")
        return "not_leading"
    with app.app_context():
        period = job_runs.period_key(scheduled_at or current_time(), job.period)
        try:
            return _run_once(job, period, owner)
        except Exception:
            logger.exception("job %s for %s: could not record its run (database down?)", job.name, period)
            return "failed"
        finally:
            db.session.remove()


def _run_once(job: Job, period: str, owner: str) -> str:
    with unit_of_work():
        run_id = job_runs.claim(job.name, period, owner=owner, now=current_time())
    if run_id is None:
        logger.info("job %s for %s: already done or running elsewhere; skipped", job.name, period)
        return "skipped"
    started = time.monotonic()
    try:
        result = job.fn(now=current_time())
    except Exception as exc:
        db.session.rollback()
        logger.exception("job %s for %s failed", job.name, period)
        with unit_of_work():
            job_runs.mark_failed(run_id, owner=owner, error=f"{type(exc).__name__}: {exc}", now=current_time())
        return "failed"
    with unit_of_work():
        recorded = job_runs.mark_done(run_id, owner=owner, now=current_time())
    # A minutely job that found nothing to do is not news: at INFO it would fill the log twice a minute.
    level = logging.INFO if _did_something(result) or not recorded else logging.DEBUG
    logger.log(level, "job %s for %s done in %.1f s: %s%s", job.name, period, time.monotonic() - started, result,
               "" if recorded else " (its run was re-claimed meanwhile)")
    return "done"


def _did_something(result: object) -> bool:
    """Whether a job's result counts anything: a non-zero number, or a mapping with one."""
    if isinstance(result, dict):
        return any(_did_something(value) for value in result.values())
    return bool(result)
