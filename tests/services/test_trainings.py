"""Quarterly trainings: quarter bounds in Shanghai, who is reminded and when, once; the compliance list."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.errors import DomainError
from app.extensions import db
from app.services import trainings
from app.services.trainings import Quarter
from models import ActivityKind, ActivityStatus, Checkin, CheckinMethod, Notification, OrganizationStatus, TeamKind
from tests import factories as f

UTC = timezone.utc
# 2026-10-01 09:00 in Shanghai, the first day of Q4.
Q4_START = datetime(2026, 10, 1, 1, 0, tzinfo=UTC)


def test_a_quarter_starts_at_shanghai_midnight_not_utc_midnight():
    assert Quarter.of(datetime(2026, 9, 30, 15, 59, tzinfo=UTC)) == Quarter(2026, 3)   # 23:59 on 30 Sep
    assert Quarter.of(datetime(2026, 9, 30, 16, 0, tzinfo=UTC)) == Quarter(2026, 4)    # 00:00 on 1 Oct
    assert Quarter.of(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == Quarter(2027, 1)   # new year in Shanghai
    assert Quarter.of(date(2027, 3, 31)) == Quarter(2027, 1)
    assert Quarter(2026, 4).bounds() == (datetime(2026, 9, 30, 16, 0, tzinfo=UTC), datetime(2026, 12, 31, 16, 0, tzinfo=UTC))
    assert Quarter(2027, 1).bounds()[0] == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert (Quarter(2026, 4).first_day, Quarter(2026, 4).last_day) == (date(2026, 10, 1), date(2026, 12, 31))
    assert Quarter(2027, 1).last_day == date(2027, 3, 31)
    assert [Quarter(2027, n).before_end_day() for n in (1, 2, 3, 4)] == [
        date(2027, 3, 4), date(2027, 6, 3), date(2027, 9, 3), date(2027, 12, 4)]
    assert Quarter(2026, 4).stage_window(trainings.BEFORE_END) == (
        datetime(2026, 12, 3, 16, 0, tzinfo=UTC), datetime(2026, 12, 31, 16, 0, tzinfo=UTC))
    assert Quarter(2027, 1).previous() == Quarter(2026, 4) and Quarter(2026, 4).next() == Quarter(2027, 1)
    assert (Quarter(2026, 4).key, Quarter(2026, 4).label) == ("2026-Q4", "2026年第4季度")


def training(org, region, starts_at, *, team=None, status=ActivityStatus.PUBLISHED, title="急救技能培训"):
    return f.activity(org, region, starts_at, starts_in=timedelta(0), team_row=team, status=status,
                      kind=ActivityKind.TRAINING, title=title)


@pytest.fixture
def world(app_context, now):
    tree = f.region_tree()
    org = f.organization("甲区志愿者协会", tree["district"], now)
    other_org = f.organization("乙区志愿者协会", tree["other_district"], now)
    pending = f.organization("待审协会", tree["district"], now, status=OrganizationStatus.PENDING)
    teams = {
        "medical": f.team(org, "医疗队", now, TeamKind.MEDICAL),
        "fire": f.team(org, "消防队", now, TeamKind.FIRE),
        "legal": f.team(org, "法律队", now, TeamKind.LEGAL),
        "education": f.team(org, "教育队", now, TeamKind.EDUCATION),     # no captain
        "general": f.team(org, "综合队", now, TeamKind.GENERAL),
        "pending": f.team(pending, "待审医疗队", now, TeamKind.MEDICAL),
        "other": f.team(other_org, "乙区环保队", now, TeamKind.ENVIRONMENT),
    }
    people = {
        "medical_captain": f.captain("sim_medical", teams["medical"], now),
        "fire_captain": f.captain("sim_fire", teams["fire"], now),
        "legal_captain": f.captain("sim_legal", teams["legal"], now),
        "general_captain": f.captain("sim_general", teams["general"], now),
        "pending_captain": f.captain("sim_pending", teams["pending"], now),
        "other_captain": f.captain("sim_other", teams["other"], now),
        "organizer": f.organizer("sim_org", org, now),
        "street_admin": f.admin("sim_street", tree["street"], now),
        "other_street_admin": f.admin("sim_other_street", tree["other_street"], now),
        "district_admin": f.admin("sim_district", tree["district"], now),
        "city_admin": f.admin("sim_city", tree["city"], now),
    }
    # Q4 2026: the fire team trains (in 一街道, so that street is covered too); the legal team's was
    # cancelled; the medical team trained in Q3 only, one minute before Q4 began in Shanghai.
    held = training(org, tree["community"], datetime(2026, 11, 10, 1, 0, tzinfo=UTC), team=teams["fire"])
    training(org, tree["community"], datetime(2026, 11, 12, 1, 0, tzinfo=UTC), team=teams["legal"],
             status=ActivityStatus.CANCELLED)
    training(org, tree["community"], datetime(2026, 9, 30, 15, 59, tzinfo=UTC), team=teams["medical"])
    training(other_org, tree["other_community"], datetime(2026, 11, 1, 1, 0, tzinfo=UTC), team=teams["other"],
             status=ActivityStatus.DRAFT)
    return {"tree": tree, "org": org, "other_org": other_org, "teams": teams, "people": people, "held": held}


def reminded(kind="training_reminder") -> list[tuple[int, str]]:
    return sorted(db.session.execute(select(Notification.account_id, Notification.idempotency_key)
                                      .where(Notification.kind == kind)).all())


def test_quarter_start_reminds_captains_of_untrained_professional_teams_and_admins_of_untrained_streets(world):
    people, teams = world["people"], world["teams"]
    written = trainings.remind(now=Q4_START, stage=trainings.QUARTER_START)
    who = {account_id for account_id, _ in reminded()}
    assert who == {people["medical_captain"].id, people["legal_captain"].id, people["organizer"].id,
                   people["other_captain"].id, people["other_street_admin"].id}
    assert written == 5
    # Not: the team that trained, the general team, the pending organisation's team, the street
    # with a training, and admins above streets.
    keys = {key for _, key in reminded()}
    assert f"training_reminder:2026-Q4:quarter_start:t{teams['education'].id}:a{people['organizer'].id}" in keys
    assert (f"training_reminder:2026-Q4:quarter_start:r{world['tree']['other_street'].id}"
            f":a{people['other_street_admin'].id}") in keys
    row = db.session.scalar(select(Notification).where(Notification.account_id == people["medical_captain"].id))
    assert "医疗队（医疗卫生队伍）" in row.payload["text"] and "12月31日" in row.payload["text"]


def test_reminders_are_written_once_however_often_the_job_runs(world):
    assert trainings.remind(now=Q4_START, stage=trainings.QUARTER_START) == 5
    assert trainings.remind(now=Q4_START + timedelta(hours=1), stage=trainings.QUARTER_START) == 0
    assert trainings.remind(now=Q4_START + timedelta(days=3), stage=trainings.QUARTER_START) == 0
    assert len(reminded()) == 5


def test_the_second_reminder_waits_for_four_weeks_before_the_end_and_skips_those_who_scheduled_meanwhile(world, now):
    day_before = datetime(2026, 12, 3, 15, 59, tzinfo=UTC)    # 23:59 on 3 Dec in Shanghai
    assert trainings.remind(now=day_before, stage=trainings.BEFORE_END) == 0
    training(world["org"], world["tree"]["community"], datetime(2026, 12, 20, 1, 0, tzinfo=UTC),
             team=world["teams"]["medical"])
    on_the_day = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)
    assert trainings.remind(now=on_the_day, stage=trainings.BEFORE_END) == 4
    assert world["people"]["medical_captain"].id not in {account_id for account_id, _ in reminded()}
    assert all(":before_end:" in key for _, key in reminded())
    assert trainings.remind(now=on_the_day + timedelta(days=1), stage=trainings.BEFORE_END) == 0
    # The first stage is over once the second one is due.
    assert trainings.remind(now=on_the_day, stage=trainings.QUARTER_START) == 0


def test_a_training_starting_just_after_shanghai_midnight_counts_for_the_new_quarter(world):
    teams = world["teams"]
    training(world["org"], world["tree"]["community"], datetime(2026, 9, 30, 16, 0, tzinfo=UTC), team=teams["legal"])
    trainings.remind(now=Q4_START, stage=trainings.QUARTER_START)
    who = {account_id for account_id, _ in reminded()}
    assert world["people"]["legal_captain"].id not in who
    assert world["people"]["medical_captain"].id in who   # its training was 23:59 on 30 Sep: Q3


def test_the_compliance_list_of_a_region_says_who_trained_with_attendance(world, now):
    tree, teams, held = world["tree"], world["teams"], world["held"]
    volunteer = f.approved_volunteer("sim_vol", tree["community"], now)
    db.session.add(Checkin(activity_id=held.id, volunteer_id=volunteer.id, checked_in_at=held.starts_at,
                           checkin_method=CheckinMethod.MANUAL))
    db.session.flush()
    report = trainings.compliance(world["people"]["district_admin"].id, year=2026, quarter=4,
                                  region_id=tree["district"].id)
    assert [(t["name"], t["trained"]) for t in report["teams"]] == [
        ("医疗队", False), ("消防队", True), ("法律队", False), ("教育队", False)]
    fire = report["teams"][1]
    assert [(t["id"], t["attended"], t["status"]) for t in fire["trainings"]] == [(held.id, 1, "published")]
    assert [(s["name"], s["trained"]) for s in report["streets"]] == [("一街道", True)]
    assert report["summary"] == {"teams": 4, "teams_trained": 1, "streets": 1, "streets_trained": 1}
    assert (report["starts_on"], report["ends_on"]) == (date(2026, 10, 1), date(2026, 12, 31))

    city = trainings.compliance(world["people"]["city_admin"].id, year=2026, quarter=4, region_id=tree["city"].id)
    assert city["summary"] == {"teams": 5, "teams_trained": 1, "streets": 2, "streets_trained": 1}
    q3 = trainings.compliance(world["people"]["city_admin"].id, year=2026, quarter=3, region_id=tree["city"].id)
    assert [t["name"] for t in q3["teams"] if t["trained"]] == ["医疗队"]

    mine = trainings.compliance(world["people"]["organizer"].id, year=2026, quarter=4,
                                organization_id=world["org"].id)
    assert [t["id"] for t in mine["teams"]] == [teams[k].id for k in ("medical", "fire", "legal", "education")]
    assert mine["streets"] == []


def refused(call) -> tuple[str, int]:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code, caught.value.status


def test_the_compliance_list_is_for_admins_of_the_region_or_above_and_the_organisations_organisers(world):
    people, tree = world["people"], world["tree"]
    ask = trainings.compliance
    assert refused(lambda: ask(people["other_street_admin"].id, year=2026, quarter=4, region_id=tree["district"].id)) \
        == ("not_admin_of_region", 403)
    assert refused(lambda: ask(people["street_admin"].id, year=2026, quarter=4, region_id=tree["district"].id)) \
        == ("not_admin_of_region", 403)
    assert refused(lambda: ask(people["organizer"].id, year=2026, quarter=4, region_id=tree["district"].id)) \
        == ("not_admin_of_region", 403)
    assert refused(lambda: ask(people["organizer"].id, year=2026, quarter=4,
                               organization_id=world["other_org"].id)) == ("not_organizer_or_admin", 403)
    assert refused(lambda: ask(people["medical_captain"].id, year=2026, quarter=4,
                               organization_id=world["org"].id)) == ("not_organizer_or_admin", 403)
    assert ask(people["district_admin"].id, year=2026, quarter=4, organization_id=world["org"].id)["summary"]["teams"] == 4
    assert refused(lambda: ask(people["city_admin"].id, year=2026, quarter=4)) == \
        ("region_or_organization_required", 422)
    assert refused(lambda: ask(people["city_admin"].id, year=2026, quarter=5, region_id=tree["city"].id)) == \
        ("invalid_quarter", 422)
    assert refused(lambda: ask(people["city_admin"].id, year=2026, quarter=4, region_id=999999)) == \
        ("region_not_found", 404)


def test_at_quarter_end_every_admin_gets_the_summary_of_their_region_once(world):
    written, summary = trainings.tell_admins(Quarter(2026, 4), now=datetime(2027, 1, 1, 0, 30, tzinfo=UTC))
    assert written == 4 and summary == {"teams": 5, "teams_trained": 1, "streets": 2, "streets_trained": 1}
    texts = {account_id: db.session.scalar(select(Notification.payload).where(
        Notification.account_id == account_id, Notification.kind == "training_compliance"))["text"]
        for account_id, _ in reminded("training_compliance")}
    district = texts[world["people"]["district_admin"].id]
    assert "专业队伍 1/4 支已培训" in district and "街道 1/1 个已培训" in district and "医疗队" in district
    assert "街道 1/1 个已培训。全部达标" in texts[world["people"]["street_admin"].id]
    assert "二街道" in texts[world["people"]["other_street_admin"].id]
    assert trainings.tell_admins(Quarter(2026, 4), now=datetime(2027, 1, 2, 0, 30, tzinfo=UTC))[0] == 0
