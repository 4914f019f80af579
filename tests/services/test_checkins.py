"""Captain scans: check-in, check-out, the service record, and every reason a scan is refused."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import checkin_codes
from app.errors import DomainError
from app.extensions import db
from app.services import checkin_displays, checkins, official_qr, signups
from app.timeutil import to_local
from models import ActivityStatus, Checkin, CheckinScan, ServiceRecord, SignupMode, Volunteer
from tests import factories as f

RULES = checkins.Rules(opens_minutes_before_start=60, checkout_grace_minutes=120, min_minutes_before_checkout=5)


@pytest.fixture
def world(app_context, now):
    world = f.World(now, other_org="乙区协会").build("tree", "org", "team")
    world["activity"] = world.add_activity(starts_in=timedelta(hours=1), duration=timedelta(hours=3),
                                           credit_margin_minutes=30)
    world["alice"] = f.approved_volunteer("sim_alice", world.tree["community"], now, real_name="李爱丽")
    signups.apply(world.volunteer.account, world.activity.id, join_waitlist=False, now=now)
    checkin_displays.personal_code(world.volunteer.account, now=now)
    return world.build("other_org", "captain", "organizer", "other_team", "other_captain")


def code_at(volunteer: Volunteer, at) -> str:
    return checkin_codes.personal_code(volunteer.id, volunteer.checkin_secret, at)


def scan(world, at, *, nonce=None, who="captain", code=None, volunteer=None):
    volunteer = volunteer or world["volunteer"]
    return checkins.captain_scan(world[who].id, world["activity"].id, code=code or code_at(volunteer, at),
                                 nonce=nonce or f"n-{at.timestamp()}-{volunteer.id}", rules=RULES, now=at)


def refused(call) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


def test_first_scan_checks_in_a_later_one_checks_out_and_writes_one_record(world, now):
    start = world["activity"].starts_at
    checked_in = scan(world, start - timedelta(minutes=45))
    assert checked_in.result == "checked_in" and checked_in.volunteer["name"] == "李*丽"
    assert checked_in.minutes == 0  # 45 minutes early: only the last 30 before the start count
    checked_out = scan(world, start + timedelta(hours=3, minutes=40))
    assert checked_out.result == "checked_out"
    assert checked_out.minutes == 30 + 180 + 30  # margins on both sides, nothing beyond them
    [record] = db.session.scalars(select(ServiceRecord)).all()
    assert record.minutes == 240 and record.volunteer_id == world["volunteer"].id
    db.session.refresh(world["volunteer"])
    assert (world["volunteer"].total_service_minutes, world["volunteer"].service_record_count) == (240, 1)


def test_minutes_are_whole_minutes_of_the_overlap(world, now):
    start = world["activity"].starts_at
    scan(world, start + timedelta(minutes=10, seconds=20))
    answer = scan(world, start + timedelta(minutes=70, seconds=10))
    assert answer.minutes == 59


def test_a_repeated_nonce_gets_the_first_answer_and_changes_nothing(world, now):
    at = world["activity"].starts_at
    first = scan(world, at, nonce="same-nonce-1")
    again = checkins.captain_scan(world["captain"].id, world["activity"].id, code="anything at all",
                                  nonce="same-nonce-1", rules=RULES, now=at + timedelta(minutes=30))
    assert again == dataclasses.replace(first, replayed=True)
    assert db.session.scalar(select(func.count()).select_from(Checkin)) == 1
    assert db.session.scalar(select(func.count()).select_from(CheckinScan)) == 1


def test_the_same_code_scanned_again_is_already_checked_in(world, now):
    at = world["activity"].starts_at
    scan(world, at)
    with pytest.raises(DomainError) as caught:
        scan(world, at + timedelta(seconds=10), nonce="second-nonce")
    assert caught.value.code == "already_checked_in"
    assert caught.value.context["volunteer"]["name"] == "李*丽" and caught.value.context["checked_in_at"]


def test_a_fresh_code_right_after_check_in_is_too_soon_to_check_out(world, now):
    at = world["activity"].starts_at
    scan(world, at)
    assert refused(lambda: scan(world, at + timedelta(minutes=2))) == "too_soon_to_check_out"
    assert db.session.scalar(select(Checkin.checked_out_at)) is None


def test_after_check_out_another_scan_is_already_checked_out(world, now):
    at = world["activity"].starts_at
    scan(world, at)
    scan(world, at + timedelta(hours=1))
    assert refused(lambda: scan(world, at + timedelta(hours=2))) == "already_checked_out"
    assert db.session.scalar(select(func.count()).select_from(ServiceRecord)) == 1


def test_codes_older_than_the_previous_step_are_expired(world, now):
    at = world["activity"].starts_at
    old_code = code_at(world["volunteer"], at - timedelta(seconds=75))
    assert refused(lambda: scan(world, at, code=old_code)) == "expired_code"
    previous_step_code = code_at(world["volunteer"], at - timedelta(seconds=30))
    # A refused scan is rolled back by the request's unit of work; here a new nonce stands for that.
    assert scan(world, at, code=previous_step_code, nonce="after-refusal").result == "checked_in"


@pytest.mark.parametrize("code", ["", "V1-123", "hello", "V999999-12345678"])
def test_unreadable_or_unknown_codes_are_invalid(world, now, code):
    assert refused(lambda: scan(world, world["activity"].starts_at, code=code or " ")) == "invalid_code"


@pytest.mark.parametrize("code", ["hello", "V999999-12345678"])
def test_a_stranger_learns_nothing_about_a_code_only_that_the_activity_is_not_theirs(world, now, code):
    assert refused(lambda: scan(world, world["activity"].starts_at, who="other_captain", code=code)) == "not_activity_manager"


def test_a_replayed_nonce_answers_first_even_for_an_unreadable_code(world, now):
    first = scan(world, world["activity"].starts_at, nonce="replay-unreadable")
    again = scan(world, world["activity"].starts_at, nonce="replay-unreadable", code="unreadable")
    assert again == dataclasses.replace(first, replayed=True)


def test_a_code_made_with_an_old_secret_is_invalid_after_rotation(world, now):
    at = world["activity"].starts_at
    old = code_at(world["volunteer"], at)
    checkin_displays.personal_code(world["volunteer"].account, now=at, rotate=True)
    assert refused(lambda: scan(world, at, code=old)) == "invalid_code"


def test_not_signed_up_and_signup_not_approved(world, now):
    stranger = f.approved_volunteer("sim_bob", world["tree"]["community"], now)
    checkin_displays.personal_code(stranger.account, now=now)
    at = world["activity"].starts_at
    assert refused(lambda: scan(world, at, volunteer=stranger)) == "not_signed_up"
    world["activity"].signup_mode = SignupMode.APPROVAL
    pending = f.approved_volunteer("sim_carol", world["tree"]["community"], now)
    signups.apply(pending.account, world["activity"].id, join_waitlist=False, now=now)
    checkin_displays.personal_code(pending.account, now=now)
    assert refused(lambda: scan(world, at, volunteer=pending)) == "signup_not_approved"


def test_cancelled_sign_ups_are_not_signed_up(world, now):
    signups.cancel(world["volunteer"].account, world["activity"].id, now=now)
    assert refused(lambda: scan(world, world["activity"].starts_at)) == "not_signed_up"


def test_outside_the_check_in_window(world, now):
    start, end = world["activity"].starts_at, world["activity"].ends_at
    assert refused(lambda: scan(world, start - timedelta(minutes=61))) == "outside_checkin_window"
    assert refused(lambda: scan(world, end + timedelta(minutes=1))) == "outside_checkin_window"
    scan(world, end - timedelta(minutes=10))
    assert refused(lambda: scan(world, end + timedelta(minutes=121))) == "outside_checkin_window"


def test_a_cancelled_activity_refuses_scans(world, now):
    world["activity"].status = ActivityStatus.CANCELLED
    assert refused(lambda: scan(world, world["activity"].starts_at)) == "activity_cancelled"


@pytest.mark.parametrize("who, allowed", [("captain", True), ("organizer", True), ("other_captain", False)])
def test_only_the_team_captain_or_the_organiser_scans(world, now, who, allowed):
    at = world["activity"].starts_at
    if allowed:
        assert scan(world, at, who=who).result == "checked_in"
    else:
        assert refused(lambda: scan(world, at, who=who)) == "not_activity_manager"
        assert db.session.scalar(select(func.count()).select_from(CheckinScan)) == 0


def test_offline_scan_time_counts_but_never_from_the_future(world, now):
    start = world["activity"].starts_at
    answer = checkins.captain_scan(world["captain"].id, world["activity"].id, code=code_at(world["volunteer"], start),
                                   nonce="offline-1", scanned_at=start, rules=RULES, now=start + timedelta(seconds=20))
    assert answer.checked_in_at == start.isoformat()
    later = start + timedelta(hours=1)
    ahead = later + timedelta(minutes=5)
    assert refused(lambda: checkins.captain_scan(
        world["captain"].id, world["activity"].id, code=code_at(world["volunteer"], ahead), nonce="offline-2",
        scanned_at=ahead, rules=RULES, now=later)) == "clock_ahead"
    assert db.session.scalar(select(Checkin.checked_out_at)) is None
    assert db.session.scalar(select(func.count()).select_from(CheckinScan)) == 1
    within = later + timedelta(seconds=50)  # up to a minute ahead is a phone's ordinary drift
    answer = checkins.captain_scan(world["captain"].id, world["activity"].id, code=code_at(world["volunteer"], within),
                                   nonce="offline-3", scanned_at=within, rules=RULES, now=later)
    assert answer.checked_out_at == within.isoformat()


def test_a_manual_check_out_before_the_check_in_has_its_own_code(world, now):
    start = world["activity"].starts_at
    checkins.manual_entry(world["captain"].id, world["activity"].id, volunteer_id=world["volunteer"].id,
                          reason="老人无智能手机", nonce="manual-in-9", rules=RULES, now=start)
    earlier = start - timedelta(minutes=20)
    assert refused(lambda: checkins.manual_entry(
        world["captain"].id, world["activity"].id, volunteer_id=world["volunteer"].id, reason="补录签退",
        nonce="manual-out-9", rules=RULES, now=start + timedelta(hours=1), at=earlier)) == "checkout_before_checkin"
    assert db.session.scalar(select(Checkin.checked_out_at)) is None
    assert db.session.scalar(select(func.count()).select_from(ServiceRecord)) == 0
    future = start + timedelta(hours=2)
    assert refused(lambda: checkins.manual_entry(
        world["captain"].id, world["activity"].id, volunteer_id=world["volunteer"].id, reason="补录签退",
        nonce="manual-out-10", rules=RULES, now=start + timedelta(hours=1), at=future)) == "clock_ahead"


def test_an_offline_batch_tells_the_captain_why_a_scan_from_the_future_is_refused(world, now):
    start = world["activity"].starts_at
    ahead = start + timedelta(minutes=10)
    results = checkins.captain_scan_batch(world["captain"].id, world["activity"].id, [
        {"code": code_at(world["volunteer"], ahead), "nonce": "b-ahead", "scanned_at": ahead}], rules=RULES, now=start)
    assert results[0]["ok"] is False and results[0]["code"] == "clock_ahead"
    assert "校准手机时间" in results[0]["message"]
    assert db.session.scalar(select(func.count()).select_from(Checkin)) == 0


def test_personal_code_is_made_once_and_rotates_on_request(world, now):
    account = world["volunteer"].account
    first = checkin_displays.personal_code(account, now=now)
    again = checkin_displays.personal_code(account, now=now)
    rotated = checkin_displays.personal_code(account, now=now, rotate=True)
    assert first["secret"] == again["secret"] != rotated["secret"]
    assert first["code"].startswith(f"V{world['volunteer'].id}-") and 1 <= first["seconds_left"] <= 30


# --- the volunteer scans the activity's display code ---------------------------------------------

SECRET = "test-secret-key-for-display-codes"


def self_scan(world, at, *, code=None, nonce=None, lat=None, lng=None, activity=None):
    activity = activity or world["activity"]
    return checkins.self_scan(world["volunteer"].account.id, activity.id,
                              code=code or checkin_codes.activity_code(activity.id, SECRET, at),
                              nonce=nonce or f"self-{at.timestamp()}", rules=RULES, now=at, secret_key=SECRET,
                              latitude=lat, longitude=lng)


def test_self_scan_checks_in_and_a_later_display_code_checks_out(world, now):
    start = world["activity"].starts_at
    assert self_scan(world, start).result == "checked_in"
    assert refused(lambda: self_scan(world, start + timedelta(seconds=5), nonce="again")) == "already_checked_in"
    assert self_scan(world, start + timedelta(hours=1)).result == "checked_out"
    assert db.session.scalar(select(Checkin.checkin_method)).value == "self_scan"


def test_self_scan_refuses_old_foreign_and_forged_codes(world, now):
    start = world["activity"].starts_at
    old = checkin_codes.activity_code(world["activity"].id, SECRET, start - timedelta(seconds=90))
    assert refused(lambda: self_scan(world, start, code=old)) == "expired_code"
    other = f.activity(world["org"], world["tree"]["community"], now, title="别的活动")
    foreign = checkin_codes.activity_code(other.id, SECRET, start)
    assert refused(lambda: self_scan(world, start, code=foreign, nonce="foreign")) == "invalid_code"
    assert refused(lambda: self_scan(world, start, code="abc.not-a-real-token", nonce="forged")) == "invalid_code"


def test_geofence_needs_a_position_inside_the_radius(world, now):
    world["activity"].latitude, world["activity"].longitude = 29.5630, 106.5516
    world["activity"].checkin_radius_m = 300
    start = world["activity"].starts_at
    assert refused(lambda: self_scan(world, start, nonce="no-position")) == "location_required"
    assert refused(lambda: self_scan(world, start, lat=29.5730, lng=106.5516, nonce="far")) == "outside_geofence"
    assert self_scan(world, start, lat=29.5640, lng=106.5520, nonce="near").result == "checked_in"


# --- by hand, and offline batches ----------------------------------------------------------------

def test_manual_entry_checks_in_and_out_and_is_audited(world, now):
    from models import AuditLog

    start = world["activity"].starts_at
    first = checkins.manual_entry(world["captain"].id, world["activity"].id, volunteer_id=world["volunteer"].id,
                                  reason="老人无智能手机", nonce="manual-1", rules=RULES, now=start)
    second = checkins.manual_entry(world["captain"].id, world["activity"].id, volunteer_id=world["volunteer"].id,
                                   reason="老人无智能手机", nonce="manual-2", rules=RULES, now=start + timedelta(hours=2))
    assert (first.result, second.result, second.minutes) == ("checked_in", "checked_out", 120)
    checkin = db.session.scalar(select(Checkin))
    assert checkin.manual_reason == "老人无智能手机" and checkin.checkin_method.value == "manual"
    actions = db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions[-2:] == ["checkin.manual_checked_in", "checkin.manual_checked_out"]
    assert refused(lambda: checkins.manual_entry(world["other_captain"].id, world["activity"].id,
                                                 volunteer_id=world["volunteer"].id, reason="越权", nonce="manual-3",
                                                 rules=RULES, now=start)) == "not_activity_manager"


def test_an_offline_batch_is_replayed_in_scan_order_with_one_result_each(world, now):
    start = world["activity"].starts_at
    bob = f.approved_volunteer("sim_bob", world["tree"]["community"], now)
    checkin_displays.personal_code(bob.account, now=now)
    checkout_at, checkin_at = start + timedelta(hours=1), start
    batch = [  # sent out of order, as a phone's queue may be
        {"code": code_at(world["volunteer"], checkout_at), "nonce": "b-out", "scanned_at": checkout_at},
        {"code": code_at(world["volunteer"], checkin_at), "nonce": "b-in", "scanned_at": checkin_at},
        {"code": code_at(bob, checkin_at), "nonce": "b-bob", "scanned_at": checkin_at},
        {"code": code_at(world["volunteer"], checkin_at), "nonce": "b-in", "scanned_at": checkin_at},
    ]
    results = checkins.captain_scan_batch(world["captain"].id, world["activity"].id, batch, rules=RULES,
                                          now=start + timedelta(hours=2))
    assert [(r["nonce"], r["ok"], r.get("result") or r.get("code")) for r in results] == [
        ("b-out", True, "checked_out"), ("b-in", True, "checked_in"), ("b-bob", False, "not_signed_up"),
        ("b-in", True, "checked_in")]
    assert results[3]["replayed"] is True and results[0]["minutes"] == 60
    assert db.session.scalar(select(func.count()).select_from(ServiceRecord)) == 1
    assert db.session.scalar(select(func.count()).select_from(CheckinScan)) == 2


def test_official_qr_scans_are_answered_in_chat_with_the_reason(world, now):
    from datetime import date

    world["volunteer"].account.oa_openid = "oa_alice"
    start = world["activity"].starts_at
    today = official_qr.scene(world["activity"].id, to_local(start).date())
    yesterday = official_qr.scene(world["activity"].id, date(2000, 1, 1))
    assert "其他日期" in official_qr.scan("oa_alice", yesterday, rules=RULES, now=start)
    assert "暂未找到您的志愿者信息" in official_qr.scan("oa_nobody", today, rules=RULES, now=start)
    assert official_qr.scan("oa_alice", "checkin:oops", rules=RULES, now=start) == "无法识别的签到二维码"
    assert "不在签到时间内" in official_qr.scan("oa_alice", today, rules=RULES, now=start - timedelta(hours=2))
    assert official_qr.scan("oa_alice", today, rules=RULES, now=start).startswith("签到成功")
    out = official_qr.scan("oa_alice", today, rules=RULES, now=start + timedelta(minutes=90))
    assert out.startswith("签退成功") and "1小时30分钟" in out
    world["activity"].status = ActivityStatus.CANCELLED
    assert official_qr.scan("oa_alice", today, rules=RULES, now=start) == "签到未成功：活动已取消"
