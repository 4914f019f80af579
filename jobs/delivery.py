"""The delivery worker: sends due notifications from the outbox and links new followers."""

from __future__ import annotations

import logging
import signal
import time

from flask import Flask

from app.extensions import db, get_gateway
from app.services import followers, notifications
from app.timeutil import now_utc
from jobs import attendance, campaigns

logger = logging.getLogger(__name__)
# Until the scheduler exists, the worker also runs these idempotent jobs, each this often (seconds).
PERIODIC_JOBS = ((60, attendance.close_forgotten_checkouts), (3600, campaigns.make_drafts))


def run_worker(app: Flask, *, once: bool = False, interval: float = 1.0, batch: int = 100) -> None:
    """Deliver due notifications until stopped (SIGTERM/SIGINT finish the current message first)."""
    stopping = False

    def _stop(signum, frame):  # noqa: ARG001
        nonlocal stopping
        stopping = True

    if not once:
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    with app.app_context():
        logger.info("delivery worker started")
        due_at = [0.0] * len(PERIODIC_JOBS)
        while not stopping:
            try:
                counts = notifications.deliver_due(get_gateway(), now=now_utc(), limit=batch)
                counts["linked"] = followers.link_new_followers(get_gateway(), now=now_utc())
                for index, (every_seconds, job) in enumerate(PERIODIC_JOBS):
                    if time.monotonic() >= due_at[index]:
                        due_at[index] = time.monotonic() + every_seconds
                        job(now=now_utc())
            except Exception:
                logger.exception("delivery pass failed; retrying")
                db.session.rollback()
                counts = {}
            finally:
                db.session.remove()
            if any(counts.values()):
                logger.info("delivered: %s", counts)
            if once:
                break
            if not any(counts.values()):
                time.sleep(interval)
