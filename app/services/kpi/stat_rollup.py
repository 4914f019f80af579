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
from datetime import datetime, timedelta

from sqlalchemy import delete, func, literal_column, select, true

from app.db import JsonArrayElements, upsert_insert
from app.extensions import db
from app.services import statistics as stats
from app.services.kpi.periods import Period
from app.timeutil import to_local
from models import (Activity, Organization, OrganizationStatus, Region, ServiceRecord, StatValue, Team,
                    TeamMembership, Volunteer)
from models.teams import MembershipStatus

# Rows per INSERT statement (7 bound parameters each; SQLite allows 32,766).
_BATCH = 2000


def window(period: Period, now: datetime) -> stats.Window:
    """The statistics window that is exactly the period (its Shanghai days)."""
    return stats.window(to_local(period.start).date(), to_local(period.end - timedelta(microseconds=1)).date(), now=now)


def compute(period: Period, *, now: datetime) -> dict[int, dict[tuple[str, str], int]]:
    """Every region's buckets for the period, as the raw tables say at `now`: {region: {(dimension, bucket): value}}."""
    lineage = {region_id: [int(part) for part in path.strip("/").split("/")]
               for region_id, path in db.session.execute(select(Region.id, Region.path))}
    win = window(period, now)
    months = win.months()
    values: dict[int, dict[tuple[str, str], int]] = {node: defaultdict(int) for node in lineage}
    for node in lineage:
        values[node][(stats.TOTAL, "total")] += 0

    def add(region_id: int, dimension: str, bucket: str, amount: int) -> None:
        for node in lineage.get(region_id, ()):
            values[node][(dimension, bucket)] += amount

    registered = stats.registered(win)
    band = stats.age_band(win.reference_day).label("band")
    for region_id, gender, band_key, count in db.session.execute(
            select(Volunteer.region_id, Volunteer.gender, band, func.count()).where(*registered)
            .group_by(Volunteer.region_id, Volunteer.gender, literal_column("band"))):
        add(region_id, stats.TOTAL, "total", count)
        add(region_id, stats.GENDER, gender.value if gender is not None else stats.UNKNOWN, count)
        add(region_id, stats.AGE_BAND, band_key, count)
        path = lineage.get(region_id, ())
        for parent, child in zip(path, path[1:]):
            values[parent][(stats.HOME, str(child))] += count
        if path:
            values[region_id][(stats.HOME, stats.OWN)] += count

    categories = JsonArrayElements(Volunteer.categories).table_valued("value")
    for region_id, category, count in db.session.execute(
            select(Volunteer.region_id, categories.c.value, func.count()).select_from(Volunteer)
            .join(categories, true()).where(*registered).group_by(Volunteer.region_id, categories.c.value)):
        add(region_id, stats.CATEGORY, category, count)

    for region_id, kind, count in db.session.execute(
            select(Volunteer.region_id, Team.kind, func.count(func.distinct(TeamMembership.volunteer_id)))
            .select_from(Team).join(TeamMembership, TeamMembership.team_id == Team.id)
            .join(Volunteer, Volunteer.id == TeamMembership.volunteer_id)
            .where(TeamMembership.status == MembershipStatus.ACTIVE, *registered)
            .group_by(Volunteer.region_id, Team.kind)):
        add(region_id, stats.TEAM_KIND, kind.value, count)

    held = stats.held(win, None)
    month = stats.month_index(Activity.starts_at, months).label("month")
    for region_id, index, kind, count in db.session.execute(
            select(Activity.region_id, month, Activity.kind, func.count()).where(*held)
            .group_by(Activity.region_id, literal_column("month"), Activity.kind)):
        add(region_id, stats.ACTIVITIES, f"{months[index][0]}:{kind.value}", count)

    themes = JsonArrayElements(Activity.themes).table_valued("value")
    for region_id, theme, count in db.session.execute(
            select(Activity.region_id, themes.c.value, func.count(func.distinct(Activity.id))).select_from(Activity)
            .join(themes, true()).where(*held).group_by(Activity.region_id, themes.c.value)):
        add(region_id, stats.THEME, theme, count)

    # Two queries rather than one by (home, month, organisation), whose rows would be many times more.
    residents_records = (select().select_from(ServiceRecord).join(Activity, Activity.id == ServiceRecord.activity_id)
                         .join(Volunteer, Volunteer.id == ServiceRecord.volunteer_id).where(*held, *registered))
    for region_id, index, minutes in db.session.execute(
            residents_records.add_columns(Volunteer.region_id, month, func.sum(ServiceRecord.minutes))
            .group_by(Volunteer.region_id, literal_column("month"))):
        add(region_id, stats.MINUTES_MONTH, months[index][0], int(minutes or 0))
    per_organization: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for region_id, organization_id, minutes in db.session.execute(
            residents_records.add_columns(Volunteer.region_id, Activity.organization_id, func.sum(ServiceRecord.minutes))
            .group_by(Volunteer.region_id, Activity.organization_id)):
        for node in lineage.get(region_id, ()):
            per_organization[node][organization_id] += int(minutes or 0)
    for node, minutes_by_organization in per_organization.items():
        top, others = stats.top_organizations(minutes_by_organization)
        for minutes, organization_id in top:
            values[node][(stats.MINUTES_ORG, str(organization_id))] = minutes
        if others is not None:
            values[node][(stats.MINUTES_ORG, stats.OTHERS_BUCKET)] = others

    for region_id, kind, count in db.session.execute(
            select(Organization.region_id, Team.kind, func.count()).join(Organization, Organization.id == Team.organization_id)
            .where(Organization.status == OrganizationStatus.APPROVED, Team.created_at < win.cap)
            .group_by(Organization.region_id, Team.kind)):
        add(region_id, stats.TEAMS, kind.value, count)
    return values


def refresh(period: Period, *, now: datetime) -> int:
    """Compute the period for every region and store it stamped `now`; the rows written."""
    rows = [{"region_id": node, "period": period.key, "dimension": dimension, "bucket": bucket, "value": value,
             "computed_at": now}
            for node, buckets in compute(period, now=now).items()
            for (dimension, bucket), value in buckets.items() if value or dimension == stats.TOTAL]
    # Every row of an older snapshot (or of an earlier refresh with the same stamp) goes: its buckets
    # that this snapshot leaves out have fallen to zero. Rows of a newer snapshot stay, and the
    # upsert does not touch them.
    db.session.execute(delete(StatValue).where(StatValue.period == period.key, StatValue.computed_at <= now))
    for start in range(0, len(rows), _BATCH):
        statement = upsert_insert(StatValue).values(rows[start:start + _BATCH])
        excluded = statement.excluded
        db.session.execute(statement.on_conflict_do_update(
            index_elements=["period", "region_id", "dimension", "bucket"],
            set_={"value": excluded.value, "computed_at": excluded.computed_at},
            where=StatValue.computed_at <= excluded.computed_at))
    return len(rows)
