"""Reading the rollup: a node's figures with status and trend, and its children ranked.

Reads come from `kpi_values`. The period asked for, when it was never refreshed (an old year, a
fresh install), is computed and stored on first read, for every region at once, so the next read of
any node finds it. Trend points never refreshed are not: at city scale one period costs tens of
seconds, and a year's trend reaches back twelve years. They read as no value (status `none`) and are
handed to a background refresh, once per batch of periods every few minutes, so a later read has them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.extensions import db, get_redis
from app.services import regions
from app.services.kpi import refresh
from app.services.kpi.catalogue import HOURS, INDICATORS, Target, effective_targets_many
from app.services.kpi.compute import figure_value
from app.services.kpi.periods import Period
from models import KpiValue, Region

GREEN, YELLOW, RED, NONE = "green", "yellow", "red", "none"
# The 红黄旗 practice names the last three; with three children or fewer that would name (almost) all.
BOTTOM = 3
# How long a background refresh of missing trend periods is trusted to be on its way before a read asks again.
BACKFILL_GUARD_SECONDS = 600


def figures_for(region: Region, period: Period, *, now: datetime, trend: int = 12) -> list[dict[str, Any]]:
    """The node's figures for the period, each with its status and the trend of the last `trend` periods."""
    periods = period.trend(trend) if trend else [period]
    stored = _stored([region.id], periods, now=now, asked=period)
    targets = effective_targets_many([region])[region.id]
    items = []
    for indicator in INDICATORS:
        item = _figure(region, period, stored.get((region.id, period.key, indicator.key)), targets[indicator.key],
                       now=now)
        if trend:
            item["trend"] = [_trend_point(region, past, stored.get((region.id, past.key, indicator.key)),
                                          targets[indicator.key], now=now) for past in periods]
        items.append(item)
    return items


def children_ranked(region: Region, period: Period, *, now: datetime) -> list[dict[str, Any]]:
    """The node's open children with their figures, best first; the bottom three flagged.

    Score = mean over the indicators that apply (level and a non-zero denominator) of
    min(value ÷ target, 1); ties go to the higher registration rate, then the region code.
    """
    children = regions.children_of(region.id)
    stored = _stored([child.id for child in children], [period], now=now, asked=period)
    targets = effective_targets_many(children)
    rows = []
    for child in children:
        figures = [_figure(child, period, stored.get((child.id, period.key, i.key)), targets[child.id][i.key], now=now)
                   for i in INDICATORS]
        shares = [min(f["value"] / f["target"], 1.0) if f["target"] else 1.0
                  for f in figures if f["status"] != NONE]
        score = round(sum(shares) / len(shares), 4) if shares else None
        registration = next(f["value"] for f in figures if f["key"] == "registration_rate") or 0.0
        rows.append({"region": {"id": child.id, "name": child.name, "level": child.level.value, "code": child.code},
                     "score": score, "figures": figures, "_order": (-(score or 0.0), -registration, child.code)})
    rows.sort(key=lambda row: row.pop("_order"))
    flagged = len(rows) > BOTTOM
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
        row["bottom_three"] = flagged and rank > len(rows) - BOTTOM
    return rows


def status_of(value: float | None, target: float, band: float) -> str:
    if value is None:
        return NONE
    if value >= target:
        return GREEN
    return YELLOW if value >= target - band else RED


def _figure(region: Region, period: Period, row: KpiValue | None, target: Target, *, now: datetime) -> dict[str, Any]:
    indicator = next(i for i in INDICATORS if i.key == target.key)
    goal, band = target.at(period.elapsed_share_of_year(now))
    numerator, denominator = (row.numerator, row.denominator) if row is not None else (0, 0)
    applies = indicator.applies_to(region.level)
    value = figure_value(indicator.key, numerator, denominator) if applies else None
    return {"key": indicator.key, "label": indicator.label, "unit": indicator.unit, "value": value,
            # Hours read in hours (the row keeps minutes, exact, in `details.minutes`).
            "numerator": round(numerator / 60, 1) if indicator.unit == HOURS else numerator,
            "denominator": denominator, "target": round(goal, 2), "yellow_band": round(band, 2),
            "status": status_of(value, goal, band), "details": dict(row.details or {}) if row is not None else {},
            "computed_at": row.computed_at if row is not None else None}


def _trend_point(region: Region, period: Period, row: KpiValue | None, target: Target, *, now: datetime) -> dict:
    figure = _figure(region, period, row, target, now=now)
    return {"period": period.key, "value": figure["value"], "status": figure["status"]}


def _stored(region_ids: list[int], periods: list[Period], *, now: datetime,
            asked: Period) -> dict[tuple[int, str, str], KpiValue]:
    """kpi_values of the regions in the periods: the asked one computed now if missing, the others backfilled."""
    if not region_ids:
        return {}
    rows = _read(region_ids, periods)
    found = {row.period for row in rows}
    if asked.key not in found:
        refresh.refresh([asked], now=now, statistics=False)
        db.session.flush()
        rows = _read(region_ids, periods)
        found = {row.period for row in rows}
    missing = [period.key for period in periods if period.key not in found]
    if missing:
        _backfill(missing, now=now)
    return {(row.region_id, row.period, row.key): row for row in rows}


def _backfill(period_keys: list[str], *, now: datetime) -> None:
    """Enqueue a refresh of the periods unless one was enqueued for them in the last few minutes."""
    guard = "kpi:backfill:" + ",".join(sorted(period_keys))
    if get_redis().set(guard, "1", nx=True, ex=BACKFILL_GUARD_SECONDS):
        refresh.refresh_in_background(period_keys, now)


def _read(region_ids: list[int], periods: list[Period]) -> list[KpiValue]:
    # populate_existing: the upsert bypasses the ORM, so rows read before it must be read again.
    return list(db.session.scalars(select(KpiValue).execution_options(populate_existing=True).where(
        KpiValue.region_id.in_(region_ids), KpiValue.period.in_([period.key for period in periods]))))
