"""The bulletin jobs: the hourly freeze check queues each due bulletin once; the quarterly reminder job."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from app.extensions import db
from jobs import bulletins as bulletin_jobs
from jobs.schedule import JOBS
from models import Bulletin
from tests.services.test_bulletins import town  # noqa: F401 (fixture)

BEFORE = datetime(2026, 11, 30, 21, 5, tzinfo=timezone.utc)   # 1 December 05:05 Shanghai: October was due
AFTER = datetime(2026, 11, 30, 22, 5, tzinfo=timezone.utc)    # 06:05: November is due


def test_the_hourly_check_claims_each_due_bulletin_once_and_queues_one_task_per_month(town, monkeypatch):  # noqa: F811
    queued = []
    monkeypatch.setattr(bulletin_jobs.tasks, "freeze_month", queued.append)
    monkeypatch.setattr(bulletin_jobs.tasks, "freeze_bulletin", lambda bulletin_id: queued.append(bulletin_id))
    monkeypatch.setattr(bulletin_jobs.tasks, "render_pdf", lambda bulletin_id: None)
    assert bulletin_jobs.freeze_due(now=BEFORE) == 6
    assert set(db.session.scalars(select(Bulletin.month))) == {"2026-10"}
    assert bulletin_jobs.freeze_due(now=BEFORE) == 0             # the next hour: claimed already
    assert bulletin_jobs.freeze_due(now=AFTER) == 6               # from 06:00 on the 1st: November
    assert queued == ["2026-10", "2026-11"]                       # one task per month, whatever the nodes


def test_the_schedule_has_the_bulletin_jobs(app_context):
    names = {job.name: job for job in JOBS}
    assert names["bulletin_freeze"].fn is bulletin_jobs.freeze_due
    assert names["quarterly_report_reminders"].fn is bulletin_jobs.remind_quarterly_reports
