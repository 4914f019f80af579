"""Bulletin jobs: freeze last month's bulletins (hourly check), remind units of their quarterly report (daily).

The freeze day and hour are configuration (`[bulletins]`), so the scheduler fires hourly and the
service decides which month is due: from the freeze day and hour on, last month; before, the month
before it (a catch-up for a run missed in an outage). Nodes whose bulletin is claimed already are
skipped; failed or stale claims are taken back. The claimed bulletins of the month are one Huey
task (`freeze_month`: the figures are computed once for the whole tree); each PDF is one task.
"""

from __future__ import annotations

import logging
from datetime import datetime

from app.db import unit_of_work
from app.services import bulletins, quarterly_reports
from app.services.bulletins import downloads, tasks

logger = logging.getLogger(__name__)


def freeze_due(*, now: datetime) -> int:
    """Claim and enqueue the due month's bulletins, and PDFs to render again; how many bulletins were queued."""
    month = bulletins.due_month(now)
    with unit_of_work():
        claimed = bulletins.claim_due(month, now=now)
    if claimed:
        tasks.freeze_month(month.key)
    with unit_of_work():
        renders = downloads.pdfs_to_render(now)
    for bulletin_id in renders:
        tasks.render_pdf(bulletin_id)
    if claimed or renders:
        logger.info("bulletins of %s queued: %d; PDFs queued again: %d", month.key, len(claimed), len(renders))
    return len(claimed)


def remind_quarterly_reports(*, now: datetime) -> int:
    """The daily reminder of units without a quarterly report; keyed per day, safe to run twice."""
    with unit_of_work():
        written = quarterly_reports.remind(now=now)
    if written:
        logger.info("quarterly report reminders written: %d", written)
    return written
