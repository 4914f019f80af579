"""Volunteers' reminders: each at its time and not before, once; moved and cancelled activities; thanks."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.extensions import db
from app.services import activities, checkins, reminders, signups
from app.services.recording import ledger
from models import (Campaign, CampaignStatus, Checkin, CheckinMethod, Notification, NotificationStatus,
                    OfficialFollower, Signup, SignupStatus, VolunteerStatus)
from tests import factories as f

UTC = timezone.utc
# The activity: 25 Nov 2026, 09:00-12:00 in Shanghai.
START = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
DAY_BEFORE = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)      # 24 Nov 11:00 in Shanghai
HOURS_BEFORE = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)   # 25 Nov 07:00 in Shanghai
MINUTE = timedelta(minutes=1)


def following(volunteer, now):
    """Let the volunteer follow the official account, so messages are pending sends (withdrawable)."""
    volunteer.account.oa_openid = f"oa_{volunteer.account.mp_openid}"
    db.session.add(OfficialFollower(openid=volunteer.account.oa_openid, is_subscribed=True, subscribed_at=now))
    db.session.flush()
    return volunteer


@pytest.fixture
def world(app_context, now):
    tree = f.region_tree()
    org = f.organization("甲区志愿者协会", tree["district"], now)
    activity = f.activity(org, tree["community"], START, starts_in=timedelta(0), address="一社区敬老院")
    people = [following(f.approved_volunteer(f"sim_v{i}", tree["community"], now), now) for i in range(3)]
    early = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    for volunteer in people[:2]:
        signups.apply(volunteer.account, activity.id, join_waitlist=False, now=early)
    return {"tree": tree, "org": org, "activity": activity, "people": people,
            "organizer": f.organizer("sim_org", org, now)}


def rows(kind):
    return db.session.scalars(select(Notification).where(Notification.kind == kind).order_by(Notification.id)).all()


def test_signing_up_is_confirmed_once(world):
    confirmations = rows("signup_result")
    assert [row.account_id for row in confirmations] == [p.account_id for p in world["people"][:2]]
    assert "报名成功" in confirmations[0].payload["text"]


def test_the_day_before_reminder_goes_at_eleven_shanghai_time_once_to_those_confirmed_by_then(world):
    assert reminders.send_reminders(now=DAY_BEFORE - MINUTE)["day_before"] == 0
    assert reminders.send_reminders(now=DAY_BEFORE)["day_before"] == 2
    assert reminders.send_reminders(now=DAY_BEFORE + MINUTE)["day_before"] == 0
    late = world["people"][2]
    signups.apply(late.account, world["activity"].id, join_waitlist=False, now=DAY_BEFORE + 30 * MINUTE)
    assert reminders.send_reminders(now=DAY_BEFORE + 31 * MINUTE)["day_before"] == 0  # just confirmed instead
    sent = rows(reminders.DAY_BEFORE)
    assert [row.account_id for row in sent] == [p.account_id for p in world["people"][:2]]
    stamp = int(START.timestamp())
    assert {row.idempotency_key for row in sent} == {
        f"reminder_day_before:s{s}:{stamp}" for s in db.session.scalars(
            select(Signup.id).where(Signup.volunteer_id.in_([p.id for p in world["people"][:2]])))}
    assert "11月25日 09:00" in sent[0].payload["text"] and "取消报名" in sent[0].payload["text"]
    assert sent[0].payload["page"] == f"pages/activity/index?id={world['activity'].id}"

    assert reminders.send_reminders(now=HOURS_BEFORE - MINUTE)["hours_before"] == 0
    assert reminders.send_reminders(now=HOURS_BEFORE)["hours_before"] == 3
    assert reminders.send_reminders(now=HOURS_BEFORE + MINUTE)["hours_before"] == 0
    assert "09:00开始（约 2 小时后）" in rows(reminders.HOURS_BEFORE)[0].payload["text"]


def test_a_missed_run_catches_up_within_the_window_but_never_after_the_start(world):
    # Nothing ran on the 24th: 30 minutes before the start the two-hour reminder still goes, the
    # day-before one is too old.
    assert reminders.send_reminders(now=START - 30 * MINUTE) == {"day_before": 0, "hours_before": 2, "thanks": 0}
    db.session.execute(Notification.__table__.delete())
    assert reminders.send_reminders(now=START)["hours_before"] == 0
    assert reminders.send_reminders(now=HOURS_BEFORE + reminders.CATCH_UP)["hours_before"] == 0


def test_cancelled_and_waitlisted_people_are_not_reminded(world):
    signups.cancel(world["people"][1].account, world["activity"].id, now=DAY_BEFORE - MINUTE)
    assert reminders.send_reminders(now=DAY_BEFORE)["day_before"] == 1


def test_a_moved_activity_withdraws_unsent_reminders_and_gets_new_ones_at_the_new_time(world):
    activity = world["activity"]
    reminders.send_reminders(now=DAY_BEFORE)
    old = rows(reminders.DAY_BEFORE)
    assert [row.status for row in old] == [NotificationStatus.PENDING] * 2
    new_start = START + timedelta(days=1)
    activities.update(world["organizer"], activity.id, {"starts_at": new_start, "ends_at": new_start + timedelta(hours=3)},
                      now=DAY_BEFORE + 10 * MINUTE)
    for row in old:
        db.session.refresh(row)
    assert [row.status for row in old] == [NotificationStatus.WITHDRAWN] * 2
    assert len(rows("activity_time_changed")) == 2
    # The old times pass by without a reminder; the new ones come at 11:00 the day before the new date.
    assert reminders.send_reminders(now=HOURS_BEFORE) == {"day_before": 0, "hours_before": 0, "thanks": 0}
    assert reminders.send_reminders(now=DAY_BEFORE + timedelta(days=1))["day_before"] == 2
    fresh = [row for row in rows(reminders.DAY_BEFORE) if row.status is NotificationStatus.PENDING]
    assert len(fresh) == 2 and all(row.idempotency_key.endswith(f":{int(new_start.timestamp())}") for row in fresh)
    assert reminders.send_reminders(now=HOURS_BEFORE + timedelta(days=1))["hours_before"] == 2


def test_a_cancelled_activity_withdraws_unsent_reminders_and_sends_no_more(world):
    reminders.send_reminders(now=DAY_BEFORE)
    activities.cancel(world["organizer"], world["activity"].id, reason="天气原因", now=DAY_BEFORE + MINUTE)
    assert {row.status for row in rows(reminders.DAY_BEFORE)} == {NotificationStatus.WITHDRAWN}
    assert len(rows("activity_cancelled")) == 2
    assert reminders.send_reminders(now=HOURS_BEFORE)["hours_before"] == 0


def attend(activity, volunteer, checked_in_at, checked_out_at=None):
    checkin = Checkin(activity_id=activity.id, volunteer_id=volunteer.id, checked_in_at=checked_in_at,
                      checkin_method=CheckinMethod.MANUAL)
    db.session.add(checkin)
    db.session.flush()
    if checked_out_at is not None:
        checkin.checked_out_at = checked_out_at
        checkin.checkout_method = CheckinMethod.MANUAL
        ledger.credit_checkin(activity, checkin_id=checkin.id, volunteer_id=volunteer.id,
                              checked_in_at=checked_in_at, checked_out_at=checked_out_at,
                              account_id=None, now=checked_out_at)
    return checkin


def test_thanks_follow_the_attendance_record_with_its_hours(world):
    activity, (first, second, _) = world["activity"], world["people"]
    end = activity.ends_at
    attend(activity, first, START, START + timedelta(hours=2, minutes=30))     # left early: thanked at the end
    attend(activity, second, START)                                            # forgot to check out
    assert reminders.send_reminders(now=end - MINUTE)["thanks"] == 0
    assert reminders.send_reminders(now=end)["thanks"] == 1
    assert reminders.send_reminders(now=end + MINUTE)["thanks"] == 0
    thanks = rows(reminders.THANKS)[0]
    assert thanks.account_id == first.account_id
    assert "本次记录服务时长 2小时30分钟" in thanks.payload["text"]
    # The forgotten check-out is closed at end + grace by the job; its thanks come then.
    closed_at = end + timedelta(minutes=121)
    assert checkins.close_forgotten_checkouts(rules=checkins.Rules.from_settings(_checkin_settings()),
                                              policy="close_at_end", now=closed_at) == 1
    assert reminders.send_reminders(now=closed_at)["thanks"] == 1
    assert "本次记录服务时长 3小时" in rows(reminders.THANKS)[1].payload["text"]
    assert reminders.send_reminders(now=closed_at + MINUTE)["thanks"] == 0


def _checkin_settings():
    from app.extensions import settings

    return settings()["checkin"]


def test_hours_are_written_for_people():
    assert [reminders.hours_text(m) for m in (0, 40, 60, 100, 150)] == ["0分钟", "40分钟", "1小时", "1小时40分钟",
                                                                         "2小时30分钟"]


# --- campaign invitations ----------------------------------------------------------------------

CAMPAIGN_START = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)   # 28 Nov 09:00 in Shanghai
INVITE_AT = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)        # 25 Nov 11:00, three days before


@pytest.fixture
def campaign_world(app_context, now):
    tree = f.region_tree()
    org = f.organization("甲区志愿者协会", tree["district"], now)
    campaign = Campaign(festival_key="volunteer_day", year=2026, name="国际志愿者日", day=date(2026, 12, 5),
                        organization_id=org.id, region_id=org.region_id, theme="弘扬志愿精神", lead="区文明办",
                        status=CampaignStatus.PLANNED, automatic=False, created_at=now)
    db.session.add(campaign)
    db.session.flush()
    activity = f.activity(org, tree["community"], CAMPAIGN_START, starts_in=timedelta(0), campaign_id=campaign.id,
                          required_skills=["急救"], min_age=18)
    invited = [f.approved_volunteer(f"sim_match{i}", tree["community"], now, skills=["急救", "英语"]) for i in range(5)]
    not_invited = [
        f.approved_volunteer("sim_noskill", tree["community"], now, skills=["英语"]),
        f.volunteer(f.account("sim_pending", now), tree["community"], now, skills=["急救"],
                    status=VolunteerStatus.PENDING),
        f.approved_volunteer("sim_sibling", tree["community2"], now, skills=["急救"]),
        f.approved_volunteer("sim_young", tree["community"], now, skills=["急救"], birth_date=date(2010, 1, 1)),
        f.approved_volunteer("sim_signed", tree["community"], now, skills=["急救"]),
        f.approved_volunteer("sim_cancelled", tree["community"], now, skills=["急救"]),
    ]
    for volunteer, status in ((not_invited[-2], SignupStatus.APPROVED), (not_invited[-1], SignupStatus.CANCELLED)):
        db.session.add(Signup(activity_id=activity.id, volunteer_id=volunteer.id, status=status, created_at=now,
                              updated_at=now))
    plain = f.activity(org, tree["community"], CAMPAIGN_START, starts_in=timedelta(0), title="不属于节庆日的活动")
    db.session.flush()
    return {"activity": activity, "plain": plain, "invited": invited, "not_invited": not_invited}


def invite_all(now, limit=2):
    written = 0
    for invitation in reminders.due_invitations(now=now):
        after = 0
        while after is not None:
            count, after = reminders.invite_batch(invitation, now=now, after_volunteer_id=after, limit=limit)
            written += count
    return written


def test_campaign_invitations_go_three_days_ahead_to_matching_approved_volunteers_not_signed_up(campaign_world):
    assert reminders.due_invitations(now=INVITE_AT - MINUTE) == []
    assert invite_all(INVITE_AT) == 5
    sent = rows(reminders.INVITATION)
    assert sorted(row.account_id for row in sent) == sorted(v.account_id for v in campaign_world["invited"])
    assert all(row.activity_id == campaign_world["activity"].id for row in sent)
    assert "国际志愿者日" in sent[0].payload["text"] and "弘扬志愿精神" in sent[0].payload["text"]
    assert invite_all(INVITE_AT + MINUTE) == 0
    assert len(rows(reminders.INVITATION)) == 5


def test_invitations_stream_in_keyset_batches(campaign_world):
    invitation, = reminders.due_invitations(now=INVITE_AT)
    first, after = reminders.invite_batch(invitation, now=INVITE_AT, after_volunteer_id=0, limit=3)
    assert first == 3 and after == campaign_world["invited"][2].id
    rest, after = reminders.invite_batch(invitation, now=INVITE_AT, after_volunteer_id=after, limit=3)
    # Three rows read (two matching, one without the skill); then one more batch to find the end.
    assert rest == 2
    while after is not None:
        _, after = reminders.invite_batch(invitation, now=INVITE_AT, after_volunteer_id=after, limit=3)
    assert len(rows(reminders.INVITATION)) == 5


def test_invitations_are_withdrawn_with_a_cancelled_activity_and_stop(campaign_world):
    activity = campaign_world["activity"]
    following(campaign_world["invited"][0], INVITE_AT)
    invitation, = reminders.due_invitations(now=INVITE_AT)
    reminders.invite_batch(invitation, now=INVITE_AT, limit=2)
    organizer = f.organizer("sim_org", activity.organization, INVITE_AT)
    activities.cancel(organizer, activity.id, reason="场地不可用", now=INVITE_AT + MINUTE)
    # The follower's invitation was a pending send: withdrawn. The other, inbox only, was never a send.
    assert sorted(row.status.value for row in rows(reminders.INVITATION)) == ["skipped", "withdrawn"]
    assert reminders.invite_batch(invitation, now=INVITE_AT, after_volunteer_id=0, limit=100) == (0, None)
    assert reminders.due_invitations(now=INVITE_AT + MINUTE) == []
