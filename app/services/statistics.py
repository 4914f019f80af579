"""Statistics queries (综合查询与统计报表): breakdowns of volunteers, activities, hours and teams for a scope and a window.

The scope is the workbench's (`workbench.scope`) without captains: a region's admins (or admins
above it) read its subtree, an organisation's organisers (or the admins over its region) read the
organisation. The window is a span of Shanghai days, by default the current year; its *cap* is
`min(window end, now)`, so a current window is to date.

The definitions are the KPI catalogue's (docs/ARCHITECTURE.md, "Statistics"):
- a volunteer counts when *registered* at the cap: approved or suspended, approved (`reviewed_at`,
  else `created_at`) before the cap; pending, rejected and deleted volunteers are left out;
- a region counts the volunteers who live in it (`volunteers.region_id`), hours included: the
  hours of a region are its residents' hours, wherever they served;
- an organisation counts the volunteers with an active membership in one of its teams, and the
  hours of its own activities (every record, a deleted volunteer's too: organisation hours);
- an activity counts when *held* (not draft, withdrawn or cancelled) and it starts in the window
  before the cap; the month of an activity, and of every record of it (corrections included), is
  the Shanghai month of the activity's start.

Every breakdown is one or two GROUP BY queries; Python only folds their aggregated rows (at most
regions x genders x age bands), never volunteers or records. Months are binned in SQL by a CASE
over the UTC instants of the Shanghai month starts, which is exact and the same on both backends.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal_column, select, true

from app.db import JsonArrayElements
from app.errors import DomainError
from app.extensions import db
from app.services import access, workbench
from app.services.trainings import local_midnight
from app.services.volunteers import CATEGORY_LABELS, Category
from app.timeutil import to_local
from models import (Account, Activity, ActivityKind, ActivityStatus, Gender, Organization,
                    OrganizationStatus, Region, ServiceRecord, Team, TeamKind, TeamMembership, Volunteer,
                    VolunteerStatus)
from models.activities import CARE_THEMES
from models.teams import TEAM_KIND_LABELS, MembershipStatus

NOT_HELD = (ActivityStatus.DRAFT, ActivityStatus.WITHDRAWN, ActivityStatus.CANCELLED)
REGISTERED = (VolunteerStatus.APPROVED, VolunteerStatus.SUSPENDED)
# A window covers at most this many months (one CASE branch each; a longer span is a report of its own).
MAX_MONTHS = 36
TOP_ORGANIZATIONS = 20
OTHERS = "其他"

GENDER_LABELS = {Gender.MALE.value: "男", Gender.FEMALE.value: "女"}
UNKNOWN = "unknown"
UNKNOWN_LABEL = "未填写"
# Age bands at the window's last day: (key, label, youngest age not in the band); the last has no upper bound.
AGE_BANDS = (("under_18", "18岁以下", 18), ("18_35", "18–35岁", 36), ("36_45", "36–45岁", 46),
             ("46_60", "46–60岁", 61), ("over_60", "60岁以上", None))
KIND_LABELS = {ActivityKind.SERVICE.value: "志愿服务", ActivityKind.TRAINING.value: "培训"}


@dataclass(frozen=True)
class Window:
    """Shanghai days `first`..`last` (inclusive); `start`/`end` their UTC bounds, `cap` = min(end, now)."""

    first: date
    last: date
    start: datetime
    end: datetime
    cap: datetime

    @property
    def reference_day(self) -> date:
        """The day ages are taken at: the window's last day, or today for a current window."""
        return to_local(self.cap - timedelta(microseconds=1)).date() if self.cap > self.start else self.first

    def months(self) -> list[tuple[str, datetime]]:
        """Each month the window touches, "YYYY-MM", with the UTC instant it starts (clipped to the window)."""
        found = []
        year, month = self.first.year, self.first.month
        while (year, month) <= (self.last.year, self.last.month):
            found.append((f"{year}-{month:02d}", max(self.start, local_midnight(date(year, month, 1)))))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return found


def window(first: date | None, last: date | None, *, now: datetime) -> Window:
    """The window of Shanghai days [first, last]; each bound defaults to the current year's in Shanghai."""
    year = to_local(now).year
    first = first or date(year, 1, 1)
    last = last or (date(year, 12, 31) if first.year == year else date(first.year, 12, 31))
    if last < first:
        raise DomainError("invalid_date_range", "结束日期不能早于开始日期", 422,
                          fields={"until": "结束日期不能早于开始日期"})
    if (last.year - first.year) * 12 + last.month - first.month >= MAX_MONTHS:
        raise DomainError("date_range_too_long", f"统计区间最长 {MAX_MONTHS} 个月，请缩短区间", 422,
                          fields={"until": f"统计区间最长 {MAX_MONTHS} 个月"}, context={"max_months": MAX_MONTHS})
    start, end = local_midnight(first), local_midnight(last + timedelta(days=1))
    return Window(first=first, last=last, start=start, end=end, cap=max(start, min(end, now)))


def scope(account: Account, *, organization_id: int | None, region_id: int | None) -> workbench.Scope:
    """The workbench's scope for organisers and admins; captains read no statistics (403)."""
    where = workbench.scope(account, organization_id=organization_id, region_id=region_id, doing="查看统计")
    if where.kind == "teams":
        raise access.not_organizer_or_admin("查看统计")
    return where


# --- conditions ------------------------------------------------------------------------------------

def _subtree_ids(region: Region) -> list[int]:
    """The ids of the region's subtree, as a list: with the ids in hand PostgreSQL estimates a street's
    few communities as few and reads them through `ix_volunteers_region_id_status` (as a subquery it
    plans for any subtree, and scans every volunteer)."""
    return list(db.session.scalars(select(Region.id).where(Region.path.startswith(region.path))))


def _volunteers(where: workbench.Scope, win: Window) -> list[ColumnElement]:
    """Registered volunteers of the scope: residents of the region, or members of the organisation's teams."""
    conditions = [Volunteer.status.in_(REGISTERED),
                  func.coalesce(Volunteer.reviewed_at, Volunteer.created_at) < win.cap]
    if where.organization is not None:
        conditions.append(Volunteer.id.in_(
            select(TeamMembership.volunteer_id).join(Team, Team.id == TeamMembership.team_id)
            .where(Team.organization_id == where.organization.id, TeamMembership.status == MembershipStatus.ACTIVE)))
    else:
        conditions.append(Volunteer.region_id.in_(_subtree_ids(where.region)))
    return conditions


def _held(win: Window, where: workbench.Scope | None) -> list[ColumnElement]:
    """Held activities starting in [start, cap): of the scope (where they took place, or the organisation's),
    or anywhere with `where=None`."""
    conditions = [Activity.status.not_in(NOT_HELD), Activity.starts_at >= win.start, Activity.starts_at < win.cap]
    return conditions if where is None else [where.activities(), *conditions]


def _month_of(column: ColumnElement, months: list[tuple[str, datetime]]) -> ColumnElement:
    """The index of the Shanghai month `column` falls in (rows are already inside the window)."""
    if len(months) == 1:
        return case((column.is_not(None), 0), else_=0)
    return case(*((column < starts, index) for index, (_, starts) in enumerate(months[1:])), else_=len(months) - 1)


# GROUP BY the output column by name: the CASE expressions carry bound parameters, and PostgreSQL
# cannot tell that the same expression repeated in GROUP BY (with parameters of its own) is equal.
_MONTH = literal_column("month")
_BAND = literal_column("band")


def _cut(day: date, years: int) -> date:
    """The latest birth date of someone `years` old on `day` (born 29 February: of age on 1 March)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _age_band(reference: date) -> ColumnElement:
    whens: list[tuple[ColumnElement, str]] = [(Volunteer.birth_date.is_(None), UNKNOWN)]
    for key, _, older in AGE_BANDS:
        if older is not None:
            whens.append((Volunteer.birth_date > _cut(reference, older), key))
    return case(*whens, else_=AGE_BANDS[-1][0])


def _line(key: str, label: str, count: int | float) -> dict[str, Any]:
    return {"key": key, "label": label, "count": count}


# --- volunteers --------------------------------------------------------------------------------------

def volunteers(where: workbench.Scope, win: Window) -> dict[str, Any]:
    """Registered volunteers by category, gender, age band, child region (home) and team kind."""
    conditions = _volunteers(where, win)
    band = _age_band(win.reference_day).label("band")
    rows = db.session.execute(select(Volunteer.region_id, Volunteer.gender, band, func.count())
                              .where(*conditions).group_by(Volunteer.region_id, Volunteer.gender, _BAND)).all()
    by_gender: dict[str, int] = defaultdict(int)
    by_band: dict[str, int] = defaultdict(int)
    by_home: dict[int, int] = defaultdict(int)
    for region_id, gender, band_key, count in rows:
        by_gender[gender.value if gender is not None else UNKNOWN] += count
        by_band[band_key] += count
        by_home[region_id] += count
    total = sum(by_home.values())

    elements = JsonArrayElements(Volunteer.categories).table_valued("value")
    categories = dict(db.session.execute(select(elements.c.value, func.count()).select_from(Volunteer)
                                         .join(elements, true()).where(*conditions).group_by(elements.c.value)).all())
    kinds = dict(db.session.execute(
        select(Team.kind, func.count(func.distinct(TeamMembership.volunteer_id)))
        .join(TeamMembership, TeamMembership.team_id == Team.id).join(Volunteer, Volunteer.id == TeamMembership.volunteer_id)
        .where(TeamMembership.status == MembershipStatus.ACTIVE, *conditions,
               *([Team.organization_id == where.organization.id] if where.organization is not None else []))
        .group_by(Team.kind)).all())
    return {
        "total": total,
        "by_category": [_line(c.value, CATEGORY_LABELS[c], categories.get(c.value, 0)) for c in Category],
        "by_gender": [_line(key, label, by_gender.get(key, 0)) for key, label in GENDER_LABELS.items()]
        + ([_line(UNKNOWN, UNKNOWN_LABEL, by_gender[UNKNOWN])] if by_gender.get(UNKNOWN) else []),
        "by_age_band": [_line(key, label, by_band.get(key, 0)) for key, label, _ in AGE_BANDS]
        + ([_line(UNKNOWN, UNKNOWN_LABEL, by_band[UNKNOWN])] if by_band.get(UNKNOWN) else []),
        "by_region": _by_child_region(where.region, by_home),
        "by_team_kind": [_line(k.value, TEAM_KIND_LABELS[k], kinds.get(k, 0)) for k in TeamKind],
    }


def _by_child_region(region: Region, by_home: dict[int, int]) -> list[dict[str, Any]]:
    """Fold counts by home region into the region's children (plus the region itself and, for an
    organisation's members, 其他地区 for homes outside it), children in code order."""
    children = list(db.session.execute(select(Region.id, Region.name, Region.path).where(Region.parent_id == region.id)
                                       .order_by(Region.code, Region.id)))
    paths = dict(db.session.execute(select(Region.id, Region.path).where(Region.id.in_(list(by_home)))).all()) if by_home else {}
    counts: dict[int | None, int] = defaultdict(int)
    child_by_prefix = {path: child_id for child_id, _, path in children}
    for home_id, count in by_home.items():
        path = paths.get(home_id, "")
        if home_id == region.id:
            counts[region.id] += count
        elif path.startswith(region.path):
            # "/1/4/9/…" below "/1/4/": the child is the next segment.
            child_path = region.path + path[len(region.path):].split("/", 1)[0] + "/"
            counts[child_by_prefix.get(child_path)] += count
        else:
            counts[None] += count
    lines = [{"region_id": child_id, "label": name, "count": counts.get(child_id, 0)} for child_id, name, _ in children]
    if counts.get(region.id):
        lines.append({"region_id": region.id, "label": f"{region.name}（本级）", "count": counts[region.id]})
    if counts.get(None):
        lines.append({"region_id": None, "label": "其他地区", "count": counts[None]})
    return lines


# --- activities, hours, teams -------------------------------------------------------------------------

def activities(where: workbench.Scope, win: Window) -> dict[str, Any]:
    """Held activities by care theme, by kind and by month (Shanghai month of the start)."""
    months = win.months()
    held = _held(win, where)
    month = _month_of(Activity.starts_at, months).label("month")
    rows = db.session.execute(select(month, Activity.kind, func.count()).where(*held).group_by(_MONTH, Activity.kind)).all()
    per_month = [{"month": key, "service": 0, "training": 0, "total": 0} for key, _ in months]
    by_kind: dict[str, int] = defaultdict(int)
    for index, kind, count in rows:
        per_month[index][kind.value] += count
        per_month[index]["total"] += count
        by_kind[kind.value] += count
    elements = JsonArrayElements(Activity.themes).table_valued("value")
    themes = dict(db.session.execute(select(elements.c.value, func.count(func.distinct(Activity.id)))
                                     .select_from(Activity).join(elements, true()).where(*held)
                                     .group_by(elements.c.value)).all())
    return {
        "total": sum(by_kind.values()),
        "by_theme": [_line(theme, theme, themes.get(theme, 0)) for theme in CARE_THEMES],
        "by_kind": [_line(key, label, by_kind.get(key, 0)) for key, label in KIND_LABELS.items()],
        "by_month": per_month,
    }


def hours(where: workbench.Scope, win: Window) -> dict[str, Any]:
    """Service hours by month and by organisation (the top 20, then 其他).

    A region's hours are those of its registered residents, at any organisation's activities; an
    organisation's are every record of its own activities. Totals below zero (more taken back
    than given, which the ledger does not allow for one activity) show as zero.
    """
    months = win.months()
    month = _month_of(Activity.starts_at, months).label("month")
    query = (select(month, Activity.organization_id, func.sum(ServiceRecord.minutes))
             .select_from(ServiceRecord).join(Activity, Activity.id == ServiceRecord.activity_id))
    if where.organization is None:  # the residents' hours, wherever they served
        query = query.join(Volunteer, Volunteer.id == ServiceRecord.volunteer_id).where(
            *_held(win, None), *_volunteers(where, win))
    else:
        query = query.where(*_held(win, where))
    rows = db.session.execute(query.group_by(_MONTH, Activity.organization_id)).all()
    per_month = [0] * len(months)
    per_organization: dict[int, int] = defaultdict(int)
    for index, organization_id, minutes in rows:
        per_month[index] += minutes or 0
        per_organization[organization_id] += minutes or 0
    ranked = sorted(((m, o) for o, m in per_organization.items() if m > 0), key=lambda mo: (-mo[0], mo[1]))
    top, rest = ranked[:TOP_ORGANIZATIONS], ranked[TOP_ORGANIZATIONS:]
    names = dict(db.session.execute(select(Organization.id, Organization.name)
                                    .where(Organization.id.in_([o for _, o in top]))).all()) if top else {}
    by_organization = [_minutes({"organization_id": o, "label": names.get(o, str(o))}, m) for m, o in top]
    if rest:
        by_organization.append(_minutes({"organization_id": None, "label": OTHERS}, sum(m for m, _ in rest)))
    total = max(sum(per_month), 0)
    return {"total_minutes": total, "total_hours": round(total / 60, 1),
            "by_month": [_minutes({"month": key}, minutes) for (key, _), minutes in zip(months, per_month)],
            "by_organization": by_organization}


def _minutes(line: dict[str, Any], minutes: int) -> dict[str, Any]:
    minutes = max(minutes, 0)
    return {**line, "minutes": minutes, "hours": round(minutes / 60, 1)}


def teams(where: workbench.Scope, win: Window) -> dict[str, Any]:
    """Teams by kind: the organisation's, or those of approved organisations registered in the region's subtree."""
    query = select(Team.kind, func.count()).where(Team.created_at < win.cap)
    if where.organization is not None:
        query = query.where(Team.organization_id == where.organization.id)
    else:
        query = query.join(Organization, Organization.id == Team.organization_id).where(
            Organization.status == OrganizationStatus.APPROVED, Organization.region_id.in_(_subtree_ids(where.region)))
    kinds = dict(db.session.execute(query.group_by(Team.kind)).all())
    return {"total": sum(kinds.values()),
            "by_kind": [_line(k.value, TEAM_KIND_LABELS[k], kinds.get(k, 0)) for k in TeamKind]}


def report(where: workbench.Scope, win: Window) -> dict[str, Any]:
    """Every breakdown of the scope in the window."""
    return {"volunteers": volunteers(where, win), "activities": activities(where, win),
            "hours": hours(where, win), "teams": teams(where, win)}
