"""Points jobs: earn for service records not yet earned (every minute, and a full pass nightly), expire points (daily).

Both are idempotent (app/services/points/earning.py and expiry.py say how), so a double fire or a
missed run earns and expires each point once; the earning pass catches up on any backlog.
"""

from __future__ import annotations

from datetime import datetime

from app.services.points import earning, expiry

WINDOW = 10_000


def earn_catch_up(*, now: datetime) -> dict[str, int]:
    """Minutely: the recent records (ids near the highest earned); see earning.catch_up."""
    return earning.catch_up(now=now, window=WINDOW)


def earn_full(*, now: datetime) -> dict[str, int]:
    """Nightly: every record without an earning, in batches until none is left."""
    total: dict[str, int] = {"records": 0, "earned": 0, "taken_back": 0, "skipped": 0}
    while True:
        done = earning.catch_up(now=now)
        for name, value in done.items():
            total[name] = total.get(name, 0) + value
        # Stop when the batch was the last, or when nothing in it could be handled (failures wait for tomorrow).
        if done["records"] < earning.BATCH or done["records"] == done["skipped"] + done.get("failed", 0):
            return total


def expire_due(*, now: datetime) -> dict[str, int]:
    return expiry.expire_due(now=now)
