"""Compute every indicator of one period for every region, straight from the raw tables.

A dozen grouped queries, whatever the size of the tree; the tree itself is done in Python over the
materialised paths (`/1/4/9/`):
- volunteer-based figures are grouped by the volunteer's home region and then *summed* up the path,
  which is right because every volunteer has exactly one home: the sets below a node are disjoint;
- activity-based distinct counts (team kinds, festivals) are *unions* of per-region sets up the path,
  never sums: two streets holding the same festival give their district one festival, not two;
- counts of activities and of training units are sums again (each has one place).

The definitions are the lead's (docs/ARCHITECTURE.md, "Statistics: KPIs and rollups"); each query
below says which of them it implements.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, case, cast, func, select

from app.extensions import db
from app.services.kpi.catalogue import BY_KEY, CARE_THEME_MINIMUMS, COUNT, HOURS
from app.services.kpi.periods import Period
from models import (Activity, ActivityKind, ActivityStatus, Campaign, Organization, OrganizationStatus, Region,
                    RegionLevel, RegionPopulation, RegistrationChannel, ServiceRecord, Team, TeamKind, Volunteer,
                    VolunteerStatus)

# Activities in these states were never held: a draft is not scheduled, the others were called off.
NOT_HELD = (ActivityStatus.DRAFT, ActivityStatus.WITHDRAWN, ActivityStatus.CANCELLED)
# A suspension does not undo a registration; pending, rejected and deleted volunteers are not registered.
REGISTERED = (VolunteerStatus.APPROVED, VolunteerStatus.SUSPENDED)
# A station is active in a period with at least this many held activities per month of the period.
STATION_ACTIVITIES_PER_MONTH = 2


@dataclass(frozen=True)
class Figure:
    key: str
    numerator: int
    denominator: int
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> float | None:
        return figure_value(self.key, self.numerator, self.denominator)


def figure_value(key: str, numerator: int, denominator: int) -> float | None:
    """The indicator's value from its stored parts: percent, hours (numerator in minutes) or a count."""
    if not denominator:
        return None
    unit = BY_KEY[key].unit
    if unit == COUNT:
        return float(numerator)
    if unit == HOURS:
        return round(numerator / 60 / denominator, 2)
    return round(100 * numerator / denominator, 2)


def held(start: datetime, end: datetime) -> tuple:
    """An activity held in [start, end): not called off, starting inside (its start in Shanghai is the date that counts)."""
    return Activity.status.not_in(NOT_HELD), Activity.starts_at >= start, Activity.starts_at < end


def registered_at(cap: datetime) -> tuple:
    """A volunteer registered at `cap`: approved or suspended, and approved before it."""
    return Volunteer.status.in_(REGISTERED), func.coalesce(Volunteer.reviewed_at, Volunteer.created_at) < cap


class _Tree:
    """The region tree from the paths: each node's lineage (root first) and level."""

    def __init__(self, rows) -> None:
        self.lineage: dict[int, list[int]] = {}
        self.level: dict[int, RegionLevel] = {}
        self.retired: set[int] = set()
        self.own_population: dict[int, int | None] = {}
        self.children: dict[int, list[int]] = defaultdict(list)
        for region_id, path, level, parent_id, retired_at, population in rows:
            self.lineage[region_id] = [int(part) for part in path.strip("/").split("/")]
            self.level[region_id] = RegionLevel(level)
            self.own_population[region_id] = population
            if retired_at is not None:
                self.retired.add(region_id)
            if parent_id is not None:
                self.children[parent_id].append(region_id)

    def up(self, region_id: int):
        """The region and its ancestors (a row may name a region missing from the tree: skip it)."""
        return self.lineage.get(region_id, ())

    def sum_up(self, per_region: dict[int, int]) -> dict[int, int]:
        totals: dict[int, int] = defaultdict(int)
        for region_id, amount in per_region.items():
            for node in self.up(region_id):
                totals[node] += amount
        return totals

    def union_up(self, pairs) -> dict[int, set]:
        sets: dict[int, set] = defaultdict(set)
        for region_id, item in pairs:
            for node in self.up(region_id):
                sets[node].add(item)
        return sets


def compute_period(period: Period, *, now: datetime, region_ids=None) -> dict[int, dict[str, Figure]]:
    """Figures of every region (or of `region_ids`) for the period, as the raw tables say at `now`."""
    return compute_periods([period], now=now, region_ids=region_ids)[period]


def compute_periods(periods, *, now: datetime, region_ids=None) -> dict[Period, dict[int, dict[str, Figure]]]:
    """`compute_period` of several periods, each figure computed once however many periods share it.

    Every volunteer-based figure and every year-to-date one (registered, self-registered, recorded,
    minutes, care themes, team kinds, festivals) depends only on the period's year start and cap,
    not on the period: the live month, quarter and year (one cap, `now`) share all of them, and so
    do a past quarter and its last month, or a past year and its December. They are computed once
    per (year start, cap); only the stations and the trainings, cheap, are per period.
    """
    periods = list(dict.fromkeys(periods))
    tree = _Tree(db.session.execute(select(Region.id, Region.path, Region.level, Region.parent_id,
                                           Region.retired_at, Region.population)).all())
    wanted = list(tree.lineage) if region_ids is None else [r for r in region_ids if r in tree.lineage]
    populations: dict[int, dict[int, tuple[int | None, str]]] = {}
    shared: dict[tuple[datetime, datetime], _ToDate] = {}
    result: dict[Period, dict[int, dict[str, Figure]]] = {}
    for period in periods:
        cap = period.cap(now)
        if period.year not in populations:
            populations[period.year] = _populations(tree, period.year)
        if (period.year_start, cap) not in shared:
            shared[(period.year_start, cap)] = _to_date(tree, period.year_start, cap)
        result[period] = _figures(period, tree, wanted, populations[period.year], shared[(period.year_start, cap)],
                                  _stations(tree, period, cap), _training(tree, period, now))
    return result


@dataclass
class _ToDate:
    """The figures of one (year start, cap), whichever period they serve."""

    registered: dict[int, int]
    self_registered: dict[int, int]
    recorded: dict[int, int]
    minutes: dict[int, int]
    themes: dict[int, dict[str, int]]
    kinds: dict[int, set]
    festivals: dict[int, set]


def _to_date(tree: _Tree, ytd_start: datetime, cap: datetime) -> _ToDate:
    registered, self_registered = _registered(tree, cap)
    recorded, minutes = _recorded(tree, ytd_start, cap)
    kinds = tree.union_up(db.session.execute(
        select(Activity.region_id, Team.kind).join(Team, Team.id == Activity.team_id)
        .where(Team.kind != TeamKind.GENERAL, *held(ytd_start, cap)).distinct()).all())
    festivals = tree.union_up(db.session.execute(
        select(Activity.region_id, Campaign.festival_key).join(Campaign, Campaign.id == Activity.campaign_id)
        .where(*held(ytd_start, cap)).distinct()).all())
    return _ToDate(registered, self_registered, recorded, minutes, _care_themes(tree, ytd_start, cap), kinds, festivals)


def _figures(period: Period, tree: _Tree, wanted: list[int], population, to_date: _ToDate, station_counts,
             training) -> dict[int, dict[str, Figure]]:
    stations, station_total = station_counts
    result: dict[int, dict[str, Figure]] = {}
    for node in wanted:
        people = to_date.registered.get(node, 0)
        pop_value, pop_source = population[node]
        node_themes = {theme: to_date.themes.get(node, {}).get(theme, 0) for theme in CARE_THEME_MINIMUMS}
        minutes = to_date.minutes.get(node, 0)
        kinds, festivals = to_date.kinds.get(node, set()), to_date.festivals.get(node, set())
        result[node] = {figure.key: figure for figure in (
            Figure("registration_rate", people, pop_value or 0, {"population_source": pop_source}),
            Figure("recorded_rate", to_date.recorded.get(node, 0), people),
            Figure("hours_per_volunteer", minutes, people, {"minutes": minutes}),
            Figure("station_activity", stations.get(node, 0), station_total.get(node, 0),
                   {"activities_needed": STATION_ACTIVITIES_PER_MONTH * period.months}),
            Figure("care_themes", sum(count >= CARE_THEME_MINIMUMS[t] for t, count in node_themes.items()),
                   len(CARE_THEME_MINIMUMS), {"themes": node_themes, "minimums": CARE_THEME_MINIMUMS}),
            Figure("professional_team_kinds", len(kinds), 1, {"kinds": sorted(kinds)}),
            Figure("festival_campaigns", len(festivals), 1, {"festivals": sorted(festivals)}),
            training(node),
            Figure("self_registration_rate", to_date.self_registered.get(node, 0), people),
        )}
    return result


def _populations(tree: _Tree, year: int) -> dict[int, tuple[int | None, str]]:
    """Each node's resident population for the year and where it comes from.

    The node's own figure for the latest year ≤ the period's year, else `regions.population`, else
    the sum of its children's (a district whose streets were counted but not the district itself).
    """
    yearly: dict[int, tuple[int, int]] = {}
    for region_id, row_year, value in db.session.execute(
            select(RegionPopulation.region_id, RegionPopulation.year, RegionPopulation.population)
            .where(RegionPopulation.year <= year)):
        if region_id not in yearly or row_year > yearly[region_id][0]:
            yearly[region_id] = (row_year, value)
    result: dict[int, tuple[int | None, str]] = {}

    def resolve(node: int) -> tuple[int | None, str]:
        if node in result:
            return result[node]
        if node in yearly:
            found = (yearly[node][1], f"year:{yearly[node][0]}")
        elif tree.own_population[node] is not None:
            found = (tree.own_population[node], "region")
        else:
            parts = [resolve(child)[0] for child in tree.children.get(node, ())]
            known = [part for part in parts if part]
            found = (sum(known), "children") if known else (None, "none")
        result[node] = found
        return found

    # Deepest first, so the recursion never goes deeper than one level.
    for node in sorted(tree.lineage, key=lambda n: -len(tree.lineage[n])):
        resolve(node)
    return result


def _registered(tree: _Tree, cap: datetime) -> tuple[dict[int, int], dict[int, int]]:
    """Registered volunteers and those who registered themselves, by home region, summed up the tree."""
    rows = db.session.execute(
        select(Volunteer.region_id, func.count(),
               func.sum(case((Volunteer.registration_channel == RegistrationChannel.SELF, 1), else_=0)))
        .where(*registered_at(cap)).group_by(Volunteer.region_id)).all()
    return (tree.sum_up({region: count for region, count, _ in rows}),
            tree.sum_up({region: int(own or 0) for region, _, own in rows}))


def _recorded(tree: _Tree, start: datetime, cap: datetime) -> tuple[dict[int, int], dict[int, int]]:
    """Registered volunteers with positive net minutes in [start, cap), and those minutes, by home region.

    A record counts in the window of its activity's start, whenever it was written, so a correction
    to an old month changes that month; a negative net (more taken back than given) counts as 0.
    """
    nets = (select(Volunteer.region_id.label("region_id"), func.sum(ServiceRecord.minutes).label("net"))
            .join(Volunteer, Volunteer.id == ServiceRecord.volunteer_id)
            .join(Activity, Activity.id == ServiceRecord.activity_id)
            .where(*registered_at(cap), *held(start, cap))
            .group_by(ServiceRecord.volunteer_id, Volunteer.region_id).subquery())
    rows = db.session.execute(
        select(nets.c.region_id, func.count(), func.sum(nets.c.net)).where(nets.c.net > 0)
        .group_by(nets.c.region_id)).all()
    return (tree.sum_up({region: count for region, count, _ in rows}),
            tree.sum_up({region: int(total) for region, _, total in rows}))


def _stations(tree: _Tree, period: Period, cap: datetime) -> tuple[dict[int, int], dict[int, int]]:
    """Active community stations (≥ 2 held activities per month of the period) and all stations."""
    counts = dict(db.session.execute(
        select(Activity.region_id, func.count()).where(*held(period.start, cap)).group_by(Activity.region_id)).all())
    needed = STATION_ACTIVITIES_PER_MONTH * period.months
    stations = [node for node, level in tree.level.items()
                if level is RegionLevel.COMMUNITY and node not in tree.retired]
    return (tree.sum_up({node: 1 for node in stations if counts.get(node, 0) >= needed}),
            tree.sum_up({node: 1 for node in stations}))


def _care_themes(tree: _Tree, start: datetime, cap: datetime) -> dict[int, dict[str, int]]:
    """Held activities per care theme and node (an activity counts once per theme it lists)."""
    per_region: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    # Grouped by the JSON text so the rows are few (one per distinct theme list and region).
    for region_id, themes_text, count in db.session.execute(
            select(Activity.region_id, cast(Activity.themes, String), func.count())
            .where(*held(start, cap)).group_by(Activity.region_id, cast(Activity.themes, String))):
        for theme in set(json.loads(themes_text) or ()) & CARE_THEME_MINIMUMS.keys():
            for node in tree.up(region_id):
                per_region[node][theme] += count
    return per_region


def _training(tree: _Tree, period: Period, now: datetime):
    """A function giving each node's quarterly_training figure.

    Units are the professional teams of approved organisations (placed at their organisation's
    region) and the streets; a unit is trained when a training was held in every quarter of the
    period that has begun: a team by its own training anywhere, a street by any training in its
    subtree (as app/services/trainings.py decides it). Units have one place each: counts are sums.
    """
    quarters = period.quarters_begun(now)
    teams = dict(db.session.execute(
        select(Team.id, Organization.region_id).join(Organization, Organization.id == Team.organization_id)
        .where(Team.kind != TeamKind.GENERAL, Organization.status == OrganizationStatus.APPROVED)).all())
    streets = [node for node, level in tree.level.items() if level is RegionLevel.STREET]
    trained_teams, trained_streets = set(teams), set(streets)
    for quarter in quarters:
        rows = db.session.execute(
            select(Activity.team_id, Activity.region_id).where(
                Activity.kind == ActivityKind.TRAINING, *held(quarter.start, quarter.cap(now))).distinct()).all()
        trained_teams &= {team for team, _ in rows if team is not None}
        trained_streets &= {node for _, region in rows for node in tree.up(region)
                            if tree.level.get(node) is RegionLevel.STREET}
    units = tree.sum_up(_count_by(list(teams.values()) + streets))
    done = tree.sum_up(_count_by([teams[team] for team in trained_teams] + list(trained_streets)))
    keys = [quarter.key for quarter in quarters]

    def figure(node: int) -> Figure:
        # Before the period's first quarter has begun there is nothing to have trained in: no figure.
        denominator = units.get(node, 0) if quarters else 0
        return Figure("quarterly_training", done.get(node, 0) if quarters else 0, denominator, {"quarters": keys})
    return figure


def _count_by(region_ids: list[int]) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for region_id in region_ids:
        counts[region_id] += 1
    return counts
