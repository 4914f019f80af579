"""Rules a region sets value by value and its subtree inherits: star rules, points rules.

A rules table has one row per region; every value column is nullable, NULL meaning "as the region
above". The value in force for a region is the nearest one set up the tree, else the default, and
each comes with the id of the region that set it (None for the default). Setting replaces the
region's own row; clearing deletes it. Admins of the region or above do both; each is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.services import access, audit, regions
from models import Region


def _jsonable(value: Any) -> Any:
    # A date (points: earning_starts_on) goes into the audit's JSON as its ISO form.
    return value.isoformat() if isinstance(value, date) else value


@dataclass(frozen=True)
class RulesTable:
    model: type                      # a model with region_id, the value columns, updated_by_account_id, updated_at
    fields: tuple[str, ...]
    defaults: dict[str, Any]
    audit_prefix: str                # "star" → "star.rules_set" / "star.rules_cleared"
    noun: str                        # what the rules are called in refusals: 设置{noun} / 查看{noun}

    def in_force(self, region: Region) -> tuple[dict[str, Any], dict[str, int | None]]:
        """The values in force for `region` and, for each, the id of the region that set it (None: default)."""
        lineage = regions.lineage_ids(region)
        rows = {row.region_id: row for row in db.session.scalars(
            select(self.model).where(self.model.region_id.in_(lineage)))}
        values: dict[str, Any] = {}
        origins: dict[str, int | None] = {}
        for name in self.fields:
            values[name], origins[name] = self.defaults[name], None
            for region_id in reversed(lineage):
                value = getattr(rows[region_id], name) if region_id in rows else None
                if value is not None:
                    values[name], origins[name] = value, region_id
                    break
        return values, origins

    def own_row(self, region: Region) -> Any:
        return db.session.scalar(select(self.model).where(self.model.region_id == region.id))

    def set(self, account_id: int, region_id: int, values: dict[str, Any], *, validate: Callable[[dict], None],
            now: datetime, stored: Callable[[str, Any], Any] = lambda _name, value: value) -> Any:
        """Replace the region's own values (None = inherit); `stored` turns a value into its column's form."""
        region = regions.get_region(region_id)
        access.require_admin_over(account_id, region, doing=f"设置{self.noun}")
        validate(values)
        row = self.own_row(region)
        if row is None:
            row = self.model(region_id=region.id)
            db.session.add(row)
        for name in self.fields:
            value = values.get(name)
            setattr(row, name, None if value is None else stored(name, value))
        row.updated_by_account_id, row.updated_at = account_id, now
        audit.record(account_id, f"{self.audit_prefix}.rules_set", "region", region.id, now=now,
                     region_path=region.path, **{name: _jsonable(values.get(name)) for name in self.fields})
        db.session.flush()
        return row

    def clear(self, account_id: int, region_id: int, *, now: datetime) -> bool:
        """Drop the region's own values: it inherits everything again. Whether there was a row."""
        region = regions.get_region(region_id)
        access.require_admin_over(account_id, region, doing=f"设置{self.noun}")
        row = self.own_row(region)
        if row is None:
            return False
        db.session.delete(row)
        audit.record(account_id, f"{self.audit_prefix}.rules_cleared", "region", region.id, now=now,
                     region_path=region.path)
        db.session.flush()
        return True

    def readable(self, account_id: int, region_id: int) -> Region:
        """The region, for admins of it or above."""
        region = regions.get_region(region_id)
        access.require_admin_over(account_id, region, doing=f"查看{self.noun}")
        return region
