"""Write the rollup `kpi_values`: a full recompute of whole periods from one snapshot.

Why a full recompute per period and not deltas: a delta applied per event can be lost (a crash
between the event and its delta) or applied twice (a retried job), and needs every writer of the
raw tables to remember it. Recomputing a period reads only committed rows, so an event is either in
the snapshot (counted once, whatever was retried before) or not yet (counted by the next refresh).

Two refreshes may run at once (a scheduled one and an on-demand read). Each stamps its rows with
`computed_at = now`, read *before* its snapshot, so the stamp means "every event committed before
this moment is included"; the upsert replaces a row only with one of an equal or later stamp, so a
slow refresh that started earlier never overwrites the figures of one that started later, and the
promise a row makes only ever gets stronger.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import text

from app.db import unit_of_work, upsert_insert
from app.extensions import db
from app.services.kpi import stat_rollup
from app.services.kpi.compute import compute_periods
from app.services.kpi.periods import MONTH, QUARTER, YEAR, Period
from app.tasks import task
from models import KpiValue

logger = logging.getLogger(__name__)

# PostgreSQL's memory per sort or hash node during a refresh.
_WORK_MEM = "64MB"


def refresh(periods: Iterable[Period], *, now: datetime, region_ids=None, statistics: bool = True) -> int:
    """Recompute and store the given periods for every region (or `region_ids`); return the rows written.

    With every region and `statistics` (the scheduled refreshes), the statistics rollup
    `stat_values` (app/services/kpi/stat_rollup.py) is recomputed for the same periods from the
    same snapshot; an on-demand KPI read of a period never refreshed leaves it out (the statistics
    of such a period are computed directly until the nightly refresh stores them).

    `now` is both the live periods' cap and the snapshot's stamp: read it before the transaction
    begins. On PostgreSQL a transaction opened here is REPEATABLE READ, so every query of every
    period sees the same committed state; called inside a transaction already open (an on-demand
    read, a test) it reads in that one. The caller commits (the boundary owns the transaction).
    """
    open_snapshot()
    periods = list(dict.fromkeys(periods))
    rows = []
    for period, by_region in compute_periods(periods, now=now, region_ids=region_ids).items():
        for region_id, figures in by_region.items():
            rows.extend({"region_id": region_id, "period": period.key, "key": figure.key,
                         "numerator": figure.numerator, "denominator": figure.denominator,
                         "details": figure.details, "computed_at": now} for figure in figures.values())
    if rows:
        _upsert(rows)
    written = len(rows)
    if statistics and region_ids is None:
        written += stat_rollup.refresh_periods(periods, now=now)
    return written


@task(retries=2, retry_delay=60)
def refresh_in_background(period_keys: list[str], now: datetime) -> int:
    """`refresh` as a Huey task: the scheduler enqueues it, a `flask jobs tasks` worker computes.

    Safe to run twice or late: a second run writes the same figures, and an older `now` never
    overwrites a newer snapshot's rows.
    """
    with unit_of_work():
        return refresh([Period.parse(key) for key in period_keys], now=now)


def open_snapshot() -> None:
    """Open the session's transaction REPEATABLE READ on PostgreSQL, so every later query reads one snapshot.

    A no-op inside a transaction already begun, and on SQLite (its transactions are serialisable).
    """
    session = db.session()
    if session.get_bind().dialect.name != "postgresql":
        return
    if not session.in_transaction():
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    # The refresh's few big GROUP BYs (half a million volunteers' nets) spill to disk with the default
    # 4 MB per sort or hash; JIT compiling them costs more than it saves. For this transaction only.
    session.execute(text(f"SET LOCAL work_mem = '{_WORK_MEM}'"))
    session.execute(text("SET LOCAL jit = off"))


def _upsert(rows: list[dict]) -> None:
    # One statement for every row (an executemany: compiled once, sent in batches of values by the
    # driver) rather than an INSERT … VALUES of thousands of parameters compiled per batch.
    statement = upsert_insert(KpiValue)
    excluded = statement.excluded
    db.session.execute(statement.on_conflict_do_update(
        index_elements=["region_id", "period", "key"],
        set_={"numerator": excluded.numerator, "denominator": excluded.denominator, "details": excluded.details,
              "computed_at": excluded.computed_at},
        # Never let an older snapshot replace a newer one (see the module docstring).
        where=KpiValue.computed_at <= excluded.computed_at), rows)


def live_periods(now: datetime) -> list[Period]:
    """The current month, quarter and year: what the frequent refresh keeps up to date."""
    return [Period.current(kind, now) for kind in (MONTH, QUARTER, YEAR)]


def all_periods_of_years(*years: int) -> list[Period]:
    """Every month, quarter and year of the given years: what the nightly refresh recomputes."""
    periods = []
    for year in years:
        periods += [Period(year, MONTH, m) for m in range(1, 13)]
        periods += [Period(year, QUARTER, q) for q in range(1, 5)]
        periods.append(Period(year, YEAR, 1))
    return periods
