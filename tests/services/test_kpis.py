"""The KPI definitions on a small hand-built tree: each indicator, targets, statuses, ranking."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.errors import DomainError
from app.extensions import db
from app.services.kpi import figures, refresh, targets
from app.services.kpi.catalogue import effective_targets
from app.services.kpi.compute import compute_period
from app.services.kpi.periods import Period
from app.tasks import huey
from models import (ActivityKind, ActivityStatus, KpiValue, RecordKind, RegionPopulation, RegistrationChannel,
                    VolunteerStatus)
from tests import factories
from tests.services.kpi_builders import Town

NOV, OCT = Period.parse("2026-11"), Period.parse("2026-10")


@pytest.fixture
def town(app_context, now):
    return Town(now)


def at(text: str) -> datetime:
    """A Shanghai wall-clock time as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone(timedelta(hours=8))).astimezone(timezone.utc)


def fig(period: Period, now, region, key):
    return compute_period(period, now=now)[region.id][key]


# --- periods ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["2026-13", "2026-Q5", "26-11", "", "2026-1", "1999", "abc"])
def test_bad_periods_are_refused_with_a_stable_code(text):
    with pytest.raises(DomainError) as caught:
        Period.parse(text)
    assert (caught.value.code, caught.value.status) == ("invalid_period", 422)


def test_periods_are_shanghai_calendar_periods(now):
    assert Period.parse("2026-11").start == at("2026-11-01T00:00")
    assert Period.parse("2026-Q4").end == at("2027-01-01T00:00")
    assert [p.key for p in Period.parse("2026-02").trend(3)] == ["2025-12", "2026-01", "2026-02"]
    assert Period.parse("2026-Q1").previous().key == "2025-Q4"
    assert Period.parse("2026").same_last_year().key == "2025"
    assert Period.current("quarter", at("2026-12-31T23:30")).key == "2026-Q4"
    assert [q.key for q in Period.parse("2026").quarters_begun(now)] == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    assert Period.parse("2026-11").cap(now) == now and Period.parse("2026-10").cap(now) == at("2026-11-01T00:00")


# --- volunteer-based indicators --------------------------------------------------------------------

def test_registration_counts_registered_volunteers_at_home_over_the_years_population(town, now):
    town.volunteer("community")
    town.volunteer("community2", status=VolunteerStatus.SUSPENDED)  # a suspension does not undo a registration
    town.volunteer("community", status=VolunteerStatus.PENDING)
    town.volunteer("community", status=VolunteerStatus.REJECTED)
    town.volunteer("community", status=VolunteerStatus.DELETED)
    town.volunteer("community", days_ago=-1)  # approved after the cap: not yet registered
    db.session.add(RegionPopulation(region_id=town["street"].id, year=2025, population=40_000, updated_at=now))
    db.session.add(RegionPopulation(region_id=town["street"].id, year=2027, population=1, updated_at=now))
    db.session.flush()
    street = fig(NOV, now, town["street"], "registration_rate")
    assert (street.numerator, street.denominator) == (2, 40_000)  # the latest year ≤ 2026, not 2027's
    assert fig(NOV, now, town["community"], "registration_rate").denominator == 8_000  # regions.population
    assert fig(NOV, now, town["city"], "registration_rate").numerator == 2


def test_population_falls_back_to_the_sum_of_the_children(town, now):
    town["district"].population = None
    db.session.flush()
    assert fig(NOV, now, town["district"], "registration_rate").denominator == 50_000 + 30_000


def test_hours_and_recorded_count_at_home_by_the_activitys_start(town, now):
    alice, bob, carol = town.volunteer("community"), town.volunteer("community3"), town.volunteer("other_community")
    # Alice lives in street 1 and serves in street 2; Bob in street 2 serves in street 1: hours go home.
    town.record(alice, town.activity("community3", at=at("2026-11-05T09:00")), 120)
    town.record(bob, town.activity("community", at=at("2026-03-05T09:00")), 90)
    # Carol's record is written in November for an activity of last year: it belongs to 2025.
    town.record(carol, town.activity("other_community", at=at("2025-12-31T23:30")), 600, written=now)
    hours = fig(NOV, now, town["street"], "hours_per_volunteer")
    assert (hours.numerator, hours.denominator) == (120, 1)
    assert fig(NOV, now, town["street2"], "hours_per_volunteer").numerator == 90
    assert fig(NOV, now, town["other_street"], "recorded_rate").numerator == 0
    district = fig(NOV, now, town["district"], "recorded_rate")
    assert (district.numerator, district.denominator) == (2, 2)
    assert fig(NOV, now, town["city"], "recorded_rate").denominator == 3


def test_a_volunteer_serving_in_two_streets_is_one_recorded_volunteer_of_the_district(town, now):
    alice = town.volunteer("community")
    town.record(alice, town.activity("community", at=at("2026-10-05T09:00")), 60)
    town.record(alice, town.activity("community3", at=at("2026-10-06T09:00")), 60)
    district = fig(NOV, now, town["district"], "recorded_rate")
    assert (district.numerator, district.denominator) == (1, 1)
    assert fig(NOV, now, town["district"], "hours_per_volunteer").numerator == 120


def test_corrections_net_out_negative_nets_count_zero_and_cancelled_activities_count_nothing(town, now):
    alice, bob = town.volunteer("community"), town.volunteer("community")
    first = town.activity("community", at=at("2026-06-01T09:00"))
    town.record(alice, first, 60)
    town.record(alice, first, -90, kind=RecordKind.CORRECTION)  # taken back more than given
    town.record(bob, first, 30)
    town.record(bob, town.activity("community", at=at("2026-06-02T09:00"), status=ActivityStatus.CANCELLED), 500)
    recorded = fig(NOV, now, town["community"], "recorded_rate")
    assert (recorded.numerator, recorded.denominator) == (1, 2)
    assert fig(NOV, now, town["community"], "hours_per_volunteer").numerator == 30


def test_a_correction_to_an_old_month_changes_that_month_after_a_refresh(town, now):
    alice = town.volunteer("community", days_ago=300)  # registered before March
    record = town.record(alice, town.activity("community", at=at("2026-03-10T09:00")), 60)
    refresh.refresh([Period.parse("2026-03")], now=now)
    town.record(alice, record.activity, 30, kind=RecordKind.CORRECTION, written=now + timedelta(minutes=1))
    refresh.refresh([Period.parse("2026-03")], now=now + timedelta(minutes=2))
    row = db.session.query(KpiValue).populate_existing().filter_by(
        region_id=town["community"].id, period="2026-03", key="hours_per_volunteer").one()
    assert row.numerator == 90


def test_deleted_volunteers_leave_every_volunteer_figure_but_stay_in_the_organisations_hours(town, now):
    from app.services.kpi.organizations import organization_figures

    alice = town.volunteer("community")
    town.record(alice, town.activity("community", at=at("2026-11-02T09:00")), 60)
    alice.status = VolunteerStatus.DELETED
    db.session.flush()
    assert fig(NOV, now, town["community"], "hours_per_volunteer").denominator == 0
    assert fig(NOV, now, town["community"], "recorded_rate").numerator == 0
    assert organization_figures(town.org, NOV, now=now)["minutes"] == 60


def test_a_moved_volunteer_counts_with_all_their_hours_at_the_new_home(town, now):
    alice = town.volunteer("community")
    town.record(alice, town.activity("community", at=at("2026-02-02T09:00")), 60)
    alice.region_id = town["other_community"].id
    db.session.flush()
    assert fig(NOV, now, town["street"], "registration_rate").numerator == 0
    assert fig(NOV, now, town["other_street"], "hours_per_volunteer").numerator == 60
    assert fig(NOV, now, town["city"], "registration_rate").numerator == 1


def test_self_registration_rate(town, now):
    town.volunteer("community")
    town.volunteer("community", registration_channel=RegistrationChannel.ORGANIZER)
    town.volunteer("community3", registration_channel=RegistrationChannel.IMPORT)
    district = fig(NOV, now, town["district"], "self_registration_rate")
    assert (district.numerator, district.denominator) == (1, 3)


# --- activity-based indicators ---------------------------------------------------------------------

def test_station_activity_needs_two_held_activities_a_month_in_each_open_community(town, now):
    for day in (2, 9):
        town.activity("community", at=at(f"2026-11-{day:02d}T09:00"))
    town.activity("community2", at=at("2026-11-02T09:00"))
    town.activity("community2", at=at("2026-11-03T09:00"), status=ActivityStatus.WITHDRAWN)
    town.activity("community2", at=at("2026-11-30T09:00"))  # after the cap: not held yet
    town.activity("street", at=at("2026-11-04T09:00"))  # at the street: no station's
    town["other_community"].retired_at = now
    db.session.flush()
    street = fig(NOV, now, town["street"], "station_activity")
    assert (street.numerator, street.denominator) == (1, 2)
    assert fig(NOV, now, town["city"], "station_activity").denominator == 3  # the retired one is no station
    quarter = fig(Period.parse("2026-Q4"), now, town["street"], "station_activity")
    assert quarter.numerator == 0  # a quarter needs six
    assert fig(NOV, now, town["community"], "station_activity").value == 100


def test_care_themes_count_held_activities_per_theme_up_the_tree(town, now):
    for region in ("community", "community3"):
        town.activity(region, at=at("2026-04-01T09:00"), themes=["空巢老人", "文明交通"])
    town.activity("community", at=at("2026-05-01T09:00"), themes=["留守儿童"])
    street = fig(NOV, now, town["street"], "care_themes")
    assert street.numerator == 1 and street.details["themes"]["空巢老人"] == 1  # only 文明交通 reaches 1
    district = fig(NOV, now, town["district"], "care_themes")
    assert district.details["themes"]["空巢老人"] == 2
    assert (district.numerator, district.denominator) == (2, 8)


def test_team_kinds_and_festivals_are_unions_up_the_tree_never_sums(town, now):
    spring = town.campaign("spring_festival")
    town.activity("community", at=at("2026-02-01T09:00"), team=town.medical, campaign=spring)
    town.activity("community3", at=at("2026-02-02T09:00"), team=town.medical, campaign=spring)
    town.activity("community3", at=at("2026-03-02T09:00"), team=town.legal)
    town.activity("community", at=at("2026-03-03T09:00"), team=town.legal, status=ActivityStatus.DRAFT)
    assert fig(NOV, now, town["street"], "professional_team_kinds").details["kinds"] == ["medical"]
    district = compute_period(NOV, now=now)[town["district"].id]
    assert district["professional_team_kinds"].numerator == 2
    assert district["festival_campaigns"].numerator == 1
    assert district["festival_campaigns"].details["festivals"] == ["spring_festival"]


def test_quarterly_training_needs_a_training_in_every_quarter_begun(town, now):
    for quarter_start in ("2026-01-10", "2026-04-10", "2026-07-10", "2026-10-10"):
        town.activity("community", at=at(f"{quarter_start}T09:00"), team=town.medical, kind=ActivityKind.TRAINING)
    town.activity("community3", at=at("2026-10-11T09:00"), team=town.legal, kind=ActivityKind.TRAINING)
    year = compute_period(Period.parse("2026"), now=now)
    # Units in the district: two teams (the organisation is in the district) and two streets.
    assert (year[town["district"].id]["quarterly_training"].numerator,
            year[town["district"].id]["quarterly_training"].denominator) == (2, 4)  # medical team, street 1
    q4 = compute_period(Period.parse("2026-10"), now=now)[town["district"].id]["quarterly_training"]
    assert (q4.numerator, q4.denominator) == (4, 4)
    assert q4.details["quarters"] == ["2026-Q4"]


# --- targets, statuses, ranking --------------------------------------------------------------------

def test_targets_are_inherited_from_the_nearest_override(town, now):
    admin = factories.admin("kpi_admin", town["city"], now)
    targets.set_target(admin.id, town["city"].id, "registration_rate", target=15, yellow_band=2, now=now)
    targets.set_target(admin.id, town["street"].id, "registration_rate", target=10, yellow_band=1, now=now)
    assert effective_targets(town["community"])["registration_rate"].target == 10
    assert effective_targets(town["community"])["registration_rate"].source_region_id == town["street"].id
    assert effective_targets(town["other_community"])["registration_rate"].target == 15
    assert effective_targets(town["other_community"])["recorded_rate"].source_region_id is None
    targets.clear_target(admin.id, town["street"].id, "registration_rate", now=now)
    assert effective_targets(town["community"])["registration_rate"].target == 15


def test_hours_target_is_prorated_by_the_elapsed_share_of_the_year(town, now):
    march = figures.figures_for(town["community"], Period.parse("2026-03"), now=now, trend=0)
    hours = next(f for f in march if f["key"] == "hours_per_volunteer")
    assert hours["target"] == round(25 * 90 / 365, 2)
    assert hours["yellow_band"] == round(25 * 90 / 365 * 0.2, 2)


@pytest.mark.parametrize("value, status", [(13.0, "green"), (10.0, "yellow"), (9.99, "red"), (None, "none")])
def test_status_from_target_and_band(value, status):
    assert figures.status_of(value, 13, 3) == status


def test_indicators_that_do_not_apply_to_a_level_have_no_status(town, now):
    items = {f["key"]: f for f in figures.figures_for(town["community"], NOV, now=now, trend=0)}
    assert items["care_themes"]["status"] == "none" and items["care_themes"]["value"] is None


def test_children_are_ranked_and_the_bottom_three_flagged(app_context, now):
    from app.services import regions
    from models import RegionLevel

    town = Town(now)
    for index in range(3):  # the street gets five communities
        regions.add_region(f"KX{index}", f"新社区{index}", RegionLevel.COMMUNITY, town["street"], 1000)
    for n in range(5):
        town.volunteer("community")
    town.volunteer("community2")
    ranked = figures.children_ranked(town["street"], NOV, now=now)
    assert [row["rank"] for row in ranked] == [1, 2, 3, 4, 5]
    assert ranked[0]["region"]["id"] == town["community"].id
    assert [row["bottom_three"] for row in ranked] == [False, False, True, True, True]
    assert ranked[0]["score"] >= ranked[1]["score"] >= ranked[4]["score"]


def test_figures_for_computes_the_asked_period_on_first_read_and_backfills_the_trend_in_the_background(town, now):
    town.volunteer("community")
    items = figures.figures_for(town["community"], NOV, now=now)
    trend = items[0]["trend"]
    assert len(trend) == 12 and trend[-1]["period"] == "2026-11" and trend[-1]["value"] is not None
    # Older points were never refreshed: no value yet, and one background refresh is on its way.
    assert trend[0] == {"period": "2025-12", "value": None, "status": "none"}
    assert db.session.query(KpiValue).filter_by(period="2025-12").count() == 0
    assert len(huey.pending()) == 1
    figures.figures_for(town["community"], NOV, now=now)
    assert len(huey.pending()) == 1  # a second read does not enqueue the same backfill again
    db.session.commit()
    huey.execute(huey.dequeue())
    db.session.rollback()
    again = figures.figures_for(town["community"], NOV, now=now)
    assert again[0]["trend"][0]["value"] is not None


def test_an_older_snapshot_never_overwrites_a_newer_one(town, now):
    town.volunteer("community")
    refresh.refresh([NOV], now=now)
    town.volunteer("community")
    refresh.refresh([NOV], now=now - timedelta(minutes=5))  # a slow refresh that started earlier
    row = db.session.query(KpiValue).populate_existing().filter_by(
        region_id=town["community"].id, period="2026-11", key="registration_rate").one()
    assert row.numerator == 1 and row.computed_at == now
