"""Stars: rules inherited and overridden, thresholds, months registered, counted sources, approval levels,
publicity in working days across a holiday, objections, award, revocation, and the idempotent daily job."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import chinese_calendar
import pytest
from sqlalchemy import select

from app.errors import DomainError
from app.extensions import db
from app.services.certificates import publicity
from app.services.stars import flow, hours, jobs, rules as star_rules
from app.timeutil import SHANGHAI, to_local
from models import (ActivityKind, ActivityStatus, Notification, RecordKind, RecordSource, ServiceRecord,
                    StarApplication, StarOrigin, StarStatus)
from tests import factories as f


def record(world, minutes, *, source=RecordSource.SCAN, volunteer=None, activity=None, corrects=None):
    volunteer = volunteer or world.alice
    row = ServiceRecord(volunteer_id=volunteer.id, activity_id=(activity or world.held).id,
                        kind=RecordKind.ATTENDANCE if source is RecordSource.SCAN else RecordKind.CORRECTION,
                        source=source, minutes=minutes, created_at=world.now, reason=None,
                        corrects_record_id=corrects.id if corrects else None)
    db.session.add(row)
    db.session.flush()
    return row


@pytest.fixture
def world(world):
    world.build("tree", "org", "admin", "city_admin", "alice", "bob")
    world["street_admin"] = f.admin("sim_street_admin", world.tree["street"], world.now)
    world["held"] = world.add_activity(starts_in=-timedelta(days=30), status=ActivityStatus.FINISHED)
    world.alice.created_at = world.bob.created_at = world.now - timedelta(days=400)
    db.session.flush()
    return world


def messages(world, volunteer):
    return list(db.session.scalars(select(Notification).where(
        Notification.kind == "star_result", Notification.account_id == volunteer.account_id).order_by(Notification.id)))


# --- rules ------------------------------------------------------------------------------------------

def test_defaults_then_a_district_override_inherited_below_and_a_street_override_on_top(world):
    community = world.tree["community"]
    rules = star_rules.in_force(community)
    assert rules.thresholds_hours == [100, 300, 600, 1000, 1500] and rules.min_months == 0
    assert rules.approval_levels == ["street", "street", "district", "district", "city"]
    assert rules.publicity_days == 5 and rules.publicity_working_days is True
    assert set(rules.sources) == {s.value for s in RecordSource} and set(rules.origins.values()) == {None}

    district, street = world.tree["district"], world.tree["street"]
    star_rules.set_rules(world.admin.id, district.id, {"thresholds_hours": [100, 200, 500, 800, 1000],
                                                       "min_months": 3}, now=world.now)
    star_rules.set_rules(world.admin.id, street.id, {"min_months": 6}, now=world.now)
    rules = star_rules.in_force(community)
    assert rules.thresholds_hours == [100, 200, 500, 800, 1000] and rules.origins["thresholds_hours"] == district.id
    assert rules.min_months == 6 and rules.origins["min_months"] == street.id
    assert rules.publicity_days == 5 and rules.origins["publicity_days"] is None
    # The other district keeps the defaults; clearing the street's row brings the district's months back.
    assert star_rules.in_force(world.tree["other_community"]).thresholds_hours[1] == 300
    assert star_rules.clear_rules(world.admin.id, street.id, now=world.now)
    assert star_rules.in_force(community).min_months == 3
    assert not star_rules.clear_rules(world.admin.id, street.id, now=world.now)


@pytest.mark.parametrize("values, field", [
    ({"thresholds_hours": [100, 300, 300, 1000, 1500]}, "thresholds_hours"),
    ({"thresholds_hours": [100, 300]}, "thresholds_hours"),
    ({"sources": ["scan", "nonsense"]}, "sources"),
    ({"sources": []}, "sources"),
    ({"approval_levels": ["community", "street", "district", "district", "city"]}, "approval_levels"),
    ({"approval_levels": ["district", "street", "district", "district", "city"]}, "approval_levels"),
])
def test_bad_rules_are_refused_with_the_field(world, values, field):
    with pytest.raises(DomainError) as caught:
        star_rules.set_rules(world.admin.id, world.tree["district"].id, values, now=world.now)
    assert caught.value.code == "invalid_star_rules" and field in caught.value.fields


def test_only_admins_over_the_region_set_rules(world):
    with pytest.raises(DomainError) as caught:
        star_rules.set_rules(world.street_admin.id, world.tree["district"].id, {"min_months": 1}, now=world.now)
    assert caught.value.code == "not_admin_of_region"


# --- what counts --------------------------------------------------------------------------------------

def test_thresholds_in_hours(world):
    rules = star_rules.in_force(world.tree["community"])
    assert [hours.qualified_level(h * 60, 0, rules) for h in (0, 99, 100, 299, 300, 600, 1000, 1499, 1500, 9999)] == \
        [0, 0, 1, 1, 2, 3, 4, 4, 5, 5]
    assert hours.qualified_level(100 * 60 - 1, 0, rules) == 0


def test_months_registered_in_whole_shanghai_months(world):
    alice = world.alice
    alice.created_at = datetime(2026, 3, 14, 16, 30, tzinfo=timezone.utc)  # 2026-03-15 00:30 in Shanghai
    assert hours.months_registered(alice, datetime(2026, 11, 14, 15, 59, tzinfo=timezone.utc)) == 7  # 11-14 23:59
    assert hours.months_registered(alice, datetime(2026, 11, 14, 16, 0, tzinfo=timezone.utc)) == 8   # 11-15 00:00
    star_rules.set_rules(world.admin.id, world.tree["district"].id, {"min_months": 8}, now=world.now)
    rules = star_rules.in_force(world.tree["community"])
    assert hours.qualified_level(200 * 60, 7, rules) == 0 and hours.qualified_level(200 * 60, 8, rules) == 1


def test_counted_sources_corrections_follow_their_record_and_trainings_never_count(world):
    scanned = record(world, 80 * 60)
    record(world, -10 * 60, source=RecordSource.MANUAL, corrects=scanned)  # a correction of a scan counts as scan
    record(world, 20 * 60, source=RecordSource.IMPORT)
    record(world, 5 * 60, source=RecordSource.DECLARATION)
    training = world.add_activity(starts_in=-timedelta(days=20), status=ActivityStatus.FINISHED,
                                  kind=ActivityKind.TRAINING)
    record(world, 50 * 60, activity=training)
    assert hours.minutes_by_source([world.alice.id])[world.alice.id] == {"scan": 70 * 60, "import": 20 * 60,
                                                                         "declaration": 5 * 60}
    rules = star_rules.in_force(world.tree["community"])
    assert hours.qualifying_minutes(world.alice, rules) == 95 * 60
    star_rules.set_rules(world.admin.id, world.tree["district"].id, {"sources": ["scan", "manual"]}, now=world.now)
    assert hours.qualifying_minutes(world.alice, star_rules.in_force(world.tree["community"])) == 70 * 60


# --- the flow -----------------------------------------------------------------------------------------

def test_job_opens_once_for_the_highest_star_and_the_approving_region_follows_the_level(world):
    record(world, 650 * 60)                      # alice: 3★ (district approves)
    record(world, 120 * 60, volunteer=world.bob)  # bob: 1★ (street approves)
    assert jobs.open_qualified(now=world.now) == {"opened": 2}
    assert jobs.open_qualified(now=world.now) == {"opened": 0}
    rows = {row.volunteer_id: row for row in db.session.scalars(select(StarApplication))}
    alice, bob = rows[world.alice.id], rows[world.bob.id]
    assert (alice.level, alice.approval_region_id, alice.origin) == (3, world.tree["district"].id, StarOrigin.JOB)
    assert (bob.level, bob.approval_region_id, alice.qualifying_minutes) == (1, world.tree["street"].id, 650 * 60)
    # A street's admin cannot approve a 3★; the district's can, and the city's too (above it).
    with pytest.raises(DomainError) as caught:
        flow.review(world.street_admin.id, alice.id, approve=True, reason=None, now=world.now)
    assert caught.value.code == "not_star_approver"
    flow.review(world.street_admin.id, bob.id, approve=True, reason=None, now=world.now)
    flow.review(world.admin.id, alice.id, approve=True, reason=None, now=world.now)
    assert alice.status is StarStatus.PUBLICITY


def test_five_stars_are_the_citys(world):
    record(world, 1500 * 60)
    jobs.open_qualified(now=world.now)
    row = db.session.scalar(select(StarApplication))
    assert row.level == 5 and row.approval_region_id == world.tree["city"].id
    with pytest.raises(DomainError):
        flow.review(world.admin.id, row.id, approve=True, reason=None, now=world.now)
    flow.review(world.city_admin.id, row.id, approve=True, reason=None, now=world.now)


def test_months_short_means_no_application_until_they_are_reached(world):
    record(world, 150 * 60)
    star_rules.set_rules(world.admin.id, world.tree["district"].id, {"min_months": 24}, now=world.now)
    assert jobs.open_qualified(now=world.now) == {"opened": 0}
    assert jobs.open_qualified(now=world.now + timedelta(days=365)) == {"opened": 1}


def test_publicity_counts_working_days_across_national_day(world):
    record(world, 120 * 60)
    approved_at = datetime(2026, 9, 30, 2, 0, tzinfo=timezone.utc)  # Wednesday 10:00 before the holiday
    jobs.open_qualified(now=approved_at - timedelta(days=1))
    row = db.session.scalar(select(StarApplication))
    flow.review(world.street_admin.id, row.id, approve=True, reason=None, now=approved_at)
    # Oct 1–7 off; Oct 8, 9, 10 (make-up Saturday), 12, 13 are the five working days.
    assert publicity.through(row.publicity_ends_at) == date(2026, 10, 13)
    assert row.publicity_ends_at == datetime(2026, 10, 14, tzinfo=SHANGHAI).astimezone(timezone.utc)
    assert jobs.award_due(now=row.publicity_ends_at - timedelta(seconds=1)) == {"awarded": 0}
    assert jobs.award_due(now=row.publicity_ends_at) == {"awarded": 1}
    assert jobs.award_due(now=row.publicity_ends_at) == {"awarded": 0}
    assert flow.current_level(world.alice.id) == 1
    [message] = messages(world, world.alice)
    assert "1星级志愿者" in str(message.payload)


def test_a_year_the_calendar_does_not_know_yet_counts_monday_to_friday_and_says_so(world, caplog):
    # chinesecalendar 1.11.0 stops at 2026: the 2027 Spring Festival holidays are not known to it yet.
    try:
        chinese_calendar.is_workday(date(2027, 2, 8))
        pytest.skip("chinesecalendar knows 2027 now: the Spring Festival is counted as a holiday")
    except NotImplementedError:
        pass
    record(world, 120 * 60)
    approved_at = datetime(2027, 2, 5, 2, 0, tzinfo=timezone.utc)  # Friday
    jobs.open_qualified(now=approved_at)
    row = db.session.scalar(select(StarApplication))
    flow.review(world.street_admin.id, row.id, approve=True, reason=None, now=approved_at)
    assert publicity.through(row.publicity_ends_at) == date(2027, 2, 12)  # Mon 8 … Fri 12
    assert "no data for 2027" in caplog.text or "counting Monday to Friday" in caplog.text


def test_calendar_days_when_the_region_says_so(world):
    record(world, 120 * 60)
    star_rules.set_rules(world.admin.id, world.tree["district"].id,
                         {"publicity_days": 7, "publicity_working_days": False}, now=world.now)
    jobs.open_qualified(now=world.now)
    row = db.session.scalar(select(StarApplication))
    flow.review(world.street_admin.id, row.id, approve=True, reason=None, now=world.now)
    assert publicity.through(row.publicity_ends_at) == to_local(world.now).date() + timedelta(days=7)


def test_objections_upheld_reject_and_dismissed_let_the_award_come(world):
    record(world, 120 * 60)
    record(world, 120 * 60, volunteer=world.bob)
    jobs.open_qualified(now=world.now)
    rows = {row.volunteer_id: row for row in db.session.scalars(select(StarApplication))}
    for row in rows.values():
        flow.review(world.street_admin.id, row.id, approve=True, reason=None, now=world.now)
    upheld = flow.object_to(world.bob.account_id, rows[world.alice.id].id, reason="时长有误", now=world.now)
    dismissed = flow.object_to(world.alice.account_id, rows[world.bob.id].id, reason="不认识", now=world.now)
    end = rows[world.alice.id].publicity_ends_at
    assert jobs.award_due(now=end) == {"awarded": 0}  # both wait for their objections
    flow.decide_objection(world.street_admin.id, rows[world.alice.id].id, upheld.id, upheld=True, note="核实有误",
                          now=end)
    flow.decide_objection(world.street_admin.id, rows[world.bob.id].id, dismissed.id, upheld=False, note="不成立",
                          now=end)
    assert jobs.award_due(now=end) == {"awarded": 1}
    assert rows[world.alice.id].status is StarStatus.REJECTED and "核实有误" in rows[world.alice.id].rejection_reason
    assert flow.current_level(world.bob.id) == 1 and flow.current_level(world.alice.id) == 0
    assert [m.payload for m in messages(world, world.alice)] and messages(world, world.bob)
    with pytest.raises(DomainError) as caught:
        flow.object_to(world.bob.account_id, rows[world.bob.id].id, reason="晚了", now=end)
    assert caught.value.code == "star_not_in_publicity"


def awarded(world, level_hours=120):
    record(world, level_hours * 60)
    jobs.open_qualified(now=world.now)
    row = db.session.scalar(select(StarApplication).where(StarApplication.volunteer_id == world.alice.id))
    flow.review(world.street_admin.id, row.id, approve=True, reason=None, now=world.now)
    jobs.award_due(now=row.publicity_ends_at)
    return row


def test_a_rule_change_never_takes_an_awarded_star_away(world):
    row = awarded(world)
    star_rules.set_rules(world.city_admin.id, world.tree["city"].id,
                         {"thresholds_hours": [200, 400, 700, 1100, 1600]}, now=world.now)
    assert flow.current_level(world.alice.id) == 1 and row.rules["thresholds_hours"][0] == 100
    assert jobs.open_qualified(now=world.now + timedelta(days=10)) == {"opened": 0}


def test_revoked_with_a_reason_the_job_does_not_reopen_but_the_volunteer_may_apply(world):
    row = awarded(world)
    with pytest.raises(DomainError) as caught:  # another district's admin cannot even see it
        flow.revoke(world.other_admin.id, row.id, reason="弄虚作假", now=world.now)
    assert caught.value.code == "star_application_not_found"
    flow.revoke(world.street_admin.id, row.id, reason="弄虚作假", now=world.now)
    assert row.status is StarStatus.REVOKED and flow.current_level(world.alice.id) == 0
    assert [m.kind for m in messages(world, world.alice)] == ["star_result", "star_result"]
    assert jobs.open_qualified(now=world.now + timedelta(days=1)) == {"opened": 0}
    again, made = flow.apply(world.alice.account, 1, now=world.now + timedelta(days=1))
    assert made and again.origin is StarOrigin.VOLUNTEER and again.id != row.id


def test_volunteer_applies_once_only_when_qualified_and_above_their_star(world):
    record(world, 320 * 60)
    with pytest.raises(DomainError) as caught:
        flow.apply(world.alice.account, 3, now=world.now)
    assert caught.value.code == "star_not_qualified"
    first, made = flow.apply(world.alice.account, 2, now=world.now)
    second, made_again = flow.apply(world.alice.account, 2, now=world.now)
    assert made and not made_again and first.id == second.id
    assert jobs.open_qualified(now=world.now) == {"opened": 0}  # the open one stands
    flow.review(world.street_admin.id, first.id, approve=False, reason="材料不全", now=world.now)
    assert first.status is StarStatus.REJECTED
    with pytest.raises(DomainError) as caught:
        flow.review(world.street_admin.id, first.id, approve=True, reason=None, now=world.now)
    assert caught.value.code == "star_application_not_pending"


def test_the_database_keeps_one_open_application_per_volunteer_and_level(world):
    from sqlalchemy.exc import IntegrityError

    record(world, 120 * 60)
    row, _ = flow.apply(world.alice.account, 1, now=world.now)
    twin = StarApplication(volunteer_id=row.volunteer_id, level=1, status=StarStatus.PENDING, origin=StarOrigin.JOB,
                           approval_region_id=row.approval_region_id, qualifying_minutes=0, months_registered=0,
                           rules={}, opened_at=world.now)
    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            db.session.add(twin)
            db.session.flush()


def test_a_racing_open_answers_the_row_the_other_one_wrote(world, monkeypatch):
    record(world, 120 * 60)
    first, _ = flow.apply(world.alice.account, 1, now=world.now)
    real, looks = flow._open_for, []

    def racing(*args):  # the racer's first look finds nothing; its insert then hits the unique index
        looks.append(args)
        return None if len(looks) == 1 else real(*args)

    monkeypatch.setattr(flow, "_open_for", racing)
    again, made = flow.open_application(world.alice, 1, origin=StarOrigin.JOB, now=world.now)
    assert (again.id, made) == (first.id, False) and len(looks) == 2
    assert db.session.scalar(select(StarApplication).where(StarApplication.id != first.id)) is None


# --- reviewers are told, and what waits for each --------------------------------------------------------

def review_requests():
    return sorted((row.account_id, row.idempotency_key) for row in db.session.scalars(
        select(Notification).where(Notification.kind == "star_review_request")))


def test_an_application_opened_by_the_job_tells_the_admins_of_the_approving_level(world):
    record(world, 120 * 60)
    jobs.open_qualified(now=world.now)
    row = db.session.scalar(select(StarApplication))
    # 1★ is the street's: its admin is told, not the district's or the city's (they may review, but it is not theirs).
    assert review_requests() == [(world.street_admin.id, f"star_review_request:s{row.id}:a{world.street_admin.id}")]
    jobs.open_qualified(now=world.now + timedelta(days=1))
    assert len(review_requests()) == 1  # nothing opened, nobody told twice


def test_a_volunteers_own_application_tells_the_nearest_admins_above_when_the_level_has_none(world):
    record(world, 650 * 60)  # 3★ is approved by the district; the district's admin is told
    flow.apply(world.alice.account, 3, now=world.now)
    assert [account for account, _ in review_requests()] == [world.admin.id]
    payload = db.session.scalar(select(Notification.payload).where(Notification.kind == "star_review_request"))
    assert "3星级志愿者评定" in str(payload)
    # A street without admins: 1★ for bob goes to the nearest admins above (the district's).
    from models import Role, RoleGrant

    db.session.execute(RoleGrant.__table__.delete().where(RoleGrant.account_id == world.street_admin.id,
                                                          RoleGrant.role == Role.ADMIN))
    record(world, 120 * 60, volunteer=world.bob)
    flow.apply(world.bob.account, 1, now=world.now)
    assert [account for account, _ in review_requests()] == [world.admin.id, world.admin.id]


def test_pending_review_count_is_what_the_admin_may_approve(world):
    record(world, 120 * 60)
    record(world, 650 * 60, volunteer=world.bob)
    jobs.open_qualified(now=world.now)  # alice 1★ (street), bob 3★ (district)
    counts = lambda: {name: flow.pending_review_count(world[name].id)  # noqa: E731
                      for name in ("street_admin", "admin", "city_admin", "other_admin")}
    assert counts() == {"street_admin": 1, "admin": 2, "city_admin": 2, "other_admin": 0}
    assert flow.pending_review_count(world.alice.account_id) == 0  # not an admin
    alices = db.session.scalar(select(StarApplication).where(StarApplication.volunteer_id == world.alice.id))
    flow.review(world.street_admin.id, alices.id, approve=True, reason=None, now=world.now)
    assert counts() == {"street_admin": 0, "admin": 1, "city_admin": 1, "other_admin": 0}
