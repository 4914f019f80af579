"""Keep the KPI rollup (`kpi_values`) current: the live periods often, every period of two years nightly.

Each run recomputes whole periods from one snapshot (app/services/kpi/refresh.py says why that can
neither miss nor double an event). These are meant to be enqueued on the job library (a scheduled
fire only enqueues, a worker computes); until it is wired in they run the refresh directly here.
"""

from __future__ import annotations

import logging
from datetime import datetime

from app.db import unit_of_work
from app.services.kpi import refresh
from app.timeutil import to_local

logger = logging.getLogger(__name__)


def refresh_live(*, now: datetime) -> int:
    """Recompute the current month, quarter and year (meant to be enqueued as a task)."""
    with unit_of_work():
        return refresh.refresh(refresh.live_periods(now), now=now)


def refresh_nightly(*, now: datetime) -> int:
    """Recompute every month, quarter and year of this year and the last (meant to be enqueued as a task).

    Late corrections to an older month and changes that move volunteers between nodes reach every
    period they touch by the next morning; older years are computed on first read.
    """
    year = to_local(now).year
    with unit_of_work():
        return refresh.refresh(refresh.all_periods_of_years(year - 1, year), now=now)
