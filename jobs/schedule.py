"""The periodic jobs: the one table `flask jobs scheduler` fires (Asia/Shanghai, one leader cluster-wide).

To add a job, add one line to JOBS:

    Job("activity_reminders", cron(minute="*/5"), reminders.send_due),

- name: unique, snake_case, stable. It is the `job` of the (job, period) row in `job_runs`, so a
  renamed job runs its current period again.
- trigger: `cron(...)` takes APScheduler's cron fields on the Shanghai clock (`cron(hour=2, minute=0)`
  is 02:00 every day); `every(...)` a fixed interval (`every(minutes=10)`) on a grid every instance shares.
- fn: `fn(*, now) -> int | dict`, one idempotent pass that commits its own work (`unit_of_work`) and
  returns what it did, for the log. It runs in the app context with `now = now_utc()`; an exception
  is logged and marks the run failed (a later fire of that period may run it again), and the
  scheduler goes on.
- period (optional, an `app.services.job_runs.Period`): how long one period is; by default the longest that holds one fire, so keys
  read "2026-11-23T10:05" for a minutely cron, "2026-11-23" for a daily one, "2026-Q4" for
  cron(month="1,4,7,10", day=1, ...). Each (job, period) runs fn at most once.

A fire more than `scheduler.misfire_grace_seconds` late (no leader for a while) is skipped, so a job
must also catch up on what it missed rather than act only on the last period.
"""

from __future__ import annotations

from jobs import (attendance, bulletins, campaigns, certificates, exports, kpis, points, reminders, rewards, stars,
                  trainings, uploads)
from jobs.runner import Job, cron, every

JOBS = (
    Job("close_forgotten_checkouts", cron(minute="*"), attendance.close_forgotten_checkouts),
    Job("campaign_drafts", cron(hour=2, minute=0), campaigns.make_drafts),
    Job("volunteer_reminders", cron(minute="*"), reminders.send_due),
    # The extra days let a run missed in an outage catch up; the message keys make repeats send nothing.
    Job("training_reminders_quarter_start", cron(month="1,4,7,10", day="1-7", hour=9, minute=0),
        trainings.remind_quarter_start),
    Job("training_reminders_before_end", cron(month="3,6,9,12", day="1-10", hour=9, minute=0),
        trainings.remind_before_quarter_end),
    # Exports run as Huey tasks; these only re-enqueue lost ones and delete expired files.
    Job("exports_requeue_stalled", cron(minute="*/5"), exports.requeue_stalled),
    Job("exports_delete_expired", cron(minute=23), exports.delete_expired),
    Job("training_compliance_report", cron(month="1,4,7,10", day="1-7", hour=8, minute=30), trainings.compliance_report),
    # KPI rollup: the live periods every 10 minutes, every period of this year and the last at night.
    Job("kpi_refresh", every(minutes=10), kpis.refresh_live),
    Job("kpi_refresh_nightly", cron(hour=3, minute=0), kpis.refresh_nightly),
    # Hourly: the freeze day and hour are in [bulletins]; before them nothing is due, after them the
    # month is claimed once and a missed hour catches up on the next.
    Job("bulletin_freeze", cron(minute=5), bulletins.freeze_due),
    Job("quarterly_report_reminders", cron(month="3,6,9,12", day="1-31", hour=9, minute=15),
        bulletins.remind_quarterly_reports),
    # Certificates whose publicity ended are issued within 5 minutes; lost PDFs are queued again.
    Job("certificates_issue_due", cron(minute="*/5"), certificates.issue_due),
    # Uploads nothing names after [files] unattached_grace_hours: rows, files and thumbnails deleted.
    Job("uploads_sweep", cron(minute=41), uploads.sweep_unattached),
    # Stars: who qualifies gets an application each morning; publicity that ended is awarded within 5 minutes.
    Job("stars_open_qualified", cron(hour=2, minute=30), stars.open_qualified),
    Job("stars_award_due", cron(minute="*/5"), stars.award_due),
    # Rewards: a redemption hold past its time releases its points and unit of stock within 5 minutes.
    Job("rewards_expire_holds", cron(minute="*/5"), rewards.expire_holds),
    # Points: records earn within a minute of being written (outside the scan's transaction); expiry nightly.
    Job("points_earn_catch_up", cron(minute="*"), points.earn_catch_up),
    Job("points_earn_full", cron(hour=3, minute=10), points.earn_full),
    Job("points_expire_due", cron(hour=3, minute=20), points.expire_due),
)
