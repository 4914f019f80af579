"""Statistics breakdowns: who counts (registered, at home), which month (the activity's start in Shanghai), scopes."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from app.errors import DomainError, Forbidden
from app.extensions import db
from app.services import statistics
from models import (ActivityKind, ActivityStatus, Gender, OrganizationStatus, ServiceRecord, TeamKind, TeamMembership,
                    VolunteerStatus)
from models.service_records import RecordKind
from models.teams import MembershipStatus
from tests import factories as f

UTC = timezone.utc
SHANGHAI_OFFSET = timedelta(hours=8)
# The world is built at `now`; the statistics are read an hour later (a registration counts before the cap).
LATER = timedelta(hours=1)


def shanghai(*parts: int) -> datetime:
    """A Shanghai wall-clock time, as aware UTC."""
    return datetime(*parts, tzinfo=UTC) - SHANGHAI_OFFSET


def person(world, name, region, *, status=VolunteerStatus.APPROVED, **fields):
    return f.volunteer(f.account(f"sim_{name}", world.now), region, world.now, real_name=name, status=status, **fields)


def held(world, starts_at, *, org=None, region=None, kind=ActivityKind.SERVICE, themes=(), status=ActivityStatus.FINISHED):
    org = org or world.org
    return f.activity(org, region or world.tree["community"], starts_at, starts_in=timedelta(0), kind=kind,
                      themes=list(themes), status=status)


def record(volunteer, activity, minutes, created_at, kind=RecordKind.ATTENDANCE):
    db.session.add(ServiceRecord(volunteer_id=volunteer.id, activity_id=activity.id, kind=kind, minutes=minutes,
                                 created_at=created_at))


def member(team, volunteer, now, status=MembershipStatus.ACTIVE):
    db.session.add(TeamMembership(team_id=team.id, volunteer_id=volunteer.id, status=status, created_at=now))


@pytest.fixture
def world(world):
    now, tree = world.now, world.tree
    world.build("org", "other_org", "team", "other_team", "organizer", "admin", "city_admin", "captain")
    world["street_admin"] = f.admin("sim_street_admin", tree["street"], now)
    # Residents: a, b, c (suspended) count; d (deleted) and e (pending) do not; f lives in the other district;
    # g lives at the street node itself; h turns 18 on the reference day (2026-11-23).
    world["a"] = person(world, "甲", tree["community"], gender=Gender.MALE, birth_date=date(1990, 1, 1),
                        categories=["party_member", "youth"])
    world["b"] = person(world, "乙", tree["community2"], gender=Gender.FEMALE, birth_date=date(2010, 6, 1),
                        categories=["student"])
    world["c"] = person(world, "丙", tree["community"], status=VolunteerStatus.SUSPENDED, gender=Gender.FEMALE,
                        birth_date=date(1960, 1, 1), categories=["retiree"])
    world["d"] = person(world, "丁", tree["community"], status=VolunteerStatus.DELETED, gender=Gender.MALE,
                        categories=["youth"])
    world["e"] = person(world, "戊", tree["community"], status=VolunteerStatus.PENDING, gender=Gender.MALE)
    world["f"] = person(world, "己", tree["other_community"], gender=Gender.MALE, birth_date=date(1980, 5, 5))
    world["g"] = person(world, "庚", tree["street"], gender=None, birth_date=None, categories=[])
    world["h"] = person(world, "辛", tree["community2"], gender=Gender.MALE, birth_date=date(2008, 11, 23))
    medical = f.team(world.org, "医疗专业队", now, kind=TeamKind.MEDICAL)
    pending_org = f.organization("筹备中的协会", tree["street"], now, status=OrganizationStatus.PENDING)
    f.team(pending_org, "筹备队", now, kind=TeamKind.LEGAL)
    member(medical, world.a, now)
    member(world.team, world.a, now)
    member(medical, world.b, now)
    member(medical, world.c, now, MembershipStatus.REMOVED)
    member(medical, world.d, now)
    member(world.other_team, world.f, now)
    # Activities of 甲区's organisation in 一社区, by Shanghai start.
    world["new_year"] = held(world, shanghai(2026, 1, 1, 0, 10))              # 16:10 UTC on 31 Dec: January
    world["last_year"] = held(world, shanghai(2025, 12, 31, 23, 0), themes=["党员"])
    world["march"] = held(world, shanghai(2026, 3, 10, 10, 0), themes=["空巢老人", "党员"])
    world["march_training"] = held(world, shanghai(2026, 3, 31, 23, 30), kind=ActivityKind.TRAINING)
    world["april"] = held(world, shanghai(2026, 4, 1, 0, 30), themes=["文明交通"])  # 16:30 UTC on 31 March
    held(world, shanghai(2026, 2, 1, 9, 0), status=ActivityStatus.CANCELLED, themes=["党员"])
    held(world, shanghai(2026, 2, 2, 9, 0), status=ActivityStatus.DRAFT)
    held(world, now + timedelta(days=10), status=ActivityStatus.PUBLISHED)    # after the cap
    world["elsewhere"] = held(world, shanghai(2026, 5, 6, 9, 0), org=world.other_org,
                              region=tree["other_community"], themes=["党员"])
    record(world.a, world["march"], 120, world["march"].ends_at)
    record(world.a, world["march"], -30, shanghai(2026, 6, 1, 9, 0), kind=RecordKind.CORRECTION)  # still March
    record(world.b, world["april"], 60, world["april"].ends_at)
    record(world.f, world["march"], 90, world["march"].ends_at)     # served in 甲区, lives in 乙区
    record(world.a, world["elsewhere"], 45, world["elsewhere"].ends_at)  # served in 乙区, lives in 甲区
    record(world.d, world["march"], 100, world["march"].ends_at)    # deleted since: the organisation keeps it
    record(world.a, world["last_year"], 500, world["last_year"].ends_at)
    db.session.flush()
    return world


def counts(lines, key="key"):
    return {line[key]: line["count"] for line in lines}


def region_scope(world, who, region):
    return statistics.scope(world[who], organization_id=None, region_id=world.tree[region].id)


def this_year(world):
    return statistics.window(None, None, now=world.now + LATER)


def test_the_default_window_is_the_current_year_in_shanghai_to_date(world):
    win = statistics.window(None, None, now=world.now)
    assert (win.first, win.last) == (date(2026, 1, 1), date(2026, 12, 31))
    assert win.start == datetime(2025, 12, 31, 16, 0, tzinfo=UTC) and win.cap == world.now
    assert [key for key, _ in win.months()] == [f"2026-{m:02d}" for m in range(1, 13)]
    assert win.reference_day == date(2026, 11, 23)
    past = statistics.window(date(2025, 3, 1), date(2025, 3, 31), now=world.now)
    assert past.cap == past.end == datetime(2025, 3, 31, 16, 0, tzinfo=UTC) and past.reference_day == date(2025, 3, 31)


@pytest.mark.parametrize("first, last, code", [
    (date(2026, 5, 1), date(2026, 4, 30), "invalid_date_range"),
    (date(2024, 1, 1), date(2027, 1, 1), "date_range_too_long"),
])
def test_a_bad_window_is_refused(world, first, last, code):
    with pytest.raises(DomainError) as refused:
        statistics.window(first, last, now=world.now)
    assert refused.value.code == code and refused.value.status == 422
    assert statistics.window(date(2024, 1, 1), date(2026, 12, 31), now=world.now).months()[-1][0] == "2026-12"


def test_volunteers_of_a_street_count_registered_residents_only(world):
    found = statistics.volunteers(region_scope(world, "street_admin", "street"), this_year(world))
    assert found["total"] == 5  # a, b, c (suspended), g, h; not d (deleted), e (pending), f (other district)
    assert counts(found["by_gender"]) == {"male": 2, "female": 2, "unknown": 1}
    assert counts(found["by_age_band"]) == {"under_18": 1, "18_35": 1, "36_45": 1, "46_60": 0, "over_60": 1,
                                            "unknown": 1}
    assert counts(found["by_category"])["youth"] == 1 and counts(found["by_category"])["party_member"] == 1
    assert counts(found["by_category"])["retiree"] == 1 and counts(found["by_category"])["student"] == 1
    assert sum(counts(found["by_category"]).values()) == 4 + 1  # the default category of h
    assert [(line["label"], line["count"]) for line in found["by_region"]] == [
        ("一社区", 2), ("二社区", 2), ("一街道（本级）", 1)]
    kinds = counts(found["by_team_kind"])
    assert kinds["medical"] == 2 and kinds["general"] == 1 and sum(kinds.values()) == 3  # not c (removed), not d


def test_the_child_regions_of_a_city_and_a_window_before_anyone_registered(world):
    city = statistics.volunteers(region_scope(world, "city_admin", "city"), this_year(world))
    assert city["total"] == 6
    assert [(line["label"], line["count"]) for line in city["by_region"]] == [("甲区", 5), ("乙区", 1)]
    assert counts(city["by_team_kind"])["general"] == 2  # a in 甲区's team, f in 乙区's
    before = statistics.volunteers(region_scope(world, "city_admin", "city"),
                                   statistics.window(date(2025, 1, 1), date(2025, 12, 31), now=world.now))
    assert before["total"] == 0 and all(line["count"] == 0 for line in before["by_region"])


def test_an_organisation_counts_its_team_members_wherever_they_live(world):
    where = statistics.scope(world.organizer, organization_id=world.org.id, region_id=None)
    found = statistics.volunteers(where, this_year(world))
    assert found["total"] == 2  # a and b; c was removed, d deleted
    assert [(line["label"], line["count"]) for line in found["by_region"]] == [("一街道", 2)]
    assert counts(found["by_team_kind"]) == {**{k.value: 0 for k in TeamKind}, "medical": 2, "general": 1}


def test_activities_by_theme_kind_and_shanghai_month(world):
    found = statistics.activities(region_scope(world, "street_admin", "street"), this_year(world))
    assert found["total"] == 4  # new_year, march, march_training, april
    assert counts(found["by_kind"]) == {"service": 3, "training": 1}
    themes = counts(found["by_theme"])
    assert (themes["空巢老人"], themes["党员"], themes["文明交通"], themes["留守儿童"]) == (1, 1, 1, 0)
    months = {line["month"]: (line["service"], line["training"]) for line in found["by_month"]}
    assert months["2026-01"] == (1, 0) and months["2026-03"] == (1, 1) and months["2026-04"] == (1, 0)
    assert months["2026-02"] == (0, 0) and months["2026-12"] == (0, 0) and len(months) == 12
    city = statistics.activities(region_scope(world, "city_admin", "city"), this_year(world))
    assert city["total"] == 5 and counts(city["by_theme"])["党员"] == 2
    march = statistics.activities(region_scope(world, "street_admin", "street"),
                                  statistics.window(date(2026, 3, 1), date(2026, 3, 31), now=world.now))
    assert march["total"] == 2 and march["by_month"] == [{"month": "2026-03", "service": 1, "training": 1, "total": 2}]


def test_hours_count_where_the_volunteer_lives(world):
    found = statistics.hours(region_scope(world, "street_admin", "street"), this_year(world))
    # a: 120 - 30 in March (the correction goes to its activity's month) and 45 in 乙区 in May; b: 60 in April.
    # Not f (lives in 乙区), not d (deleted), not last year's 500.
    months = {line["month"]: line["minutes"] for line in found["by_month"]}
    assert (months["2026-03"], months["2026-04"], months["2026-05"]) == (90, 60, 45)
    assert found["total_minutes"] == 195 and found["total_hours"] == 3.2
    assert [(line["label"], line["minutes"]) for line in found["by_organization"]] == [
        ("甲区志愿者协会", 150), ("乙区志愿者协会", 45)]
    other = statistics.hours(region_scope(world, "city_admin", "other_district"), this_year(world))
    assert other["total_minutes"] == 90 and other["by_organization"][0]["label"] == "甲区志愿者协会"


def test_an_organisations_hours_are_its_activities_records(world):
    where = statistics.scope(world.organizer, organization_id=world.org.id, region_id=None)
    found = statistics.hours(where, this_year(world))
    assert found["total_minutes"] == 90 + 90 + 100 + 60  # the deleted volunteer's record stays
    assert [(line["label"], line["minutes"]) for line in found["by_organization"]] == [("甲区志愿者协会", 340)]


def test_organisations_beyond_the_top_are_folded_into_others(world, monkeypatch):
    monkeypatch.setattr(statistics, "TOP_ORGANIZATIONS", 1)
    found = statistics.hours(region_scope(world, "street_admin", "street"), this_year(world))
    assert [(line["organization_id"], line["label"], line["minutes"]) for line in found["by_organization"]] == [
        (world.org.id, "甲区志愿者协会", 150), (None, "其他", 45)]


def test_teams_by_kind(world):
    district = statistics.teams(region_scope(world, "admin", "district"), this_year(world))
    assert district["total"] == 2 and counts(district["by_kind"])["medical"] == 1  # not the pending organisation's
    city = statistics.teams(region_scope(world, "city_admin", "city"), this_year(world))
    assert city["total"] == 3 and counts(city["by_kind"])["legal"] == 0
    street = statistics.teams(region_scope(world, "street_admin", "street"), this_year(world))
    assert street["total"] == 0
    mine = statistics.teams(statistics.scope(world.organizer, organization_id=world.org.id, region_id=None),
                            this_year(world))
    assert mine["total"] == 2


def test_a_street_admin_reads_no_other_street_and_a_captain_reads_no_statistics(world):
    with pytest.raises(Forbidden) as refused:
        region_scope(world, "street_admin", "other_street")
    assert refused.value.code == "not_admin_of_region"
    with pytest.raises(Forbidden):
        region_scope(world, "street_admin", "district")
    with pytest.raises(Forbidden) as captain:
        statistics.scope(world.captain, organization_id=world.org.id, region_id=None)
    assert captain.value.code == "not_organizer_or_admin"


def test_the_report_holds_every_breakdown(world):
    found = statistics.report(region_scope(world, "street_admin", "street"), this_year(world))
    assert set(found) == {"volunteers", "activities", "hours", "teams"}
