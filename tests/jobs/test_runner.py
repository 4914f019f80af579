"""The job table and one fire of a job: periods from triggers, the table's checks, once per (job, period)."""

from __future__ import annotations

import sys
import types
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.extensions import db
from app.services.job_runs import Period
from jobs import runner
from jobs.runner import Job, cron, every
from models import JobRun

SCHEDULED = datetime(2026, 11, 23, 2, 5, tzinfo=timezone.utc)  # 10:05 in Shanghai


@pytest.mark.parametrize(("trigger", "period"), [
    (cron(minute="*"), Period.MINUTE),
    (cron(minute="*/5"), Period.MINUTE),
    (cron(second="*/10"), Period.SECOND),
    (cron(minute=0), Period.HOUR),
    (cron(hour=2, minute=0), Period.DAY),
    (cron(day_of_week="mon", hour=9, minute=0), Period.DAY),
    (cron(day=1, hour=9, minute=0), Period.MONTH),
    (cron(month="1,4,7,10", day=1, hour=9, minute=0), Period.QUARTER),
    (cron(month=1, day=1, hour=0, minute=0), Period.YEAR),
    (cron(hour="9,21", minute=0), Period.HOUR),
    (every(seconds=1), Period.SECOND),
    (every(seconds=90), Period.MINUTE),
    (every(hours=2), Period.HOUR),
    (every(days=1), Period.DAY),
])
def test_a_jobs_period_is_the_longest_that_holds_one_fire(trigger, period):
    assert Job("job", trigger, lambda *, now: 0).period == period


def test_an_explicit_shorter_period_is_kept():
    assert Job("daily", cron(hour=2, minute=0), lambda *, now: 0, period=Period.HOUR).period == Period.HOUR


def test_triggers_run_on_the_shanghai_clock_and_intervals_on_a_shared_grid():
    fire = cron(hour=2, minute=0).get_next_fire_time(None, SCHEDULED)
    assert fire.utcoffset() == timedelta(hours=8) and (fire.hour, fire.minute) == (2, 0)
    # Two instances started at different moments fire at the same times.
    one, other = every(minutes=1), every(minutes=1)
    assert one.get_next_fire_time(None, SCHEDULED + timedelta(seconds=7)) == \
        other.get_next_fire_time(None, SCHEDULED + timedelta(seconds=7)) == SCHEDULED + timedelta(minutes=1)


def install_table(monkeypatch, *jobs: Job) -> str:
    module = types.ModuleType("test_table")
    module.JOBS = jobs
    monkeypatch.setitem(sys.modules, "test_table", module)
    return "test_table"


def test_the_real_table_loads():
    table = {job.name: job for job in runner.load_table("jobs.schedule")}
    assert set(table) == {"close_forgotten_checkouts", "campaign_drafts", "volunteer_reminders",
                          "training_reminders_quarter_start", "training_reminders_before_end",
                          "training_compliance_report", "kpi_refresh", "kpi_refresh_nightly", "bulletin_freeze",
                          "quarterly_report_reminders", "exports_requeue_stalled", "exports_delete_expired",
                           "certificates_issue_due", "stars_open_qualified", "stars_award_due", "rewards_expire_holds",
                           "uploads_sweep", "points_earn_catch_up", "points_earn_full", "points_expire_due"}
    # Minutely passes keep minute periods; the quarterly ones run each day of their catch-up window once.
    assert table["volunteer_reminders"].period == "minute"
    assert table["training_reminders_quarter_start"].period == "day"
    assert (table["bulletin_freeze"].period, table["quarterly_report_reminders"].period) == ("hour", "day")
    assert (table["stars_open_qualified"].period, table["stars_award_due"].period) == ("day", "minute")


def test_a_table_repeating_a_name_is_refused(monkeypatch):
    name = install_table(monkeypatch, Job("a", cron(minute="*"), print), Job("a", cron(hour=1), print))
    with pytest.raises(ValueError, match="repeats a job name"):
        runner.load_table(name)


def test_a_period_longer_than_the_gap_between_fires_is_refused(monkeypatch):
    name = install_table(monkeypatch, Job("hourly", cron(minute=0), print, period=Period.DAY))
    with pytest.raises(ValueError, match="hourly: period day is longer"):
        runner.load_table(name)


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[datetime] = []
        self.fail = fail

    def __call__(self, *, now: datetime) -> int:
        self.calls.append(now)
        if self.fail:
            raise RuntimeError("the database said no")
        return len(self.calls)


def rows():
    with db.session.begin():
        result = [tuple(r) for r in db.session.execute(select(JobRun.period, JobRun.status, JobRun.owner, JobRun.error))]
    db.session.remove()
    return result


def test_a_fire_runs_the_job_once_per_period(app):
    job = Recorder()
    entry = Job("tick", cron(minute="*"), job)
    assert runner.fire(app, entry, owner="a", scheduled_at=SCHEDULED) == "done"
    # A double fire, or a second scheduler taking over in the same period, runs nothing.
    assert runner.fire(app, entry, owner="a", scheduled_at=SCHEDULED) == "skipped"
    assert runner.fire(app, entry, owner="b", scheduled_at=SCHEDULED + timedelta(seconds=30)) == "skipped"
    assert runner.fire(app, entry, owner="b", scheduled_at=SCHEDULED + timedelta(minutes=1)) == "done"
    assert len(job.calls) == 2 and all(now.tzinfo is not None for now in job.calls)
    with app.app_context():
        assert rows() == [("2026-11-23T10:05", "done", "a", None), ("2026-11-23T10:06", "done", "b", None)]


def test_a_failing_job_is_recorded_and_retried_by_the_next_fire_of_its_period(app, caplog):
    failing = Recorder(fail=True)
    assert runner.fire(app, Job("tick", cron(minute="*"), failing), owner="a", scheduled_at=SCHEDULED) == "failed"
    assert "job tick for 2026-11-23T10:05 failed" in caplog.text
    with app.app_context():
        assert rows() == [("2026-11-23T10:05", "failed", "a", "RuntimeError: the database said no")]
    assert runner.fire(app, Job("tick", cron(minute="*"), Recorder()), owner="b", scheduled_at=SCHEDULED) == "done"
    with app.app_context():
        assert rows() == [("2026-11-23T10:05", "done", "b", None)]


def test_a_fire_after_the_lease_was_lost_runs_nothing(app):
    job = Recorder()
    result = runner.fire(app, Job("tick", cron(minute="*"), job), owner="a", is_leading=lambda: False,
                         scheduled_at=SCHEDULED)
    assert result == "not_leading" and job.calls == []
    with app.app_context():
        assert rows() == []


def test_a_fire_whose_database_is_down_is_logged_not_raised(make_app, caplog):
    broken = make_app(database={"url": "postgresql+psycopg://nobody@127.0.0.1:9/none"})
    job = Recorder()
    assert runner.fire(broken, Job("tick", cron(minute="*"), job), owner="a", scheduled_at=SCHEDULED) == "failed"
    assert job.calls == [] and "could not record its run" in caplog.text


def test_a_run_that_did_nothing_logs_at_debug_and_one_that_did_something_at_info(app, caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="jobs.runner")
    idle = Job("idle", cron(minute="*"), lambda *, now: {"sent": 0, "closed": 0})
    busy = Job("busy", cron(minute="*"), lambda *, now: {"sent": 0, "closed": 2})
    assert runner.fire(app, idle, owner="a", scheduled_at=SCHEDULED) == "done"
    assert runner.fire(app, busy, owner="a", scheduled_at=SCHEDULED) == "done"
    levels = {record.getMessage().split()[1]: record.levelno for record in caplog.records if " done in " in record.getMessage()}
    assert levels == {"idle": logging.DEBUG, "busy": logging.INFO}
