"""Attendance jobs: close check-ins nobody checked out once an activity is well over."""

from __future__ import annotations

import logging
from datetime import datetime

from app.db import unit_of_work
from app.extensions import settings
from app.services import checkins

logger = logging.getLogger(__name__)


def close_forgotten_checkouts(*, now: datetime) -> int:
    """One pass over activities past end + grace; safe to run at any time, twice, or in two processes."""
    conf = settings()["checkin"]
    with unit_of_work():
        closed = checkins.close_forgotten_checkouts(rules=checkins.Rules.from_settings(conf),
                                                    policy=conf["forgotten_checkout_policy"], now=now)
    if closed:
        logger.info("closed %d forgotten check-outs (%s)", closed, conf["forgotten_checkout_policy"])
    return closed
