"""Runs of periodic jobs: period keys, one claim per (job, period), re-claims of failed and abandoned runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.db import unit_of_work
from app.extensions import db
from app.services import job_runs
from app.services.job_runs import Period
from models import JobRun

# 2026-11-23 10:05:07 in Shanghai.
AT = datetime(2026, 11, 23, 2, 5, 7, tzinfo=timezone.utc)


@pytest.mark.parametrize(("period", "key"), [
    (Period.SECOND, "2026-11-23T10:05:07"),
    (Period.MINUTE, "2026-11-23T10:05"),
    (Period.HOUR, "2026-11-23T10"),
    (Period.DAY, "2026-11-23"),
    (Period.MONTH, "2026-11"),
    (Period.QUARTER, "2026-Q4"),
    (Period.YEAR, "2026"),
])
def test_period_keys_name_the_shanghai_period(period, key):
    assert job_runs.period_key(AT, period) == key


def test_period_keys_follow_the_shanghai_calendar_not_utc():
    new_year_in_shanghai = datetime(2026, 12, 31, 16, 30, tzinfo=timezone.utc)  # 2027-01-01 00:30
    assert job_runs.period_key(new_year_in_shanghai, Period.DAY) == "2027-01-01"
    assert job_runs.period_key(new_year_in_shanghai, Period.QUARTER) == "2027-Q1"
    assert job_runs.period_key(datetime(2026, 6, 30, 15, 59, tzinfo=timezone.utc), Period.QUARTER) == "2026-Q2"


def claim(job: str, period: str, owner: str, now: datetime) -> int | None:
    with unit_of_work():
        return job_runs.claim(job, period, owner=owner, now=now)


def runs() -> list[tuple[str, str, str, str]]:
    db.session.expire_all()
    return [tuple(row) for row in db.session.execute(
        select(JobRun.job, JobRun.period, JobRun.status, JobRun.owner).order_by(JobRun.id))]


def test_a_period_is_claimed_once(app_context, now):
    first = claim("tick", "2026-11-23T10:05", "a", now)
    assert first is not None
    assert claim("tick", "2026-11-23T10:05", "b", now) is None  # running elsewhere
    assert claim("tick", "2026-11-23T10:05", "a", now) is None  # a double fire in one process too
    assert claim("tick", "2026-11-23T10:06", "b", now) is not None  # the next period is free
    assert claim("other", "2026-11-23T10:05", "b", now) is not None  # and so is another job's
    assert runs() == [("tick", "2026-11-23T10:05", "running", "a"), ("tick", "2026-11-23T10:06", "running", "b"),
                      ("other", "2026-11-23T10:05", "running", "b")]


def test_a_done_period_is_skipped_even_long_after(app_context, now):
    run_id = claim("tick", "2026-11-23", "a", now)
    with unit_of_work():
        assert job_runs.mark_done(run_id, owner="a", now=now + timedelta(seconds=3))
    assert claim("tick", "2026-11-23", "b", now + timedelta(days=30)) is None
    row = job_runs.find("tick", "2026-11-23")
    assert (row.status, row.owner, row.finished_at) == ("done", "a", now + timedelta(seconds=3))


def test_a_failed_period_is_claimed_again_once(app_context, now):
    run_id = claim("tick", "2026-11-23", "a", now)
    with unit_of_work():
        assert job_runs.mark_failed(run_id, owner="a", error="ValueError: " + "x" * 900, now=now)
    row = job_runs.find("tick", "2026-11-23")
    assert row.status == "failed" and len(row.error) == job_runs.ERROR_MAX_CHARS
    again = claim("tick", "2026-11-23", "b", now + timedelta(minutes=1))
    assert again == run_id
    assert claim("tick", "2026-11-23", "c", now + timedelta(minutes=1)) is None
    row = job_runs.find("tick", "2026-11-23")
    db.session.refresh(row)
    assert (row.status, row.owner, row.error, row.finished_at) == ("running", "b", None, None)


def test_a_running_period_is_reclaimed_only_once_stale(app_context, now):
    run_id = claim("tick", "2026-11-23", "dead", now)
    assert claim("tick", "2026-11-23", "b", now + job_runs.STALE_AFTER - timedelta(seconds=1)) is None
    assert claim("tick", "2026-11-23", "b", now + job_runs.STALE_AFTER + timedelta(seconds=1)) == run_id
    # The process it was taken from finishes late: its result must not overwrite the new run.
    with unit_of_work():
        assert not job_runs.mark_done(run_id, owner="dead", now=now + job_runs.STALE_AFTER * 2)
    assert runs() == [("tick", "2026-11-23", "running", "b")]
    with unit_of_work():
        assert job_runs.mark_done(run_id, owner="b", now=now + job_runs.STALE_AFTER * 2)
    assert runs() == [("tick", "2026-11-23", "done", "b")]
    assert db.session.scalar(select(func.count()).select_from(JobRun)) == 1
