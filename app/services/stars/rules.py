"""Star rules in force for a region: each value from the nearest region up the tree that set it, else the default.

A `star_rules` row may set any subset of the values (NULL = as the region above), so a district can
change its thresholds and keep the city's approval levels; `in_force` says where each value comes
from. Defaults: 100 / 300 / 600 / 1000 / 1500 hours, no minimum months registered, every record
source counts (a region narrows them), 1–2★ street, 3–4★ district, 5★ city, 5 working days.

Changing rules never takes an awarded star away: an award is a fact about the rules in force when it
was reviewed (each application keeps a copy of them), so a raised threshold applies only to
applications opened afterwards; open applications keep the rules they were opened under. Revoking
a star is an admin's decision with a reason, never a side effect of a rule change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


from app.errors import DomainError
from app.services.certificates import publicity
from app.services.region_rules import RulesTable
from models import RecordSource, Region, RegionLevel, StarRule
from models.regions import LEVEL_ORDER

LEVELS = (1, 2, 3, 4, 5)
FIELDS = ("thresholds_hours", "min_months", "sources", "approval_levels", "publicity_days", "publicity_working_days")
DEFAULTS: dict[str, Any] = {
    "thresholds_hours": [100, 300, 600, 1000, 1500],
    "min_months": 0,
    "sources": [source.value for source in RecordSource],
    "approval_levels": [RegionLevel.STREET.value, RegionLevel.STREET.value, RegionLevel.DISTRICT.value,
                        RegionLevel.DISTRICT.value, RegionLevel.CITY.value],
    "publicity_days": 5,
    "publicity_working_days": True,
}
# Approval can sit at most at a street: a community (社区) is not a reviewing level.
APPROVAL_LEVELS = (RegionLevel.CITY.value, RegionLevel.DISTRICT.value, RegionLevel.STREET.value)


@dataclass(frozen=True)
class Rules:
    thresholds_hours: list[int]
    min_months: int
    sources: list[str]
    approval_levels: list[str]
    publicity_days: int
    publicity_working_days: bool
    # field → id of the region whose row set it, None for the default.
    origins: dict[str, int | None]

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}

    def publicity_policy(self) -> publicity.Policy:
        return publicity.Policy(self.publicity_days, self.publicity_working_days, self.origins["publicity_days"])


TABLE = RulesTable(StarRule, FIELDS, DEFAULTS, audit_prefix="star", noun="星级评定规则")


def in_force(region: Region) -> Rules:
    """The rules for volunteers whose home region is `region`."""
    values, origins = TABLE.in_force(region)
    return Rules(**values, origins=origins)


def own_row(region: Region) -> StarRule | None:
    return TABLE.own_row(region)


def _invalid(field: str, message: str) -> DomainError:
    return DomainError("invalid_star_rules", f"星级规则不正确：{message}", 422, fields={field: message})


def validate(values: dict[str, Any]) -> None:
    """Check a set of values (None = inherit) beyond what the schema says: shapes the JSON columns cannot."""
    thresholds = values.get("thresholds_hours")
    if thresholds is not None:
        if len(thresholds) != 5 or any(not isinstance(h, int) or h < 1 for h in thresholds):
            raise _invalid("thresholds_hours", "须为 5 个正整数（1 至 5 星所需小时数）")
        if any(a >= b for a, b in zip(thresholds, thresholds[1:])):
            raise _invalid("thresholds_hours", "须逐级递增")
    sources = values.get("sources")
    if sources is not None:
        known = {source.value for source in RecordSource}
        if not sources or any(source not in known for source in sources) or len(set(sources)) != len(sources):
            raise _invalid("sources", "须为不重复的时长来源：" + "、".join(sorted(known)))
    levels = values.get("approval_levels")
    if levels is not None:
        if len(levels) != 5 or any(level not in APPROVAL_LEVELS for level in levels):
            raise _invalid("approval_levels", "须为 5 个审核层级（city / district / street）")
        order = [LEVEL_ORDER.index(RegionLevel(level)) for level in levels]
        # A higher star is never approved lower down the tree than a lesser one.
        if any(a < b for a, b in zip(order, order[1:])):
            raise _invalid("approval_levels", "高星级的审核层级不能低于低星级")


def set_rules(account_id: int, region_id: int, values: dict[str, Any], *, now: datetime) -> StarRule:
    """Replace the region's own values (None = inherit); admins of the region or above."""
    return TABLE.set(account_id, region_id, values, validate=validate, now=now)


def clear_rules(account_id: int, region_id: int, *, now: datetime) -> bool:
    """Drop the region's own values: it inherits everything again. Whether there was a row."""
    return TABLE.clear(account_id, region_id, now=now)


def read(account_id: int, region_id: int) -> tuple[Region, StarRule | None, Rules]:
    """The region's own row and the rules in force there (admins of the region or above)."""
    region = TABLE.readable(account_id, region_id)
    return region, own_row(region), in_force(region)
