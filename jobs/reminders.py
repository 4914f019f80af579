"""Reminder jobs: every minute, write the volunteers' reminders, thanks and campaign invitations that fell due."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from app.db import unit_of_work
from app.services import reminders

logger = logging.getLogger(__name__)

# Invitations stream in batches for at most this long per run, so the next minute's reminders are
# not held up by a large campaign; the next run goes on where this one stopped.
INVITATION_SECONDS = 40.0


def send_due(*, now: datetime, invitation_seconds: float = INVITATION_SECONDS,
             batch_size: int = reminders.INVITATION_BATCH) -> dict[str, int]:
    """One pass; keyed by sign-up (or volunteer) and start time, so a double run or two schedulers write nothing twice."""
    with unit_of_work():
        counts = reminders.send_reminders(now=now)
    with unit_of_work():
        due = reminders.due_invitations(now=now)
    deadline = time.monotonic() + invitation_seconds
    counts["invitations"] = 0
    for invitation in due:
        where = reminders.progress(invitation)
        after = where if isinstance(where, int) else 0
        while True:
            # One transaction per batch: memory stays flat and a crash loses one batch at most.
            with unit_of_work():
                written, after = reminders.invite_batch(invitation, now=now, after_volunteer_id=after,
                                                        limit=batch_size)
            counts["invitations"] += written
            reminders.note_progress(invitation, "done" if after is None else after)
            if after is None or time.monotonic() >= deadline:
                break
        if time.monotonic() >= deadline:
            break
    if any(counts.values()):
        logger.info("reminders written: %s", counts)
    return counts
