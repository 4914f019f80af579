"""Points rules in force for a region: each value from the nearest region up the tree that set it, else the default.

As with star rules (app/services/stars/rules.py), a `points_rules` row sets any subset of the values
(NULL = as the region above). "No limit" is 0, because NULL already means "inherit". Defaults: 10
points per hour of service (whole points, so 6 minutes earn 1), grade coefficients 1.0 / 1.0 / 1.0
(a region such as 海南 sets e.g. [1.0, 1.2, 1.5]; an ungraded activity counts 1.0), every record
source earns, no yearly cap (广州 sets 1500), points never expire, a gift at most 200 points and
1000 a year, an organisation's bonuses at most 100 points per volunteer per activity, and no
earning cut-off. `earning_starts_on` lets a region start its scheme on a date: records of activities
that started before it (Shanghai date) earn nothing, so deploying points does not back-earn years of
old records. Under an ancestor's date a region cannot say "no cut-off" (NULL inherits); it sets an
earlier date instead.

Which region's rules apply: for earning, the activity's region (the service was given there and
its issuance account pays); for expiry and gift limits, the volunteer's home region.
A change of rules never rewrites what was earned: each record's earning is written once with the
rules then in force (`points_earnings`); only records handled afterwards see the new values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from app.errors import DomainError
from app.services import regions
from app.services.region_rules import RulesTable
from models import RecordSource, Region
from models.points_rules import PointsRule

GRADES = (1, 2, 3)
FIELDS = ("points_per_hour", "grade_coefficients", "sources", "yearly_cap", "expiry_months", "gift_max_per_gift",
          "gift_max_per_year", "bonus_cap_per_activity", "earning_starts_on")
DEFAULTS: dict[str, Any] = {
    "points_per_hour": 10,
    "grade_coefficients": [1.0, 1.0, 1.0],
    "sources": [source.value for source in RecordSource],
    "yearly_cap": 0,
    "expiry_months": 0,
    "gift_max_per_gift": 200,
    "gift_max_per_year": 1000,
    "bonus_cap_per_activity": 100,
    "earning_starts_on": None,
}


@dataclass(frozen=True)
class Rules:
    points_per_hour: int
    grade_coefficients: list[float]
    sources: list[str]
    yearly_cap: int
    expiry_months: int
    gift_max_per_gift: int
    gift_max_per_year: int
    bonus_cap_per_activity: int
    earning_starts_on: date | None
    origins: dict[str, int | None]

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}

    def coefficient(self, grade: int | None) -> float:
        # The column's CHECK (migration 0026) holds it to 1–3; NULL is ungraded.
        return float(self.grade_coefficients[grade - 1]) if grade in GRADES else 1.0

    def points_for(self, minutes: int, grade: int | None) -> int:
        """Whole points for the minutes (rounded down, sign kept): minutes / 60 × per hour × coefficient."""
        # Work in hundredths of the coefficient so 1.1 × 60 is not 65.99999.
        hundredths = round(self.coefficient(grade) * 100)
        value = abs(minutes) * self.points_per_hour * hundredths // 6000
        return value if minutes >= 0 else -value


TABLE = RulesTable(PointsRule, FIELDS, DEFAULTS, audit_prefix="points", noun="积分规则")


def in_force(region: Region) -> Rules:
    values, origins = TABLE.in_force(region)
    return Rules(**values, origins=origins)


def in_force_by_id(region_id: int, cache: dict[int, Rules] | None = None) -> Rules:
    if cache is not None and region_id in cache:
        return cache[region_id]
    rules = in_force(regions.get_region(region_id))
    if cache is not None:
        cache[region_id] = rules
    return rules


GRADE_LABELS = {1: "一级", 2: "二级", 3: "三级"}


def grades(region_id: int) -> dict[str, Any]:
    """The grades' coefficients in force in the region (not secret: organisers read them to grade an activity)."""
    rules = in_force(regions.get_region(region_id))
    return {"region_id": region_id, "points_per_hour": rules.points_per_hour,
            "grades": [{"grade": grade, "label": GRADE_LABELS[grade], "coefficient": rules.coefficient(grade)}
                       for grade in GRADES]}


def own_row(region: Region) -> PointsRule | None:
    return TABLE.own_row(region)


def _invalid(field: str, message: str) -> DomainError:
    return DomainError("invalid_points_rules", f"积分规则不正确：{message}", 422, fields={field: message})


def validate(values: dict[str, Any]) -> None:
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise _invalid(sorted(unknown)[0], "未知的规则项")
    per_hour = values.get("points_per_hour")
    if per_hour is not None and (not isinstance(per_hour, int) or isinstance(per_hour, bool) or not 0 <= per_hour <= 1000):
        raise _invalid("points_per_hour", "须为 0 至 1000 的整数")
    coefficients = values.get("grade_coefficients")
    if coefficients is not None:
        if (len(coefficients) != 3 or any(isinstance(c, bool) or not isinstance(c, (int, float)) for c in coefficients)
                or any(not 0 <= c <= 10 for c in coefficients)):
            raise _invalid("grade_coefficients", "须为 3 个 0 至 10 之间的系数（一、二、三级活动）")
    sources = values.get("sources")
    if sources is not None:
        known = {source.value for source in RecordSource}
        if any(source not in known for source in sources) or len(set(sources)) != len(sources):
            raise _invalid("sources", "须为不重复的时长来源：" + "、".join(sorted(known)))
    for name in ("yearly_cap", "gift_max_per_gift", "gift_max_per_year", "bonus_cap_per_activity"):
        value = values.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise _invalid(name, "须为非负整数（0 表示不限）")
    starts_on = values.get("earning_starts_on")
    if starts_on is not None and not isinstance(starts_on, date):
        raise _invalid("earning_starts_on", "须为日期，如 2027-01-01")
    months = values.get("expiry_months")
    if months is not None and (not isinstance(months, int) or isinstance(months, bool) or not 0 <= months <= 240):
        raise _invalid("expiry_months", "须为 0 至 240 的整数（0 表示不过期）")


def set_rules(account_id: int, region_id: int, values: dict[str, Any], *, now: datetime) -> PointsRule:
    """Replace the region's own values (None = inherit); admins of the region or above."""
    return TABLE.set(account_id, region_id, values, validate=validate, now=now,
                     stored=lambda name, value: [float(c) for c in value] if name == "grade_coefficients" else value)


def clear_rules(account_id: int, region_id: int, *, now: datetime) -> bool:
    return TABLE.clear(account_id, region_id, now=now)


def read(account_id: int, region_id: int) -> tuple[Region, PointsRule | None, Rules]:
    """The region's own row and the rules in force there (admins of the region or above)."""
    region = TABLE.readable(account_id, region_id)
    return region, own_row(region), in_force(region)
