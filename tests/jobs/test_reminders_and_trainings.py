"""The reminder and training jobs: one commit per pass or batch, and nothing twice when run twice."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from app.extensions import db
from jobs import reminders as reminder_jobs
from jobs import trainings as training_jobs
from models import Notification, TeamKind
from tests import factories as f
from tests.services.test_reminders import INVITE_AT, campaign_world  # noqa: F401  (fixture)

UTC = timezone.utc


def count(kind: str) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification).where(Notification.kind == kind))


def test_send_due_invites_in_batches_and_twice_is_once(campaign_world):  # noqa: F811
    db.session.commit()
    first = reminder_jobs.send_due(now=INVITE_AT, batch_size=2)
    assert first["invitations"] == 5
    assert reminder_jobs.send_due(now=INVITE_AT + timedelta(minutes=1), batch_size=2)["invitations"] == 0
    assert count("campaign_invitation") == 5


def test_a_run_out_of_time_goes_on_where_it_stopped(campaign_world):  # noqa: F811
    db.session.commit()
    assert reminder_jobs.send_due(now=INVITE_AT, batch_size=2, invitation_seconds=0)["invitations"] == 2
    assert reminder_jobs.send_due(now=INVITE_AT + timedelta(minutes=1), batch_size=2)["invitations"] == 3
    assert count("campaign_invitation") == 5


def test_training_jobs_remind_and_report_once(app_context, now):
    tree = f.region_tree()
    org = f.organization("甲区志愿者协会", tree["district"], now)
    f.captain("sim_captain", f.team(org, "医疗队", now, TeamKind.MEDICAL), now)
    f.admin("sim_admin", tree["district"], now)
    db.session.commit()
    quarter_start = datetime(2026, 10, 1, 1, 0, tzinfo=UTC)
    assert training_jobs.remind_quarter_start(now=quarter_start) == 1
    assert training_jobs.remind_quarter_start(now=quarter_start + timedelta(days=1)) == 0
    assert training_jobs.remind_before_quarter_end(now=quarter_start) == 0
    assert training_jobs.remind_before_quarter_end(now=datetime(2026, 12, 4, 1, 0, tzinfo=UTC)) == 1
    assert count("training_reminder") == 2
    # On 1 January the quarter just ended is reported to the admin, once.
    new_year = datetime(2027, 1, 1, 0, 30, tzinfo=UTC)
    assert training_jobs.compliance_report(now=new_year) == 1
    assert training_jobs.compliance_report(now=new_year + timedelta(days=1)) == 0
    text = db.session.scalar(select(Notification.payload).where(Notification.kind == "training_compliance"))["text"]
    assert "2026年第4季度" in text and "专业队伍 0/1 支已培训" in text
