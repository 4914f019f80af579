"""Sign-up rules: seats, waitlist order, approval, and every gate's reason code."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.errors import DomainError
from app.extensions import db
from app.services import signups
from models import ActivityStatus, Notification, NotificationChannel, Signup, SignupMode, SignupStatus, VolunteerStatus
from tests import factories as f


@pytest.fixture
def world(world):
    world.build("tree", "org", "organizer")
    world["activity"] = world.add_activity(of_team=False, capacity=2)
    return world


def volunteer(world, now, openid, **fields):
    return f.approved_volunteer(openid, world["tree"]["community"], now, **fields)


def apply(vol, activity, now, *, join_waitlist=False):
    return signups.apply(vol.account, activity.id, join_waitlist=join_waitlist, now=now)


def reason_of(call) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


def seats(activity) -> int:
    db.session.refresh(activity)
    return activity.seats_taken


def test_open_sign_up_takes_a_seat_and_a_repeat_changes_nothing(world, now):
    alice = volunteer(world, now, "sim_alice")
    signup, created = apply(alice, world["activity"], now)
    again, created_again = apply(alice, world["activity"], now)
    assert created and not created_again and again.id == signup.id
    assert signup.status is SignupStatus.APPROVED
    assert seats(world["activity"]) == 1


def test_full_activity_refuses_or_waitlists_in_order(world, now):
    people = [volunteer(world, now, f"sim_v{i}") for i in range(5)]
    for person in people[:2]:
        apply(person, world["activity"], now)
    assert reason_of(lambda: apply(people[2], world["activity"], now)) == "activity_full"
    first, _ = apply(people[2], world["activity"], now, join_waitlist=True)
    second, _ = apply(people[3], world["activity"], now + timedelta(seconds=1), join_waitlist=True)
    assert (first.status, second.status) == (SignupStatus.WAITLISTED, SignupStatus.WAITLISTED)
    assert (signups.waitlist_position(first), signups.waitlist_position(second)) == (1, 2)
    assert seats(world["activity"]) == 2


def test_a_freed_seat_goes_to_the_first_waiting_who_is_told(world, now):
    people = [volunteer(world, now, f"sim_v{i}") for i in range(4)]
    for person in people[:2]:
        apply(person, world["activity"], now)
    first, _ = apply(people[2], world["activity"], now, join_waitlist=True)
    second, _ = apply(people[3], world["activity"], now + timedelta(seconds=1), join_waitlist=True)
    f.subscribe_credit(people[2].account, "signup_result", now)
    signups.cancel(people[0].account, world["activity"].id, now=now + timedelta(minutes=5))
    db.session.refresh(first)
    db.session.refresh(second)
    assert first.status is SignupStatus.APPROVED and second.status is SignupStatus.WAITLISTED
    assert signups.waitlist_position(second) == 1
    assert seats(world["activity"]) == 2
    # After the confirmations of the first two sign-ups, only the promoted one is told.
    told = db.session.scalars(select(Notification).where(Notification.kind == "signup_result",
                                                         Notification.created_at > now)).all()
    assert [n.account_id for n in told] == [people[2].account_id]
    assert told[0].payload["data"]["phrase2"] == "候补成功"
    assert told[0].channel is NotificationChannel.MINIPROGRAM_SUBSCRIBE


def test_cancelling_a_waitlisted_sign_up_frees_no_seat(world, now):
    people = [volunteer(world, now, f"sim_v{i}") for i in range(3)]
    for person in people[:2]:
        apply(person, world["activity"], now)
    apply(people[2], world["activity"], now, join_waitlist=True)
    cancelled = signups.cancel(people[2].account, world["activity"].id, now=now)
    assert cancelled.status is SignupStatus.CANCELLED
    assert seats(world["activity"]) == 2


def test_cancelling_twice_frees_one_seat(world, now):
    alice, bob = volunteer(world, now, "sim_alice"), volunteer(world, now, "sim_bob")
    apply(alice, world["activity"], now)
    apply(bob, world["activity"], now)
    signups.cancel(alice.account, world["activity"].id, now=now)
    assert reason_of(lambda: signups.cancel(alice.account, world["activity"].id, now=now)) == "signup_not_found"
    assert seats(world["activity"]) == 1


def test_cancel_after_the_start_is_refused(world, now):
    alice = volunteer(world, now, "sim_alice")
    apply(alice, world["activity"], now)
    started = world["activity"].starts_at + timedelta(minutes=1)
    assert reason_of(lambda: signups.cancel(alice.account, world["activity"].id, now=started)) == "activity_started"


def test_reapplying_after_cancelling_reuses_the_row(world, now):
    alice = volunteer(world, now, "sim_alice")
    first, _ = apply(alice, world["activity"], now)
    signups.cancel(alice.account, world["activity"].id, now=now)
    again, created = apply(alice, world["activity"], now)
    assert created and again.id == first.id and again.status is SignupStatus.APPROVED
    assert db.session.scalar(select(func.count()).select_from(Signup)) == 1


def test_approval_mode_waits_then_the_decision_takes_a_seat(world, now):
    world["activity"].signup_mode = SignupMode.APPROVAL
    alice, bob = volunteer(world, now, "sim_alice"), volunteer(world, now, "sim_bob")
    pending, _ = apply(alice, world["activity"], now)
    assert pending.status is SignupStatus.PENDING and seats(world["activity"]) == 0
    decided = signups.decide(world["organizer"], pending.id, approve=True, reason=None, now=now)
    assert decided.status is SignupStatus.APPROVED and seats(world["activity"]) == 1
    assert reason_of(lambda: signups.decide(world["organizer"], pending.id, approve=True, reason=None,
                                            now=now)) == "already_decided"
    rejected_one, _ = apply(bob, world["activity"], now)
    assert reason_of(lambda: signups.decide(world["organizer"], rejected_one.id, approve=False, reason=" ",
                                            now=now)) == "reason_required"
    signups.decide(world["organizer"], rejected_one.id, approve=False, reason="人数已够", now=now)
    assert reason_of(lambda: apply(bob, world["activity"], now)) == "signup_rejected"


def test_approving_when_full_is_refused_and_takes_nothing(world, now):
    world["activity"].signup_mode = SignupMode.APPROVAL
    world["activity"].capacity = 1
    alice, bob = volunteer(world, now, "sim_alice"), volunteer(world, now, "sim_bob")
    first, _ = apply(alice, world["activity"], now)
    second, _ = apply(bob, world["activity"], now)
    signups.decide(world["organizer"], first.id, approve=True, reason=None, now=now)
    assert reason_of(lambda: signups.decide(world["organizer"], second.id, approve=True, reason=None,
                                            now=now)) == "activity_full"
    assert seats(world["activity"]) == 1


def test_only_the_organiser_decides(world, now):
    world["activity"].signup_mode = SignupMode.APPROVAL
    other_org = f.organization("乙区协会", world["tree"]["other_district"], now)
    stranger = f.organizer("sim_other_org", other_org, now)
    pending, _ = apply(volunteer(world, now, "sim_alice"), world["activity"], now)
    assert reason_of(lambda: signups.decide(stranger, pending.id, approve=True, reason=None, now=now)) == "not_organizer"


@pytest.mark.parametrize("status", [ActivityStatus.CANCELLED, ActivityStatus.WITHDRAWN, ActivityStatus.FINISHED])
def test_not_open_when_the_activity_is_not_taking_sign_ups(world, now, status):
    world["activity"].status = status
    assert reason_of(lambda: apply(volunteer(world, now, "sim_alice"), world["activity"], now)) == "not_open"


def test_not_open_once_the_activity_has_started(world, now):
    started = world["activity"].starts_at + timedelta(minutes=1)
    assert reason_of(lambda: apply(volunteer(world, now, "sim_alice"), world["activity"], started)) == "not_open"


def test_drafts_cannot_be_applied_for(world, now):
    world["activity"].status = ActivityStatus.DRAFT
    assert reason_of(lambda: apply(volunteer(world, now, "sim_alice"), world["activity"], now)) == "activity_not_found"


def test_too_young_is_measured_on_the_activity_day(world, now):
    world["activity"].min_age = 18
    day = world["activity"].starts_at.date()
    turns_18_after = volunteer(world, now, "sim_teen", birth_date=date(day.year - 18, 12, 31))
    turns_18_on_the_day = volunteer(world, now, "sim_adult", birth_date=date(day.year - 18, day.month, day.day))
    assert reason_of(lambda: apply(turns_18_after, world["activity"], now)) == "too_young"
    assert apply(turns_18_on_the_day, world["activity"], now)[0].status is SignupStatus.APPROVED


def test_missing_skill_names_what_is_missing(world, now):
    world["activity"].required_skills = ["急救", "手语"]
    alice = volunteer(world, now, "sim_alice", skills=["急救"])
    with pytest.raises(DomainError) as caught:
        apply(alice, world["activity"], now)
    assert caught.value.code == "missing_skill" and "手语" in caught.value.message


@pytest.mark.parametrize("status", [VolunteerStatus.PENDING, VolunteerStatus.REJECTED])
def test_not_approved_volunteer(world, now, status):
    person = f.volunteer(f.account("sim_new", now), world["tree"]["community"], now, status=status)
    assert reason_of(lambda: apply(person, world["activity"], now)) == "not_approved_volunteer"
    nobody = f.account("sim_nobody", now)
    assert reason_of(lambda: signups.apply(nobody, world["activity"].id, join_waitlist=False,
                                           now=now)) == "not_approved_volunteer"


def test_time_conflict_with_an_overlapping_sign_up(world, now):
    alice = volunteer(world, now, "sim_alice")
    overlapping = f.activity(world["org"], world["tree"]["community"], now, title="另一场活动",
                             starts_in=timedelta(days=1, hours=2))
    later = f.activity(world["org"], world["tree"]["community"], now, title="之后的活动",
                       starts_in=timedelta(days=1, hours=3))
    apply(alice, world["activity"], now)
    with pytest.raises(DomainError) as caught:
        apply(alice, overlapping, now)
    assert caught.value.code == "time_conflict" and world["activity"].title in caught.value.message
    assert apply(alice, later, now)[0].status is SignupStatus.APPROVED  # touching end and start is no conflict


def test_cancelled_sign_ups_and_cancelled_activities_cause_no_conflict(world, now):
    alice = volunteer(world, now, "sim_alice")
    overlapping = f.activity(world["org"], world["tree"]["community"], now, title="另一场活动",
                             starts_in=timedelta(days=1, hours=1))
    apply(alice, world["activity"], now)
    signups.cancel(alice.account, world["activity"].id, now=now)
    assert apply(alice, overlapping, now)[0].status is SignupStatus.APPROVED


def test_a_volunteer_who_checked_in_cannot_cancel_and_the_waitlist_stays(world, now):
    from app.services import checkins

    rules = checkins.Rules(opens_minutes_before_start=60, checkout_grace_minutes=120, min_minutes_before_checkout=5)
    alice, bob, carol = (volunteer(world, now, openid) for openid in ("sim_alice", "sim_bob", "sim_carol"))
    apply(alice, world["activity"], now)
    apply(bob, world["activity"], now)
    waiting, _ = apply(carol, world["activity"], now, join_waitlist=True)
    early = world["activity"].starts_at - timedelta(minutes=30)  # check-in opens before the start
    checkins.manual_entry(world["organizer"].id, world["activity"].id, volunteer_id=alice.id, reason="提前到场",
                          nonce="early-in-1", rules=rules, now=early)
    assert reason_of(lambda: signups.cancel(alice.account, world["activity"].id, now=early)) == "already_attended"
    mine = db.session.scalar(select(Signup).where(Signup.volunteer_id == alice.id))
    db.session.refresh(waiting)
    assert mine.status is SignupStatus.APPROVED and waiting.status is SignupStatus.WAITLISTED
    assert seats(world["activity"]) == 2
    signups.cancel(bob.account, world["activity"].id, now=early)  # not checked in: may still cancel
    db.session.refresh(waiting)
    assert waiting.status is SignupStatus.APPROVED and seats(world["activity"]) == 2
