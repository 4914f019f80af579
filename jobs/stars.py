"""Star jobs: open applications for volunteers who qualify (daily), award stars whose publicity ended.

Both are idempotent: the daily pass opens nothing twice (app/services/stars/jobs.py says why), and
an award is a conditional UPDATE, so a double fire or a missed run awards each once.
"""

from __future__ import annotations

from datetime import datetime

from app.services.stars import jobs


def open_qualified(*, now: datetime) -> dict[str, int]:
    return jobs.open_qualified(now=now)


def award_due(*, now: datetime) -> dict[str, int]:
    return jobs.award_due(now=now)
