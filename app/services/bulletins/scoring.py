"""Colours and scores of freshly computed figures, by the rules of the KPI pages (`kpi.figures`).

Status (`kpi.figures.status_of`): `green` when the value reaches the target, `yellow` within the
yellow band below it, `red` below that, `none` when the indicator does not apply to the node's
level or its denominator is 0. Score: the mean over the indicators that have a colour of
min(value ÷ target, 1); children are ranked by it, ties by the registration rate, then region code.
A figure reads as in the KPI API (hours in hours; the exact minutes stay in `details.minutes`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.services.kpi.catalogue import HOURS, INDICATORS, Target
from app.services.kpi.figures import GREEN, NONE, RED, YELLOW, status_of
from app.services.kpi.periods import Period
from models import RegionLevel

__all__ = ["GREEN", "NONE", "RED", "YELLOW", "STATUS_LABELS", "evaluate", "score", "value_of"]
STATUS_LABELS = {GREEN: "达标", YELLOW: "接近", RED: "未达标", NONE: "不适用"}


def evaluate(level: RegionLevel, figures: dict[str, Any], targets: dict[str, Target], period: Period,
             now: datetime) -> list[dict[str, Any]]:
    """One row per indicator of the catalogue: value, parts, target in force for the period, status."""
    share = period.elapsed_share_of_year(now)
    rows = []
    for indicator in INDICATORS:
        figure = figures.get(indicator.key)
        target, band = targets[indicator.key].at(share)
        applies = indicator.applies_to(level) and figure is not None
        value = figure.value if applies else None
        rows.append({
            "key": indicator.key, "label": indicator.label, "unit": indicator.unit,
            "value": value,
            "numerator": (round(figure.numerator / 60, 1) if indicator.unit == HOURS else figure.numerator)
            if applies else None,
            "denominator": figure.denominator if applies else None,
            "target": round(target, 2), "yellow_band": round(band, 2), "status": status_of(value, target, band),
            "details": dict(figure.details) if applies else {},
        })
    return rows


def score(rows: list[dict[str, Any]]) -> float | None:
    """Mean of min(value ÷ target, 1) over the coloured indicators, 4 decimals; None when none has a colour."""
    parts = [min(row["value"] / row["target"], 1.0) if row["target"] > 0 else 1.0
             for row in rows if row["status"] != NONE]
    return round(sum(parts) / len(parts), 4) if parts else None


def value_of(rows: list[dict[str, Any]], key: str) -> float | None:
    return next((row["value"] for row in rows if row["key"] == key), None)
