"""Compute and write `stat_values`: the statistics breakdowns of every region for a period, in the KPI refresh.

The breakdowns are those of `GET /api/v1/statistics` (app/services/statistics.py) for a window that
is exactly the period, with the same definitions: they run in the same refresh, from the same
snapshot, for the same periods as `kpi_values`. Every bucket is a count over sets that are disjoint
between regions, so it is grouped by the region the thing belongs to and *summed* up the path:
- volunteers (totals, gender, age band, categories, team kinds, home child) and their minutes by the
  volunteer's home (`volunteers.region_id`): each volunteer has exactly one home, so a volunteer
  counted in two team kinds is counted once per kind, and a volunteer who served in two streets is
  one volunteer of the district (their minutes are added once, at home);
- held activities (by month and kind, by theme) by the activity's region: each has one place;
- teams by their organisation's region.
Nothing here is a distinct count over a union (those are the KPIs' team kinds and festivals).

Each node's rows are stored already summed (a read is one indexed lookup of one region), zero
buckets left out except the node's `volunteers/total`, which every snapshot writes. The per-node
organisation hours are cut to the top 20 and 其他 here, as the statistics show them.

Rows carry the snapshot's `computed_at`. A bucket that falls to zero is not rewritten, so the reader
takes only the rows of a (region, period) with its newest `computed_at` (app/services/statistics.py,
`from_rollup`). A refresh first deletes the period's rows stamped at or before its own `now`, then
upserts its rows, never over a row of a newer snapshot: a slow refresh that started earlier and
commits later leaves the newer snapshot whole, and its own rows, older, are not read.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, literal_column, null, select, true, union_all

from app.db import JsonArrayElements, upsert_insert
from app.extensions import db
from app.services import statistics as stats
from app.services.kpi.periods import Period
from app.timeutil import to_local
from models import (Activity, Organization, OrganizationStatus, Region, ServiceRecord, StatValue, Team,
                    TeamMembership, Volunteer)
from models.teams import MembershipStatus

def window(period: Period, now: datetime) -> stats.Window:
    """The statistics window that is exactly the period (its Shanghai days)."""
    return stats.window(to_local(period.start).date(), to_local(period.end - timedelta(microseconds=1)).date(), now=now)


def compute(period: Period, *, now: datetime) -> dict[int, dict[tuple[str, str], int]]:
    """Every region's buckets for the period, as the raw tables say at `now`: {region: {(dimension, bucket): value}}."""
    return compute_periods([period], now=now)[period]


def compute_periods(periods, *, now: datetime) -> dict[Period, dict[int, dict[tuple[str, str], int]]]:
    """`compute` of several periods, each query run once per cap rather than once per period.

    Periods with the same cap (the live month, quarter and year: `now`; a past quarter and its
    last month; a past year and its December) have the same registered volunteers (and reference
    day for ages) and the same teams, and their windows [start, cap) are nested. So per cap: the
    volunteer and team buckets once; the activities, themes and monthly hours once over the widest
    window, by month, each period taking its own months (an activity has one month); the hours by
    organisation once, with each record in the narrowest of the nested windows that holds it, a
    period adding up the windows inside its own.
    """
    lineage = {region_id: [int(part) for part in path.strip("/").split("/")]
               for region_id, path in db.session.execute(select(Region.id, Region.path))}
    groups: dict[tuple, list[tuple[Period, stats.Window]]] = defaultdict(list)
    for period in dict.fromkeys(periods):
        win = window(period, now)
        groups[(win.cap, win.reference_day)].append((period, win))
    result = {}
    for members in groups.values():
        result.update(_compute_group(lineage, members))
    return result


class _Buckets:
    """Every region's buckets of one period, added up the path as rows come."""

    def __init__(self, lineage: dict[int, list[int]]) -> None:
        self.lineage = lineage
        self.values: dict[int, dict[tuple[str, str], int]] = {node: defaultdict(int) for node in lineage}
        for node in lineage:
            self.values[node][(stats.TOTAL, "total")] += 0

    def add(self, region_id: int, dimension: str, bucket: str, amount: int) -> None:
        for node in self.lineage.get(region_id, ()):
            self.values[node][(dimension, bucket)] += amount


def _compute_group(lineage: dict[int, list[int]], members: list[tuple[Period, stats.Window]]):
    """The buckets of periods sharing one cap (and so one reference day), their windows nested."""
    # Narrowest window first: a record or activity belongs to the first window (by start) holding it.
    members = sorted(members, key=lambda member: member[1].start, reverse=True)
    # All the members' days (they share the cap and the reference day): one window holding every window.
    widest = replace(members[-1][1], last=max(win.last for _, win in members), end=max(win.end for _, win in members))
    months = widest.months()
    month_keys = [key for key, _ in months]
    out = {period: _Buckets(lineage) for period, _ in members}
    # Each period's months, as indexes into the widest window's.
    own_months = {period: {month_keys.index(key) for key, _ in win.months()} for period, win in members}

    def add_all(region_id: int, dimension: str, bucket: str, amount: int) -> None:
        for buckets in out.values():
            buckets.add(region_id, dimension, bucket, amount)

    registered = stats.registered(widest)
    band = stats.age_band(widest.reference_day).label("band")
    for region_id, gender, band_key, count in db.session.execute(
            select(Volunteer.region_id, Volunteer.gender, band, func.count()).where(*registered)
            .group_by(Volunteer.region_id, Volunteer.gender, literal_column("band"))):
        add_all(region_id, stats.TOTAL, "total", count)
        add_all(region_id, stats.GENDER, gender.value if gender is not None else stats.UNKNOWN, count)
        add_all(region_id, stats.AGE_BAND, band_key, count)
        path = lineage.get(region_id, ())
        for buckets in out.values():
            for parent, child in zip(path, path[1:]):
                buckets.values[parent][(stats.HOME, str(child))] += count
            if path:
                buckets.values[region_id][(stats.HOME, stats.OWN)] += count

    categories = JsonArrayElements(Volunteer.categories).table_valued("value")
    for region_id, category, count in db.session.execute(
            select(Volunteer.region_id, categories.c.value, func.count()).select_from(Volunteer)
            .join(categories, true()).where(*registered).group_by(Volunteer.region_id, categories.c.value)):
        add_all(region_id, stats.CATEGORY, category, count)

    for region_id, kind, count in db.session.execute(
            select(Volunteer.region_id, Team.kind, func.count(func.distinct(TeamMembership.volunteer_id)))
            .select_from(Team).join(TeamMembership, TeamMembership.team_id == Team.id)
            .join(Volunteer, Volunteer.id == TeamMembership.volunteer_id)
            .where(TeamMembership.status == MembershipStatus.ACTIVE, *registered)
            .group_by(Volunteer.region_id, Team.kind)):
        add_all(region_id, stats.TEAM_KIND, kind.value, count)

    held = stats.held(widest, None)
    month = stats.month_index(Activity.starts_at, months).label("month")
    for region_id, index, kind, count in db.session.execute(
            select(Activity.region_id, month, Activity.kind, func.count()).where(*held)
            .group_by(Activity.region_id, literal_column("month"), Activity.kind)):
        for period, buckets in out.items():
            if index in own_months[period]:
                buckets.add(region_id, stats.ACTIVITIES, f"{month_keys[index]}:{kind.value}", count)

    # An activity has one month, so its themes counted per month add up to the window's.
    themes = JsonArrayElements(Activity.themes).table_valued("value")
    for region_id, index, theme, count in db.session.execute(
            select(Activity.region_id, month, themes.c.value, func.count(func.distinct(Activity.id)))
            .select_from(Activity).join(themes, true()).where(*held)
            .group_by(Activity.region_id, literal_column("month"), themes.c.value)):
        for period, buckets in out.items():
            if index in own_months[period]:
                buckets.add(region_id, stats.THEME, theme, count)

    _add_minutes(lineage, members, months, own_months, out, held, registered)
    for region_id, kind, count in db.session.execute(
            select(Organization.region_id, Team.kind, func.count()).join(Organization, Organization.id == Team.organization_id)
            .where(Organization.status == OrganizationStatus.APPROVED, Team.created_at < widest.cap)
            .group_by(Organization.region_id, Team.kind)):
        add_all(region_id, stats.TEAMS, kind.value, count)
    return {period: buckets.values for period, buckets in out.items()}


def _add_minutes(lineage, members, months, own_months, out, held, registered) -> None:
    """The residents' minutes by month and by organisation, from one pass over the records.

    The records are grouped by (home, organisation, month) once (a CTE, materialised once on
    PostgreSQL because it is read twice); from it, in the same statement, the minutes by (home,
    month) and by (home, organisation, window), where window k is the k-th narrowest of the nested
    windows holding the record's month: a period adds up the windows up to its own.
    """
    month_keys = [key for key, _ in months]
    first_month = [min(own_months[period]) for period, _ in members]  # narrowest first: decreasing
    per_month = (select().select_from(ServiceRecord).join(Activity, Activity.id == ServiceRecord.activity_id)
                 .join(Volunteer, Volunteer.id == ServiceRecord.volunteer_id).where(*held, *registered)
                 .add_columns(Volunteer.region_id.label("region_id"), Activity.organization_id.label("organization_id"),
                              stats.month_index(Activity.starts_at, months).label("month"),
                              func.sum(ServiceRecord.minutes).label("minutes"))
                 .group_by(Volunteer.region_id, Activity.organization_id, literal_column("month"))
                 .cte("resident_minutes"))
    narrowest = (case(*((per_month.c.month >= literal_column(str(first)), literal_column(str(k)))
                        for k, first in enumerate(first_month[:-1])), else_=literal_column(str(len(first_month) - 1)))
                 if len(first_month) > 1 else literal_column("0"))
    by_organization = (select(literal_column("1").label("by_organization"), per_month.c.region_id,
                              per_month.c.organization_id, narrowest.label("place"), func.sum(per_month.c.minutes))
                       .group_by(per_month.c.region_id, per_month.c.organization_id, literal_column("place")))
    by_month = (select(literal_column("0").label("by_organization"), per_month.c.region_id,
                       null().label("organization_id"), per_month.c.month.label("place"), func.sum(per_month.c.minutes))
                .group_by(per_month.c.region_id, per_month.c.month))
    per_organization = {period: defaultdict(lambda: defaultdict(int)) for period, _ in members}
    for is_organization, region_id, organization_id, place, minutes in db.session.execute(
            union_all(by_organization, by_month)):
        if is_organization:
            for period, _ in members[place:]:
                per_node = per_organization[period]
                for node in lineage.get(region_id, ()):
                    per_node[node][organization_id] += int(minutes or 0)
        else:
            for period, buckets in out.items():
                if place in own_months[period]:
                    buckets.add(region_id, stats.MINUTES_MONTH, month_keys[place], int(minutes or 0))
    for period, per_node in per_organization.items():
        values = out[period].values
        for node, minutes_by_organization in per_node.items():
            top, others = stats.top_organizations(minutes_by_organization)
            for minutes, organization_id in top:
                values[node][(stats.MINUTES_ORG, str(organization_id))] = minutes
            if others is not None:
                values[node][(stats.MINUTES_ORG, stats.OTHERS_BUCKET)] = others


def refresh_periods(periods, *, now: datetime) -> int:
    """`refresh` of several periods, computed together (`compute_periods`); the rows written."""
    computed = compute_periods(periods, now=now)
    return sum(_store(period, buckets, now) for period, buckets in computed.items())


def refresh(period: Period, *, now: datetime) -> int:
    """Compute the period for every region and store it stamped `now`; the rows written."""
    return refresh_periods([period], now=now)


def _store(period: Period, computed: dict[int, dict[tuple[str, str], int]], now: datetime) -> int:
    rows = [{"region_id": node, "period": period.key, "dimension": dimension, "bucket": bucket, "value": value,
             "computed_at": now}
            for node, buckets in computed.items()
            for (dimension, bucket), value in buckets.items() if value or dimension == stats.TOTAL]
    # Every row of an older snapshot (or of an earlier refresh with the same stamp) goes: its buckets
    # that this snapshot leaves out have fallen to zero. Rows of a newer snapshot stay, and the
    # upsert does not touch them.
    db.session.execute(delete(StatValue).where(StatValue.period == period.key, StatValue.computed_at <= now))
    if rows:
        # One statement for every row (an executemany: compiled once, sent in batches of values by
        # the driver) rather than an INSERT … VALUES of thousands of parameters compiled per batch.
        statement = upsert_insert(StatValue)
        excluded = statement.excluded
        db.session.execute(statement.on_conflict_do_update(
            index_elements=["period", "region_id", "dimension", "bucket"],
            set_={"value": excluded.value, "computed_at": excluded.computed_at},
            where=StatValue.computed_at <= excluded.computed_at), rows)
    return len(rows)
