"""Points jobs: earn for service records not yet earned (every minute), expire points (daily).

Both are idempotent (app/services/points/earning.py and expiry.py say how), so a double fire or a
missed run earns and expires each point once; the earning pass catches up on any backlog.
"""

from __future__ import annotations

from datetime import datetime

from app.services.points import earning, expiry


def earn_catch_up(*, now: datetime) -> dict[str, int]:
    return earning.catch_up(now=now)


def expire_due(*, now: datetime) -> dict[str, int]:
    return expiry.expire_due(now=now)
