"""Property: after random operations, the rollup equals a naive computation over the raw tables, at every node.

The oracle below shares nothing with app/services/kpi/compute.py but the definitions: it loads the
rows and, for each node, filters them with Python over the region paths (sets, never sums).
"""

from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import HealthCheck, given, settings, strategies as st

from app.extensions import db
from app.services.kpi import refresh
from app.services.kpi.catalogue import CARE_THEME_MINIMUMS
from app.services.kpi.periods import Period
from models import (Activity, ActivityKind, ActivityStatus, Campaign, KpiValue, Organization, RecordKind, Region,
                    RegionLevel, RegionPopulation, RegistrationChannel, ServiceRecord, Team, TeamKind, Volunteer,
                    VolunteerStatus)
from tests.conftest import FIXED_NOW
from tests.services.kpi_builders import Town

NOW = FIXED_NOW
# Groups sharing a cap, computed together: the live month, quarter and year; a past quarter and its
# last month; a past year and its December.
PERIODS = [Period.parse(text) for text in ("2026-11", "2026-Q4", "2026", "2026-06", "2026-Q3", "2026-09", "2025-12",
                                           "2025")]
COMMUNITIES = ["community", "community2", "community3", "other_community"]
HELD_NOT = {ActivityStatus.DRAFT, ActivityStatus.WITHDRAWN, ActivityStatus.CANCELLED}

operation = st.one_of(
    st.tuples(st.just("register"), st.sampled_from(COMMUNITIES), st.integers(1, 400),
              st.sampled_from(list(RegistrationChannel))),
    st.tuples(st.just("review"), st.integers(0, 30), st.sampled_from(
        [VolunteerStatus.APPROVED, VolunteerStatus.REJECTED, VolunteerStatus.SUSPENDED, VolunteerStatus.DELETED])),
    st.tuples(st.just("move"), st.integers(0, 30), st.sampled_from(COMMUNITIES)),
    st.tuples(st.just("activity"), st.sampled_from(COMMUNITIES + ["street", "street2"]), st.integers(1, 330),
              st.sampled_from([None, "medical", "legal", "general"]), st.booleans(),
              st.lists(st.sampled_from(list(CARE_THEME_MINIMUMS)), max_size=2),
              st.sampled_from([None, "spring", "lantern"])),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("record"), st.integers(0, 30), st.integers(0, 30), st.integers(-120, 240)),
)


class Oracle:
    """The definitions, applied naively to all rows for one node."""

    def __init__(self) -> None:
        self.regions = {r.id: r for r in db.session.query(Region)}
        self.volunteers = list(db.session.query(Volunteer))
        self.activities = {a.id: a for a in db.session.query(Activity)}
        self.records = list(db.session.query(ServiceRecord))
        self.teams = {t.id: t for t in db.session.query(Team)}
        self.orgs = {o.id: o for o in db.session.query(Organization)}
        self.campaigns = {c.id: c for c in db.session.query(Campaign)}
        self.populations = list(db.session.query(RegionPopulation))

    def within(self, region_id: int, node: Region) -> bool:
        return self.regions[region_id].path.startswith(node.path)

    def held(self, activity: Activity, start, end) -> bool:
        return activity.status not in HELD_NOT and start <= activity.starts_at < end

    def figures(self, node: Region, period: Period) -> dict[str, tuple]:
        cap = period.cap(NOW)
        registered = [v for v in self.volunteers if v.status in (VolunteerStatus.APPROVED, VolunteerStatus.SUSPENDED)
                      and (v.reviewed_at or v.created_at) < cap and self.within(v.region_id, node)]
        ids = {v.id for v in registered}
        nets: dict[int, int] = {}
        for r in self.records:
            if r.volunteer_id in ids and self.held(self.activities[r.activity_id], period.year_start, cap):
                nets[r.volunteer_id] = nets.get(r.volunteer_id, 0) + r.minutes
        held_ytd = [a for a in self.activities.values() if self.held(a, period.year_start, cap)
                    and self.within(a.region_id, node)]
        kinds = {self.teams[a.team_id].kind for a in held_ytd if a.team_id and
                 self.teams[a.team_id].kind is not TeamKind.GENERAL}
        festivals = {self.campaigns[a.campaign_id].festival_key for a in held_ytd if a.campaign_id}
        themes = {t: sum(t in a.themes for a in held_ytd) for t in CARE_THEME_MINIMUMS}
        stations = [r for r in self.regions.values() if r.level is RegionLevel.COMMUNITY and r.retired_at is None
                    and r.path.startswith(node.path)]
        active = [s for s in stations if sum(1 for a in self.activities.values() if a.region_id == s.id and
                                             self.held(a, period.start, cap)) >= 2 * period.months]
        return {
            "registration_rate": (len(registered), self.population(node, period.year)),
            "recorded_rate": (sum(1 for n in nets.values() if n > 0), len(registered)),
            "hours_per_volunteer": (sum(n for n in nets.values() if n > 0), len(registered)),
            "self_registration_rate": (sum(v.registration_channel is RegistrationChannel.SELF for v in registered),
                                       len(registered)),
            "station_activity": (len(active), len(stations)),
            "care_themes": (sum(themes[t] >= m for t, m in CARE_THEME_MINIMUMS.items()), 8),
            "professional_team_kinds": (len(kinds), 1),
            "festival_campaigns": (len(festivals), 1),
            "quarterly_training": self.training(node, period),
        }

    def population(self, node: Region, year: int) -> int:
        own = [p for p in self.populations if p.region_id == node.id and p.year <= year]
        if own:
            return max(own, key=lambda p: p.year).population
        if node.population is not None:
            return node.population
        return sum(self.population(c, year) or 0 for c in self.regions.values() if c.parent_id == node.id)

    def training(self, node: Region, period: Period) -> tuple[int, int]:
        quarters = period.quarters_begun(NOW)
        if not quarters:
            return (0, 0)
        trainings = [a for a in self.activities.values() if a.kind is ActivityKind.TRAINING]
        teams = [t for t in self.teams.values() if t.kind is not TeamKind.GENERAL
                 and self.orgs[t.organization_id].status.value == "approved"
                 and self.within(self.orgs[t.organization_id].region_id, node)]
        streets = [r for r in self.regions.values() if r.level is RegionLevel.STREET and r.path.startswith(node.path)]
        done = sum(all(any(a.team_id == t.id and self.held(a, q.start, q.cap(NOW)) for a in trainings)
                       for q in quarters) for t in teams)
        done += sum(all(any(self.within(a.region_id, s) and self.held(a, q.start, q.cap(NOW)) for a in trainings)
                        for q in quarters) for s in streets)
        return (done, len(teams) + len(streets))


def apply(town: Town, op: tuple, state: dict) -> None:
    kind = op[0]
    people, acts = state["people"], state["activities"]
    if kind == "register":
        _, region, days, channel = op
        people.append(town.volunteer(region, days_ago=days, status=VolunteerStatus.PENDING,
                                     registration_channel=channel))
    elif kind == "review" and people:
        person = people[op[1] % len(people)]
        person.status = op[2]
        if person.reviewed_at is None:
            person.reviewed_at = person.created_at + timedelta(days=1)
    elif kind == "move" and people:
        people[op[1] % len(people)].region_id = town[op[2]].id
    elif kind == "activity":
        _, region, days, team, training, themes, festival = op
        team_row = {"medical": town.medical, "legal": town.legal, "general": town.general, None: None}[team]
        campaign = state["campaigns"].get(festival) if festival else None
        acts.append(town.activity(region, at=NOW - timedelta(days=days, hours=3), team=team_row, themes=themes,
                                  kind=ActivityKind.TRAINING if training else ActivityKind.SERVICE, campaign=campaign))
    elif kind == "cancel" and acts:
        acts[op[1] % len(acts)].status = ActivityStatus.CANCELLED
    elif kind == "record" and people and acts:
        town.record(people[op[1] % len(people)], acts[op[2] % len(acts)], op[3],
                    kind=RecordKind.CORRECTION if op[3] < 0 else RecordKind.ATTENDANCE)
    db.session.flush()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(operations=st.lists(operation, max_size=40))
def test_rollup_equals_a_naive_computation_after_random_operations(app_context, operations):
    savepoint = db.session.begin_nested()
    try:
        town = Town(NOW)
        town.general = Team(organization_id=town.org.id, name="综合队", kind=TeamKind.GENERAL, created_at=NOW)
        db.session.add(town.general)
        state = {"people": [], "activities": [],
                 "campaigns": {"spring": town.campaign("spring", "district"),
                               "lantern": town.campaign("lantern", "other_district")}}
        for op in operations:
            apply(town, op, state)
        refresh.refresh(PERIODS, now=NOW)
        stored = {(v.region_id, v.period, v.key): (v.numerator, v.denominator)
                  for v in db.session.query(KpiValue).populate_existing()}
        oracle = Oracle()
        for node in oracle.regions.values():
            for period in PERIODS:
                for key, expected in oracle.figures(node, period).items():
                    assert stored[(node.id, period.key, key)] == expected, (node.name, period.key, key)
    finally:
        savepoint.rollback()
