"""Training jobs: remind teams and streets without a training this quarter; the quarter's compliance for admins."""

from __future__ import annotations

import logging
from datetime import datetime

from app.db import unit_of_work
from app.services import trainings

logger = logging.getLogger(__name__)


def remind_quarter_start(*, now: datetime) -> int:
    """The first reminder of the quarter; keyed by (quarter, stage, team or street, recipient), safe to run twice."""
    return _remind(trainings.QUARTER_START, now)


def remind_before_quarter_end(*, now: datetime) -> int:
    """The reminder four weeks before the quarter ends; does nothing before that day, safe to run twice."""
    return _remind(trainings.BEFORE_END, now)


def compliance_report(*, now: datetime) -> int:
    """Tell every admin who in their region trained in the quarter just ended, and log the platform's totals.

    Keyed by (quarter, region, admin): a second run writes nothing.
    """
    quarter = trainings.Quarter.of(now).previous()
    with unit_of_work():
        written, summary = trainings.tell_admins(quarter, now=now)
    logger.info("training compliance %s: teams %d/%d, streets %d/%d trained; %d admin summaries written",
                quarter.key, summary["teams_trained"], summary["teams"], summary["streets_trained"],
                summary["streets"], written)
    return written


def _remind(stage: str, now: datetime) -> int:
    with unit_of_work():
        written = trainings.remind(now=now, stage=stage)
    if written:
        logger.info("training reminders (%s) written: %d", stage, written)
    return written
