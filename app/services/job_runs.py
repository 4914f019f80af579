"""Runs of periodic jobs: one row per (job, period), claimed before the job acts.

The scheduler fires a job for a scheduled time; the time is turned into a period key ("2026-11-23T10:05"
for a minutely job, "2026-11-23" for a daily one) and the run is claimed by inserting the unique
(job, period) row. A double fire, a restart or a second scheduler taking over in the same period
finds the row and does nothing. A period whose run failed, or whose run has been `running` for
longer than `STALE_AFTER` (its process died mid-run), may be claimed again: the jobs themselves are
idempotent, so running a period twice is safe, only wasteful.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, or_, select, update

from app.db import insert_unless_present
from app.extensions import db
from app.timeutil import to_local
from models import JobRun

# Longer than any job should take and than the scheduler's misfire grace, so a live run is never
# taken from under its process by a late fire of the same period.
STALE_AFTER = timedelta(minutes=10)
ERROR_MAX_CHARS = 500


class RunStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Period(StrEnum):
    """How long one period of a job is; the key names the period a scheduled time falls in."""

    SECOND = "second"
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


_KEY_FORMATS = {
    Period.SECOND: "%Y-%m-%dT%H:%M:%S",
    Period.MINUTE: "%Y-%m-%dT%H:%M",
    Period.HOUR: "%Y-%m-%dT%H",
    Period.DAY: "%Y-%m-%d",
    Period.MONTH: "%Y-%m",
    Period.YEAR: "%Y",
}


def period_key(scheduled_at: datetime, period: Period) -> str:
    """Name the period (in Asia/Shanghai, where the schedule is written) that a scheduled time falls in."""
    local = to_local(scheduled_at)
    if period is Period.QUARTER:
        return f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    return local.strftime(_KEY_FORMATS[Period(period)])


def claim(job: str, period: str, *, owner: str, now: datetime, stale_after: timedelta = STALE_AFTER) -> int | None:
    """Claim the run of `job` for `period`: its id, or None if it is done or still running elsewhere."""
    run_id = insert_unless_present(JobRun, {"job": job, "period": period, "status": RunStatus.RUNNING.value,
                                            "owner": owner, "started_at": now})
    if run_id is not None:
        return run_id
    # The row exists. A conditional UPDATE lets exactly one of several claimants take a failed or
    # abandoned run; a done one, or one running recently, stays as it is.
    reclaimable = or_(JobRun.status == RunStatus.FAILED.value,
                      and_(JobRun.status == RunStatus.RUNNING.value, JobRun.started_at < now - stale_after))
    return db.session.execute(
        update(JobRun).where(JobRun.job == job, JobRun.period == period, reclaimable)
        .values(status=RunStatus.RUNNING.value, owner=owner, started_at=now, finished_at=None, error=None)
        .returning(JobRun.id).execution_options(synchronize_session=False)
    ).scalar()


def mark_done(run_id: int, *, owner: str, now: datetime) -> bool:
    """Record that the run finished; False if another process has re-claimed it meanwhile."""
    return _finish(run_id, owner=owner, status=RunStatus.DONE, now=now, error=None)


def mark_failed(run_id: int, *, owner: str, error: str, now: datetime) -> bool:
    """Record that the run raised; the period may be claimed again."""
    return _finish(run_id, owner=owner, status=RunStatus.FAILED, now=now, error=error[:ERROR_MAX_CHARS])


def _finish(run_id: int, *, owner: str, status: RunStatus, now: datetime, error: str | None) -> bool:
    result = db.session.execute(
        update(JobRun).where(JobRun.id == run_id, JobRun.owner == owner, JobRun.status == RunStatus.RUNNING.value)
        .values(status=status.value, finished_at=now, error=error)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def find(job: str, period: str) -> JobRun | None:
    """The run of `job` for `period`, if any."""
    return db.session.scalar(select(JobRun).where(JobRun.job == job, JobRun.period == period))
