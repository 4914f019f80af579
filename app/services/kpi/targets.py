"""Admins set their region's own target and yellow band for an indicator, or go back to the inherited one.

A change is audited (who, which region, which indicator, old and new figures). Figures already in
`kpi_values` need no recompute: the status is derived from the targets at read time.
"""

from __future__ import annotations

from datetime import datetime
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app.errors import NotFound
from app.extensions import db
from app.services import access, audit, regions
from app.services.kpi.catalogue import BY_KEY, INDICATORS, Indicator, Target, effective_targets
from models import KpiTarget, Region

_SETTING = "设置考核目标"


def indicator(key: str) -> Indicator:
    found = BY_KEY.get(key)
    if found is None:
        raise NotFound("kpi_not_found", "没有这项统计指标")
    return found


def catalogue(region: Region) -> list[tuple[Indicator, Target]]:
    """Every indicator with the target in force at the region (its `source_region_id` says whence)."""
    targets = effective_targets(region)
    return [(item, targets[item.key]) for item in INDICATORS]


def set_target(account_id: int, region_id: int, key: str, *, target: float, yellow_band: float,
               now: datetime) -> Target:
    """Give the region its own target and band for the indicator; the subtree inherits them."""
    region = access.require_admin_over(account_id, regions.get_region(region_id), doing=_SETTING)
    indicator(key)
    row = _own(region.id, key)
    before = (row.target, row.yellow_band) if row is not None else None
    if row is None:
        try:
            with db.session.begin_nested():
                row = KpiTarget(region_id=region.id, key=key, target=target, yellow_band=yellow_band,
                                updated_by_account_id=account_id, updated_at=now)
                db.session.add(row)
        except IntegrityError:  # set at the same moment by another admin: this one's figures win
            row = _own(region.id, key)
    row.target, row.yellow_band, row.updated_by_account_id, row.updated_at = target, yellow_band, account_id, now
    db.session.flush()
    audit.record(account_id, "kpi.target_set", "region", region.id, now=now, region_path=region.path, key=key,
                 target=target, yellow_band=yellow_band, before=list(before) if before else None)
    return effective_targets(region)[key]


def clear_target(account_id: int, region_id: int, key: str, *, now: datetime) -> Target:
    """Remove the region's own target: it inherits again. Removing one that is not there changes nothing."""
    region = access.require_admin_over(account_id, regions.get_region(region_id), doing=_SETTING)
    indicator(key)
    removed = db.session.execute(delete(KpiTarget).where(KpiTarget.region_id == region.id, KpiTarget.key == key))
    if removed.rowcount:
        audit.record(account_id, "kpi.target_cleared", "region", region.id, now=now, region_path=region.path, key=key)
    return effective_targets(region)[key]


def _own(region_id: int, key: str) -> KpiTarget | None:
    return db.session.scalar(select(KpiTarget).where(KpiTarget.region_id == region_id, KpiTarget.key == key))

