"""Volunteers' reminders: the day before, a few hours before, thanks afterwards, campaign invitations.

Every message here has a send time computed from the activity (times in Asia/Shanghai):
- the day before at `reminders.day_before_hour`: confirm you are coming, or cancel and free the seat;
- `reminders.hours_before` hours before the start: a last reminder;
- after the end, once the attendance record exists (check-out, or the forgotten-checkout job): thanks
  with the hours recorded;
- `reminders.campaign_invitation_days_before` days before a campaign activity, at the day-before
  hour: an invitation to approved volunteers of its region subtree who can sign up and have not.
A job runs every minute and writes what fell due in (now - window, now]: a run that was missed, or
a scheduler that took over, still sends, but never a reminder or invitation for an activity that has
started. Keys hold the sign-up (or volunteer) and the activity's start time, so a moved activity gets
fresh reminders at its new times while its old unsent ones are withdrawn (`withdraw`), and a repeated
run or two schedulers write nothing twice. Only people confirmed by a reminder's send time get it:
someone who signs up later has just had the sign-up confirmation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import redis
from sqlalchemy import exists, func, or_, select

from app.extensions import db, get_redis, settings
from app.resident_id import age_on
from app.services import notifications
from app.texts import clock_text, hours_text, moment_text
from app.timeutil import SHANGHAI, local_day_bounds, to_local
from models import (Activity, ActivityStatus, Campaign, Notification, RecordKind, Region, ServiceRecord, Signup,
                    SignupStatus, Volunteer, VolunteerStatus)

logger = logging.getLogger(__name__)

DAY_BEFORE = notifications.NotificationKind.REMINDER_DAY_BEFORE
HOURS_BEFORE = notifications.NotificationKind.REMINDER_HOURS_BEFORE
INVITATION = notifications.NotificationKind.CAMPAIGN_INVITATION
THANKS = notifications.NotificationKind.SERVICE_THANKS
# What no longer applies when an activity moves or is called off (thanks come after the end only).
WITHDRAWN_ON_CHANGE = (DAY_BEFORE, HOURS_BEFORE, INVITATION)
# How far back a run still sends what fell due: covers a scheduler outage or take-over.
CATCH_UP = timedelta(hours=3)
# Thanks are sent for activities that ended this recently (a record confirmed later goes unthanked).
THANKS_HORIZON = timedelta(days=7)
INVITATION_BATCH = 500
# A Redis note per (activity, start) of how far the invitation stream got, and that it finished;
# losing it only costs a rescan, since the keys decide who was invited.
_CURSOR_TTL = timedelta(days=4)


@dataclass(frozen=True)
class Timing:
    day_before_hour: int
    hours_before: int
    invitation_days_before: int

    @classmethod
    def from_settings(cls) -> Timing:
        conf = settings()["reminders"]
        return cls(conf["day_before_hour"], conf["hours_before"], conf["campaign_invitation_days_before"])

    def day_before_at(self, starts_at: datetime) -> datetime:
        return _local_hour(to_local(starts_at).date() - timedelta(days=1), self.day_before_hour)

    def hours_before_at(self, starts_at: datetime) -> datetime:
        return starts_at - timedelta(hours=self.hours_before)

    def invitation_at(self, starts_at: datetime) -> datetime:
        return _local_hour(to_local(starts_at).date() - timedelta(days=self.invitation_days_before),
                           self.day_before_hour)


def _local_hour(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=SHANGHAI).astimezone(timezone.utc)


def withdraw(activity_id: int) -> int:
    """Withdraw an activity's reminders and invitations not sent yet (it moved or was called off)."""
    return notifications.withdraw_pending(activity_id, WITHDRAWN_ON_CHANGE)


# --- reminders and thanks -------------------------------------------------------------------------

def send_reminders(*, now: datetime, window: timedelta = CATCH_UP, timing: Timing | None = None) -> dict[str, int]:
    """Write the day-before and hours-before reminders and the thanks that fell due in (now - window, now]."""
    timing = timing or Timing.from_settings()
    day_before = _remind(now, window, DAY_BEFORE, timing.day_before_at,
                         _local_start_ranges(now, window, timing.day_before_hour, days_ahead=1), _day_before_message)
    hours_before = _remind(now, window, HOURS_BEFORE, timing.hours_before_at,
                           [(now - window + timedelta(hours=timing.hours_before),
                             now + timedelta(hours=timing.hours_before, seconds=1))],
                           lambda activity: _hours_before_message(activity, timing.hours_before))
    return {"day_before": day_before, "hours_before": hours_before, "thanks": _thank(now, window)}


def _remind(now: datetime, window: timedelta, kind: str, send_at: Callable[[datetime], datetime],
            start_ranges: list[tuple[datetime, datetime]], message: Callable[[Activity], notifications.Message]) -> int:
    if not start_ranges:
        return 0
    candidates = db.session.scalars(select(Activity).where(
        Activity.status == ActivityStatus.PUBLISHED, Activity.starts_at > now,
        or_(*((Activity.starts_at >= low) & (Activity.starts_at < high) for low, high in start_ranges)),
    ).order_by(Activity.starts_at, Activity.id)).all()
    written = 0
    for activity in candidates:
        due = send_at(activity.starts_at)
        if not now - window < due <= now:
            continue
        stamp = int(activity.starts_at.timestamp())
        key = notifications.idempotency_key(kind, ("s", Signup.id), stamp)
        people = db.session.execute(
            select(Signup.id, Volunteer.account_id).join(Volunteer, Volunteer.id == Signup.volunteer_id).where(
                Signup.activity_id == activity.id, Signup.status == SignupStatus.APPROVED, Signup.updated_at <= due,
                ~exists().where(Notification.idempotency_key == key))
            .order_by(Signup.id)
        ).all()
        if not people:
            continue
        text = message(activity)
        for signup_id, account_id in people:
            written += notifications.notify(account_id, (("s", signup_id), stamp), text, now=now,
                                            activity_id=activity.id) is not None
    return written


def _local_start_ranges(now: datetime, window: timedelta, hour: int, *, days_ahead: int) -> list[tuple[datetime, datetime]]:
    """UTC ranges of start times whose send time (`hour` on the Shanghai day `days_ahead` before) is in the window."""
    ranges = []
    day = to_local(now - window).date()
    while day <= to_local(now).date():
        if now - window < _local_hour(day, hour) <= now:
            ranges.append(local_day_bounds(day + timedelta(days=days_ahead)))
        day += timedelta(days=1)
    return ranges


def _day_before_message(activity: Activity) -> notifications.Message:
    return notifications.Message(
        kind=DAY_BEFORE, template="activity_reminder", title="明天有您报名的志愿服务活动",
        text=(f"您报名的活动「{activity.title}」将于{moment_text(activity.starts_at)}开始，"
              f"地点：{activity.address}。请确认能否参加；如不能参加，请在活动开始前取消报名，把名额留给其他志愿者。"),
        fields={"thing1": activity.title, "time2": activity.starts_at, "thing3": activity.address,
                "thing4": "请确认参加，不能来请取消报名"},
        page=f"pages/activity/index?id={activity.id}")


def _hours_before_message(activity: Activity, hours: int) -> notifications.Message:
    return notifications.Message(
        kind=HOURS_BEFORE, template="activity_reminder", title=f"活动将于{hours}小时后开始",
        text=(f"您报名的活动「{activity.title}」将于{clock_text(activity.starts_at)}开始（约 {hours} 小时后），"
              f"地点：{activity.address}。请准时到场签到。"),
        fields={"thing1": activity.title, "time2": activity.starts_at, "thing3": activity.address,
                "thing4": f"{hours}小时后开始，请准时签到"},
        page=f"pages/activity/index?id={activity.id}")


def _thank(now: datetime, window: timedelta) -> int:
    """Thank each volunteer whose attendance record exists once the activity is over.

    Due at the later of the end and the record (an early check-out is thanked at the end; a
    forgotten check-out when the job closes it or, held for review, when its records are confirmed).
    """
    key = notifications.idempotency_key(THANKS, ("r", ServiceRecord.id))
    rows = db.session.execute(
        select(ServiceRecord.id, ServiceRecord.volunteer_id, Volunteer.account_id, Volunteer.total_service_minutes,
               Activity)
        .join(Activity, Activity.id == ServiceRecord.activity_id)
        .join(Volunteer, Volunteer.id == ServiceRecord.volunteer_id)
        .where(Activity.starts_at > now - THANKS_HORIZON - timedelta(days=31),
               Activity.ends_at <= now, Activity.ends_at > now - THANKS_HORIZON,
               ServiceRecord.kind == RecordKind.ATTENDANCE, ServiceRecord.created_at <= now,
               or_(ServiceRecord.created_at > now - window, Activity.ends_at > now - window),
               ~exists().where(Notification.idempotency_key == key))
        .order_by(ServiceRecord.id)
    ).all()
    written = 0
    for record_id, volunteer_id, account_id, total_minutes, activity in rows:
        minutes = db.session.scalar(select(func.coalesce(func.sum(ServiceRecord.minutes), 0)).where(
            ServiceRecord.volunteer_id == volunteer_id, ServiceRecord.activity_id == activity.id))
        written += notifications.notify(account_id, [("r", record_id)], _thanks_message(activity, minutes, total_minutes),
                                        now=now, activity_id=activity.id) is not None
    return written


def _thanks_message(activity: Activity, minutes: int, total_minutes: int) -> notifications.Message:
    return notifications.Message(
        kind=THANKS, template="service_thanks", title="感谢您的志愿服务",
        text=(f"感谢您参加「{activity.title}」！本次记录服务时长 {hours_text(minutes)}，"
              f"累计服务时长 {hours_text(total_minutes)}。"),
        fields={"thing1": activity.title, "thing2": hours_text(minutes), "thing3": "感谢您的志愿服务"},
        page="pages/me/records")


# --- campaign invitations -----------------------------------------------------------------------

@dataclass(frozen=True)
class Invitation:
    """The invitations of one campaign activity at one start time."""

    activity_id: int
    starts_at: datetime

    @property
    def stamp(self) -> int:
        return int(self.starts_at.timestamp())

    @property
    def _redis_key(self) -> str:
        return f"reminders:invitations:{self.activity_id}:{self.stamp}"


def due_invitations(*, now: datetime, window: timedelta = CATCH_UP, timing: Timing | None = None) -> list[Invitation]:
    """Campaign activities whose invitations fell due in (now - window, now] and are not known to be done."""
    timing = timing or Timing.from_settings()
    ranges = _local_start_ranges(now, window, timing.day_before_hour, days_ahead=timing.invitation_days_before)
    if not ranges:
        return []
    rows = db.session.execute(select(Activity.id, Activity.starts_at).where(
        Activity.status == ActivityStatus.PUBLISHED, Activity.campaign_id.is_not(None), Activity.starts_at > now,
        Activity.seats_taken < Activity.capacity,
        or_(*((Activity.starts_at >= low) & (Activity.starts_at < high) for low, high in ranges)),
    ).order_by(Activity.starts_at, Activity.id)).all()
    due = [Invitation(activity_id, starts_at) for activity_id, starts_at in rows
           if now - window < timing.invitation_at(starts_at) <= now]
    return [invitation for invitation in due if progress(invitation) != "done"]


def invite_batch(invitation: Invitation, *, now: datetime, after_volunteer_id: int = 0,
                 limit: int = INVITATION_BATCH) -> tuple[int, int | None]:
    """Invite the next `limit` volunteers by id after `after_volunteer_id`; (written, where to go on, or None at the end).

    Keyset pagination over the activity's region subtree: approved volunteers with no sign-up row
    for it (a cancelled or refused one counts as an answer) and no invitation yet. Those the sign-up
    gates would refuse (a required skill missing, under the minimum age) are passed over.
    """
    activity = db.session.get(Activity, invitation.activity_id)
    if (activity is None or activity.status is not ActivityStatus.PUBLISHED or activity.campaign_id is None
            or activity.starts_at != invitation.starts_at or activity.starts_at <= now
            or activity.seats_taken >= activity.capacity):
        return 0, None
    campaign = db.session.get(Campaign, activity.campaign_id)
    subtree = select(Region.id).where(Region.path.startswith(
        select(Region.path).where(Region.id == activity.region_id).scalar_subquery(), autoescape=False))
    key = notifications.idempotency_key(INVITATION, ("a", activity.id), invitation.stamp, ("v", Volunteer.id))
    rows = db.session.execute(
        select(Volunteer.id, Volunteer.account_id, Volunteer.skills, Volunteer.birth_date).where(
            Volunteer.id > after_volunteer_id, Volunteer.status == VolunteerStatus.APPROVED,
            Volunteer.region_id.in_(subtree),
            ~exists().where(Signup.activity_id == activity.id, Signup.volunteer_id == Volunteer.id),
            ~exists().where(Notification.idempotency_key == key))
        .order_by(Volunteer.id).limit(limit)
    ).all()
    message = _invitation_message(activity, campaign)
    written = 0
    for volunteer_id, account_id, skills, birth_date in rows:
        if not can_sign_up(activity, skills, birth_date):
            continue
        written += notifications.notify(account_id, (("a", activity.id), invitation.stamp, ("v", volunteer_id)), message,
                                        now=now, activity_id=activity.id) is not None
    return written, rows[-1][0] if len(rows) == limit else None


def can_sign_up(activity: Activity, skills: Iterable[str] | None, birth_date: date | None) -> bool:
    """The sign-up gates an invitation can check ahead: every required skill, the minimum age."""
    if any(skill not in (skills or []) for skill in activity.required_skills or []):
        return False
    if activity.min_age is not None:
        return birth_date is not None and age_on(birth_date, to_local(activity.starts_at).date()) >= activity.min_age
    return True


def _invitation_message(activity: Activity, campaign: Campaign | None) -> notifications.Message:
    theme = campaign.theme if campaign else "志愿服务"
    festival = campaign.name if campaign else ""
    return notifications.Message(
        kind=INVITATION, template="campaign_invitation", title=f"{festival}志愿服务活动邀请",
        text=(f"{festival}主题志愿服务活动「{activity.title}」将于{moment_text(activity.starts_at)}"
              f"在{activity.address}开展（主题：{theme}），还有名额，欢迎报名参加。"),
        fields={"thing1": activity.title, "time2": activity.starts_at, "thing3": theme},
        page=f"pages/activity/index?id={activity.id}")


def progress(invitation: Invitation) -> int | str:
    """Where the invitation stream stopped (a volunteer id), "done", or 0 when unknown."""
    try:
        value = get_redis().get(invitation._redis_key)
    except redis.RedisError:
        logger.warning("redis unavailable; invitations of activity %s rescan", invitation.activity_id)
        return 0
    if value is None:
        return 0
    value = value.decode() if isinstance(value, bytes) else value
    return "done" if value == "done" else int(value)


def note_progress(invitation: Invitation, where: int | str) -> None:
    """Remember how far the stream got (call after the batch committed); a lost note only costs a rescan."""
    try:
        get_redis().set(invitation._redis_key, str(where), ex=int(_CURSOR_TTL.total_seconds()))
    except redis.RedisError:
        logger.warning("redis unavailable; invitation progress of activity %s not noted", invitation.activity_id)
