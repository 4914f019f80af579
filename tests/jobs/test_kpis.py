"""The KPI refresh jobs write the live periods, and the nightly one every period of two years."""

from __future__ import annotations

from app.extensions import db
from app.tasks import huey
from jobs import kpis
from jobs.schedule import JOBS
from models import KpiValue
from tests import factories as f


def test_the_jobs_are_scheduled():
    assert {"kpi_refresh", "kpi_refresh_nightly"} <= {job.name for job in JOBS}


def test_refresh_live_writes_the_current_month_quarter_and_year(app_context, now):
    f.region_tree("J")
    db.session.commit()
    assert kpis.refresh_live(now=now) == 3
    assert db.session.query(KpiValue).count() == 0  # enqueued, not computed by the scheduler
    run_queued_tasks()
    assert {row.period for row in db.session.query(KpiValue)} == {"2026-11", "2026-Q4", "2026"}


def test_refresh_nightly_writes_every_period_of_this_year_and_the_last(app_context, now):
    f.region_tree("J")
    db.session.commit()
    kpis.refresh_nightly(now=now)
    run_queued_tasks()
    assert len({row.period for row in db.session.query(KpiValue)}) == 2 * (12 + 4 + 1)


def run_queued_tasks():
    """Run what the jobs enqueued, as a worker would (in its own app context and session)."""
    db.session.rollback()  # end the test's read, which would hold SQLite's lock against the worker's write
    while (queued := huey.dequeue()) is not None:
        huey.execute(queued)
    db.session.rollback()
