"""The statistics rollup (`stat_values`): served for whole periods, equal to the direct computation.

The property test performs the KPI property test's random operations (registrations, reviews,
suspensions, deletions, moves, activities, cancellations, records and corrections) plus the ones
the breakdowns look at (gender, birth date, categories, team memberships, teams, a second
organisation's activities), refreshes twice, and checks that for every node and period the
rollup-served statistics equal `statistics.report`, the GROUP BY queries over the raw tables.
"""

from __future__ import annotations

from datetime import date, timedelta
from unittest import mock

from hypothesis import HealthCheck, given, settings, strategies as st

from app.extensions import db
from app.services import statistics, workbench
from app.services.kpi import refresh, stat_rollup
from app.services.kpi.periods import Period
from models import (ActivityKind, ActivityStatus, Gender, OrganizationStatus, Region, StatValue, TeamKind,
                    TeamMembership, VolunteerStatus)
from models.activities import CARE_THEMES
from models.teams import MembershipStatus
from tests import factories
from tests.services.kpi_builders import Town
from tests.services.test_kpi_properties import COMMUNITIES, NOW, apply as apply_kpi_operation, operation as kpi_operation

# Groups sharing a cap, computed together: the live month, quarter and year; a past quarter and its
# last month; a past year, its last quarter and its December.
PERIODS = [Period.parse(text) for text in ("2026-11", "2026-Q4", "2026", "2026-06", "2026-Q3", "2026-09", "2025-12",
                                           "2025-Q4", "2025")]
HOMES = COMMUNITIES + ["street", "district"]
CATEGORIES = ["party_member", "youth", "women", "student", "retiree", "other"]

operation = st.one_of(
    kpi_operation,
    st.tuples(st.just("person"), st.sampled_from(HOMES), st.integers(1, 400),
              st.sampled_from([Gender.MALE, Gender.FEMALE, None]),
              st.one_of(st.none(), st.dates(date(1940, 1, 1), date(2015, 12, 31))),
              st.lists(st.sampled_from(CATEGORIES), max_size=3, unique=True), st.booleans()),
    st.tuples(st.just("join"), st.integers(0, 30), st.integers(0, 5), st.booleans()),
    st.tuples(st.just("team"), st.integers(0, 2), st.sampled_from(list(TeamKind)), st.integers(-30, 400)),
    st.tuples(st.just("elsewhere"), st.sampled_from(COMMUNITIES), st.integers(1, 330), st.integers(0, 2),
              st.lists(st.sampled_from(CARE_THEMES), max_size=3, unique=True), st.integers(0, 30),
              st.integers(-60, 240)),
)


def apply(town: Town, op: tuple, state: dict) -> None:
    kind = op[0]
    people, teams, organizations = state["people"], state["teams"], state["organizations"]
    if kind == "person":
        _, home, days, gender, born, categories, approved = op
        people.append(town.volunteer(home, days_ago=days, gender=gender, birth_date=born, categories=categories,
                                     **({} if approved else {"status": VolunteerStatus.PENDING})))
    elif kind == "join" and people:
        team, person = teams[op[2] % len(teams)], people[op[1] % len(people)]
        if (team.id, person.id) not in state["members"]:
            state["members"].add((team.id, person.id))
            db.session.add(TeamMembership(team_id=team.id, volunteer_id=person.id, created_at=NOW - timedelta(days=1),
                                          status=MembershipStatus.ACTIVE if op[3] else MembershipStatus.REMOVED))
    elif kind == "team":
        _, org, team_kind, days = op
        teams.append(factories.team(organizations[org], f"队{len(teams)}", NOW - timedelta(days=days), team_kind))
    elif kind == "elsewhere":
        # Another organisation's activity, so that hours spread over organisations.
        _, region, days, org, themes, who, minutes = op
        activity = factories.activity(organizations[org], town[region], NOW, starts_in=-timedelta(days=days, hours=3),
                                      status=ActivityStatus.FINISHED, kind=ActivityKind.SERVICE, themes=themes)
        state["activities"].append(activity)
        if people:
            town.record(people[who % len(people)], activity, minutes)
    else:
        apply_kpi_operation(town, op, state)
    db.session.flush()


def region_scope(region: Region) -> workbench.Scope:
    return workbench.Scope("region", region, is_admin=True)


def direct_everywhere() -> dict[tuple[int, str], dict]:
    return {(node.id, period.key): statistics.report(region_scope(node), stat_rollup.window(period, NOW))
            for node in db.session.query(Region) for period in PERIODS}


def served_everywhere() -> dict[tuple[int, str], dict]:
    found = {}
    for node in db.session.query(Region):
        for period in PERIODS:
            served = statistics.from_rollup(region_scope(node), stat_rollup.window(period, NOW))
            assert served is not None and served.source == "rollup", (node.name, period.key)
            found[(node.id, period.key)] = served.breakdowns
    return found


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(before=st.lists(operation, max_size=25), after=st.lists(operation, max_size=25),
       late=st.lists(operation, min_size=1, max_size=5))
def test_rollup_served_statistics_equal_the_direct_ones_after_random_operations(app_context, before, after, late):
    savepoint = db.session.begin_nested()
    # One organisation in the top, the rest folded into 其他: both kinds of hour lines are exercised.
    with mock.patch.object(statistics, "TOP_ORGANIZATIONS", 1):
        try:
            town = Town(NOW)
            town.general = factories.team(town.org, "综合队", NOW, TeamKind.GENERAL)
            other = factories.organization("另一协会", town["other_district"], NOW)
            pending = factories.organization("筹备协会", town["street"], NOW, status=OrganizationStatus.PENDING)
            state = {"people": [], "activities": [], "members": set(), "teams": [town.medical, town.legal, town.general],
                     "organizations": [town.org, other, pending],
                     "campaigns": {"spring": town.campaign("spring", "district"),
                                   "lantern": town.campaign("lantern", "other_district")}}
            for op in before:
                apply(town, op, state)
            # An earlier snapshot first: buckets it wrote that have fallen to zero since must not show.
            refresh.refresh(PERIODS, now=NOW - timedelta(hours=2))
            for op in after:
                apply(town, op, state)
            refresh.refresh(PERIODS, now=NOW)
            expected = direct_everywhere()
            assert served_everywhere() == expected
            # A slower refresh that began before (an older stamp) and commits after changes nothing.
            for op in late:
                apply(town, op, state)
            refresh.refresh(PERIODS, now=NOW - timedelta(hours=1))
            assert served_everywhere() == expected
        finally:
            savepoint.rollback()


def test_period_of_maps_whole_months_quarters_and_years_only(app_context):
    def period(first, last):
        found = statistics.period_of(statistics.window(first, last, now=NOW))
        return found.key if found else None
    assert period(date(2026, 11, 1), date(2026, 11, 30)) == "2026-11"
    assert period(date(2026, 10, 1), date(2026, 12, 31)) == "2026-Q4"
    assert period(date(2026, 1, 1), date(2026, 12, 31)) == "2026"
    assert period(None, None) == "2026"  # the default window
    assert period(date(2026, 1, 1), date(2026, 3, 31)) == "2026-Q1"
    assert period(date(2026, 11, 1), date(2026, 11, 15)) is None
    assert period(date(2026, 11, 2), date(2026, 11, 30)) is None
    assert period(date(2026, 2, 1), date(2026, 4, 30)) is None
    assert period(date(2025, 1, 1), date(2026, 12, 31)) is None


def test_the_rollup_serves_a_refreshed_period_of_a_region_as_of_the_refresh(app_context):
    town = Town(NOW)
    first = town.volunteer("community")
    activity = town.activity("community", at=NOW - timedelta(days=3))
    town.record(first, activity, 90)
    refresh.refresh([Period.parse("2026"), Period.parse("2026-11")], now=NOW - timedelta(minutes=5))
    street = region_scope(town["street"])
    year = statistics.window(None, None, now=NOW)
    served = statistics.answer(street, year)
    assert served.source == "rollup" and served.as_of == NOW - timedelta(minutes=5)
    assert served.breakdowns == statistics.report(street, statistics.window(None, None, now=NOW - timedelta(minutes=5)))
    assert served.breakdowns["volunteers"]["total"] == 1 and served.breakdowns["hours"]["total_minutes"] == 90
    # Events after the snapshot show at the next refresh; the answer says what moment it counts to.
    town.record(town.volunteer("community2"), activity, 30)
    assert statistics.answer(street, year).breakdowns["hours"]["total_minutes"] == 90
    refresh.refresh([Period.parse("2026")], now=NOW)
    assert statistics.answer(street, year).breakdowns["hours"]["total_minutes"] == 120
    # Other spans, periods never refreshed and organisations are computed directly, to the moment asked.
    for win in (statistics.window(date(2026, 11, 1), date(2026, 11, 25), now=NOW),
                statistics.window(date(2026, 10, 1), date(2026, 12, 31), now=NOW)):
        direct = statistics.answer(street, win)
        assert direct.source == "direct" and direct.as_of == NOW and direct.breakdowns["hours"]["total_minutes"] == 120
    organization = workbench.Scope("organization", town["district"], organization=town.org)
    assert statistics.answer(organization, year).source == "direct"


def test_the_on_demand_kpi_refresh_leaves_the_statistics_out(app_context):
    Town(NOW)
    refresh.refresh([Period.parse("2024")], now=NOW, statistics=False)
    assert db.session.query(StatValue).filter_by(period="2024").count() == 0
    refresh.refresh([Period.parse("2024")], now=NOW)
    assert db.session.query(StatValue).filter_by(period="2024").count() > 0
