"""The ledger: minutes credited, forgotten check-outs, confirmation, corrections and requests."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.errors import DomainError
from app.extensions import db
from app.services import checkins, service_records, signups
from models import Checkin, CorrectionStatus, RecordKind, ServiceRecord
from tests import factories as f

RULES = checkins.Rules(opens_minutes_before_start=60, checkout_grace_minutes=120, min_minutes_before_checkout=5)


@pytest.fixture
def world(app_context, now):
    world = f.World(now, other_org="乙区协会", other_organizer="sim_other").build("tree", "org", "team")
    world["activity"] = world.add_activity(starts_in=timedelta(hours=1), duration=timedelta(hours=2),
                                           credit_margin_minutes=30)
    signups.apply(world.volunteer.account, world.activity.id, join_waitlist=False, now=now)
    return world.build("other_org", "captain", "organizer", "other_organizer")


def check_in(world, at):
    return checkins.manual_entry(world["captain"].id, world["activity"].id, volunteer_id=world["volunteer"].id,
                                 reason="测试", nonce=f"in-{at.timestamp()}", rules=RULES, now=at)


def totals(world):
    db.session.refresh(world["volunteer"])
    return world["volunteer"].total_service_minutes, world["volunteer"].service_record_count


def code_of(call) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


@pytest.mark.parametrize("in_offset, out_offset, expected", [
    (-90, 60, 90),      # checked in long before: only the 30-minute margin counts
    (0, 120, 120),      # exactly the activity
    (10, 10, 0),        # nothing
    (60, 300, 90),      # out long after: up to end + 30
    (5.5, 65.9, 60),    # whole minutes, rounded down
])
def test_credited_minutes_is_the_overlap_with_the_margins(world, in_offset, out_offset, expected):
    start = world["activity"].starts_at
    minutes = service_records.credited_minutes(world["activity"], start + timedelta(minutes=in_offset),
                                               start + timedelta(minutes=out_offset))
    assert minutes == expected


def test_forgotten_check_outs_close_at_the_end_and_credit_to_it(world):
    start, end = world["activity"].starts_at, world["activity"].ends_at
    check_in(world, start)
    assert checkins.close_forgotten_checkouts(rules=RULES, policy="close_at_end", now=end + timedelta(minutes=119)) == 0
    later = end + timedelta(minutes=121)
    assert checkins.close_forgotten_checkouts(rules=RULES, policy="close_at_end", now=later) == 1
    assert checkins.close_forgotten_checkouts(rules=RULES, policy="close_at_end", now=later) == 0  # twice: nothing
    checkin = db.session.scalar(select(Checkin))
    assert checkin.checked_out_at == end and checkin.needs_review and checkin.checkout_method.value == "auto_close"
    assert totals(world) == (120, 1)


def test_held_check_outs_credit_nothing_until_confirmed(world):
    start, end = world["activity"].starts_at, world["activity"].ends_at
    check_in(world, start)
    checkins.close_forgotten_checkouts(rules=RULES, policy="hold_for_review", now=end + timedelta(hours=3))
    assert db.session.scalar(select(func.count()).select_from(ServiceRecord)) == 0 and totals(world) == (0, 0)
    assert code_of(lambda: service_records.confirm_activity(world["other_organizer"], world["activity"].id,
                                                            now=end)) == "not_activity_manager"
    counts = service_records.confirm_activity(world["captain"], world["activity"].id, now=end + timedelta(hours=4))
    assert counts == {"confirmed": 1, "credited_after_review": 1}
    assert totals(world) == (120, 1)
    again = service_records.confirm_activity(world["captain"], world["activity"].id, now=end + timedelta(hours=5))
    assert again == {"confirmed": 0, "credited_after_review": 0} and totals(world) == (120, 1)


def test_a_correction_is_a_new_entry_and_moves_the_totals(world):
    start = world["activity"].starts_at
    check_in(world, start)
    checkins.manual_entry(world["captain"].id, world["activity"].id, volunteer_id=world["volunteer"].id, reason="测试",
                          nonce="out-1", rules=RULES, now=start + timedelta(minutes=60))
    original = db.session.scalar(select(ServiceRecord))
    correction = service_records.correct(world["organizer"], original.id, minutes_delta=30, reason="提前到场布置",
                                         now=start + timedelta(hours=3))
    db.session.refresh(original)
    assert original.minutes == 60 and correction.kind is RecordKind.CORRECTION
    assert correction.corrects_record_id == original.id and correction.created_by_account_id == world["organizer"].id
    assert totals(world) == (90, 1)
    assert code_of(lambda: service_records.correct(world["organizer"], original.id, minutes_delta=-200, reason="错误",
                                                   now=start)) == "negative_minutes"
    assert code_of(lambda: service_records.correct(world["captain"], original.id, minutes_delta=5, reason="越权",
                                                   now=start)) == "not_organizer"


def test_a_volunteer_requests_a_correction_and_the_organiser_decides(world):
    start = world["activity"].starts_at
    account = world["volunteer"].account
    assert code_of(lambda: service_records.request_correction(account, world["activity"].id, requested_minutes=90,
                                                              reason="忘记扫码", now=start - timedelta(hours=1))
                   ) == "activity_not_started"
    request = service_records.request_correction(account, world["activity"].id, requested_minutes=90,
                                                 reason="忘记扫码，全程在场", now=start + timedelta(hours=3))
    assert code_of(lambda: service_records.request_correction(account, world["activity"].id, requested_minutes=80,
                                                              reason="再来一次", now=start + timedelta(hours=3))
                   ) == "correction_pending"
    assert code_of(lambda: service_records.decide_correction(world["organizer"], request.id, approve=False, reason="",
                                                             now=start)) == "reason_required"
    decided = service_records.decide_correction(world["organizer"], request.id, approve=True, reason=None,
                                                now=start + timedelta(hours=4))
    assert decided.status is CorrectionStatus.APPROVED and decided.correction_record_id is not None
    assert totals(world) == (90, 1)  # no attendance existed: the correction counts as the record
    assert code_of(lambda: service_records.decide_correction(world["organizer"], request.id, approve=True, reason=None,
                                                             now=start)) == "already_decided"


def test_only_people_who_took_part_may_ask(world, now):
    stranger = f.approved_volunteer("sim_stranger", world["activity"].region, now)
    assert code_of(lambda: service_records.request_correction(stranger.account, world["activity"].id,
                                                              requested_minutes=60, reason="我也来了",
                                                              now=world["activity"].ends_at)) == "not_signed_up"
