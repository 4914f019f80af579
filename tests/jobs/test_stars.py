"""The star jobs: the daily pass opens each application once, by its (job, day) claim and by its own checks;
the award pass awards once whatever fires twice."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.services.stars import flow
from jobs import runner, stars as star_jobs
from models import ActivityStatus, RecordKind, RecordSource, ServiceRecord, StarApplication, StarStatus
from tests import factories as f


def served(world, minutes):
    world.build("tree", "org", "alice")
    world.alice.created_at = world.now - timedelta(days=400)
    held = world.add_activity(starts_in=-timedelta(days=30), status=ActivityStatus.FINISHED)
    db.session.add(ServiceRecord(volunteer_id=world.alice.id, activity_id=held.id, kind=RecordKind.ATTENDANCE,
                                 source=RecordSource.SCAN, minutes=minutes, created_at=world.now))
    db.session.commit()


def count():
    return db.session.scalar(select(func.count()).select_from(StarApplication))


def test_the_daily_pass_runs_once_a_day_and_opens_nothing_twice(app, world):
    served(world, 120 * 60)
    table = {job.name: job for job in runner.load_table("jobs.schedule")}
    daily = table["stars_open_qualified"]
    assert runner.fire(app, daily, owner="a") == "done"
    assert runner.fire(app, daily, owner="b") == "skipped"
    assert count() == 1
    # Run by hand again (a later day): the open application stands, nothing more is opened.
    assert star_jobs.open_qualified(now=world.now + timedelta(days=1)) == {"opened": 0}
    assert count() == 1


def test_the_award_pass_awards_once(app, world):
    served(world, 120 * 60)
    star_jobs.open_qualified(now=world.now)
    street_admin = f.admin("sim_street_admin", world.tree["street"], world.now)
    row = db.session.scalar(select(StarApplication))
    flow.review(street_admin.id, row.id, approve=True, reason=None, now=world.now)
    db.session.commit()
    ends = row.publicity_ends_at
    assert star_jobs.award_due(now=ends - timedelta(minutes=1)) == {"awarded": 0}
    assert star_jobs.award_due(now=ends) == {"awarded": 1}
    assert star_jobs.award_due(now=ends + timedelta(minutes=5)) == {"awarded": 0}
    db.session.expire_all()
    assert db.session.get(StarApplication, row.id).status is StarStatus.AWARDED
