"""Keep the KPI rollup (`kpi_values`) current: the live periods often, every period of two years nightly.

Each run recomputes whole periods from one snapshot (app/services/kpi/refresh.py says why that can
neither miss nor double an event). A scheduled fire only enqueues the periods on the job library
(Huey); a `flask jobs tasks` worker computes them.
"""

from __future__ import annotations

import logging
from datetime import datetime

from app.services.kpi import refresh
from app.timeutil import to_local

logger = logging.getLogger(__name__)


def refresh_live(*, now: datetime) -> int:
    """Enqueue the recompute of the current month, quarter and year; the number of periods."""
    return _enqueue(refresh.live_periods(now), now)


def refresh_nightly(*, now: datetime) -> int:
    """Enqueue the recompute of every month, quarter and year of this year and the last.

    Late corrections to an older month and changes that move volunteers between nodes reach every
    period they touch by the next morning; older years are computed on first read.
    """
    year = to_local(now).year
    return _enqueue(refresh.all_periods_of_years(year - 1, year), now)


def _enqueue(periods, now: datetime) -> int:
    refresh.refresh_in_background([period.key for period in periods], now)
    return len(periods)
