"""Activities: organisers create, edit, publish, cancel and evaluate them; volunteers find them."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, func, select

from app.errors import Conflict, DomainError, NotFound
from app.extensions import db, settings
from app.services import access, audit, campaigns, notifications, region_permits, reminders
from app.services.points import earning
from app.services.points import rules as points_rules
from app.texts import moment_text
from models import (Account, Activity, ActivityStatus, Evaluation, Organization, Region, RegionLevel, Signup,
                    SignupStatus, Team, Volunteer)

# Fields an organiser may change after creation, and which of them move the activity in time.
EDITABLE = frozenset({"title", "description", "kind", "themes", "team_id", "address", "beneficiary", "lead_name",
                      "latitude", "longitude",
                      "checkin_radius_m", "starts_at", "ends_at", "capacity", "signup_mode", "required_skills",
                      "min_age", "risk_level", "requires_insurance", "credit_margin_minutes", "points_grade"})
TIME_FIELDS = frozenset({"starts_at", "ends_at"})
# Once an activity has run, its facts are history: only the evaluation may still change.
CLOSED = frozenset({ActivityStatus.WITHDRAWN, ActivityStatus.CANCELLED, ActivityStatus.EVALUATED})
_KM_PER_DEGREE = 111.32


@dataclass(frozen=True)
class Filters:
    region_id: int | None = None
    theme: str | None = None
    kind: str | None = None
    starts_from: datetime | None = None
    starts_until: datetime | None = None
    has_seats: bool | None = None
    near: tuple[float, float, float] | None = None   # latitude, longitude, radius in km
    organization_id: int | None = None


def effective_status(activity: Activity, now: datetime) -> ActivityStatus:
    """The status as time has moved it: a published activity is ongoing from its start, finished after its end."""
    if activity.status is ActivityStatus.PUBLISHED:
        if now >= activity.ends_at:
            return ActivityStatus.FINISHED
        if now >= activity.starts_at:
            return ActivityStatus.ONGOING
    return activity.status


def create(account: Account, values: Mapping[str, Any], *, now: datetime) -> Activity:
    """Create an activity as a draft (or published at once with `publish`)."""
    organization = access.require_organizer(account.id, values["organization_id"], doing="发布活动")
    activity = Activity(organization_id=values["organization_id"], status=ActivityStatus.DRAFT, seats_taken=0,
                        created_by_account_id=account.id, created_at=now, updated_at=now)
    for name in EDITABLE | {"region_id"}:
        if name in values:
            setattr(activity, name, values[name])
    _check(activity, now, schedule_changed=True)
    _require_inside_organization_region(activity, organization)
    db.session.add(activity)
    db.session.flush()
    if values.get("publish"):
        _publish(activity, now)
    audit.record(account.id, "activity.created", "activity", activity.id, now=now)
    return activity


def update(account: Account, activity_id: int, changes: Mapping[str, Any], *, now: datetime) -> Activity:
    """Change an activity that has not run yet; people signed up hear about a new time at once."""
    activity = _organized(account, activity_id, doing="修改活动")
    status = effective_status(activity, now)
    if status in CLOSED or status is ActivityStatus.FINISHED:
        raise Conflict("activity_closed", "活动已结束或已取消，不能再修改")
    unknown = set(changes) - EDITABLE
    if unknown:
        raise DomainError("not_editable", "这些字段不能修改", 422, fields={name: "不能修改" for name in sorted(unknown)})
    if "capacity" in changes and changes["capacity"] < activity.seats_taken:
        raise DomainError("capacity_below_signups", f"已有 {activity.seats_taken} 人报名，名额不能少于此数", 422,
                          fields={"capacity": f"不能少于 {activity.seats_taken}"})
    if "points_grade" in changes and changes["points_grade"] != activity.points_grade:
        # Under the activity's lock; the earning pass reads the row FOR SHARE (app/services/points/earning.py).
        if earning.has_earned(activity.id):
            raise Conflict("points_grade_locked", "本活动已有服务记录获得积分，不能再修改积分等级"
                                                  "（已获得的积分不会按新等级重新计算）")
    old_times = (activity.starts_at, activity.ends_at)
    for name, value in changes.items():
        setattr(activity, name, value)
    _check(activity, now, schedule_changed=bool(TIME_FIELDS & set(changes)), region_changed="region_id" in changes)
    if "region_id" in changes:
        _require_inside_organization_region(activity, db.session.get(Organization, activity.organization_id))
    if TIME_FIELDS & set(changes):
        campaigns.require_within_window(activity)
    activity.updated_at = now
    db.session.flush()
    if (activity.starts_at, activity.ends_at) != old_times and activity.status is ActivityStatus.PUBLISHED:
        # Unsent reminders name the old time; the reminder job writes new ones for the new time.
        reminders.withdraw(activity.id)
        _tell_signed_up(activity, "time_changed", f"时间调整为{moment_text(activity.starts_at)}开始", now)
    audit.record(account.id, "activity.updated", "activity", activity.id, now=now, fields=sorted(changes))
    return activity


def publish(account: Account, activity_id: int, *, now: datetime) -> Activity:
    """Make a draft visible to volunteers."""
    activity = _organized(account, activity_id, doing="发布活动")
    if activity.status is not ActivityStatus.DRAFT:
        raise Conflict("not_a_draft", "只有草稿可以发布")
    if activity.starts_at <= now:
        raise DomainError("starts_in_the_past", "活动开始时间已过，请先修改时间", 422, fields={"starts_at": "需晚于现在"})
    _publish(activity, now)
    campaigns.refresh_status(activity.campaign_id)
    audit.record(account.id, "activity.published", "activity", activity.id, now=now)
    return activity


def cancel(account: Account, activity_id: int, *, reason: str, now: datetime) -> Activity:
    """Withdraw an activity nobody joined, or cancel one with sign-ups and tell everyone signed up."""
    activity = _organized(account, activity_id, doing="取消活动")
    status = effective_status(activity, now)
    if status in CLOSED or status is ActivityStatus.FINISHED:
        raise Conflict("activity_closed", "活动已结束或已取消")
    has_signups = db.session.scalar(select(func.count()).select_from(Signup).where(
        Signup.activity_id == activity.id, Signup.status.in_(_WAITING_OR_IN))) > 0
    activity.status = ActivityStatus.CANCELLED if has_signups else ActivityStatus.WITHDRAWN
    activity.cancel_reason = reason
    activity.cancelled_at = now
    activity.updated_at = now
    db.session.flush()
    campaigns.refresh_status(activity.campaign_id)
    # Unsent reminders and campaign invitations no longer apply, whether or not anyone signed up.
    reminders.withdraw(activity.id)
    if has_signups:
        _tell_signed_up(activity, "cancelled", f"已取消，原因：{reason}", now)
    audit.record(account.id, f"activity.{activity.status.value}", "activity", activity.id, now=now)
    return activity


def evaluate(account: Account, activity_id: int, evaluation: Evaluation, *, now: datetime) -> Activity:
    """Rate a finished activity: 优秀, 合格 or 不合格."""
    activity = _organized(account, activity_id, doing="评价活动")
    if effective_status(activity, now) not in (ActivityStatus.FINISHED, ActivityStatus.EVALUATED):
        raise Conflict("not_finished", "活动结束后才能评价")
    activity.status = ActivityStatus.EVALUATED
    activity.evaluation = evaluation
    activity.updated_at = now
    audit.record(account.id, "activity.evaluated", "activity", activity.id, now=now, evaluation=evaluation.value)
    return activity


def visible(account: Account, activity_id: int) -> Activity:
    """Return an activity the account may see: anything published, and drafts of its own organisation."""
    return access.activity(activity_id, drafts_seen_by=account.id)


def search(filters: Filters, *, page: int, per_page: int) -> tuple[list[Activity], int]:
    """Published activities matching the filters, soonest first."""
    query = select(Activity).where(Activity.status == ActivityStatus.PUBLISHED)
    if filters.region_id is not None:
        region = db.session.get(Region, filters.region_id)
        if region is None:
            raise NotFound("region_not_found", "找不到该地区")
        subtree = select(Region.id).where(Region.path.startswith(region.path, autoescape=True))
        query = query.where(Activity.region_id.in_(subtree))
    if filters.theme:
        # Themes are stored as JSON text; matching the quoted, JSON-escaped theme is exact on every backend.
        query = query.where(cast(Activity.themes, String).contains(json.dumps(filters.theme), autoescape=True))
    if filters.kind:
        query = query.where(Activity.kind == filters.kind)
    if filters.starts_from:
        query = query.where(Activity.starts_at >= filters.starts_from)
    if filters.starts_until:
        query = query.where(Activity.starts_at < filters.starts_until)
    if filters.has_seats:
        query = query.where(Activity.seats_taken < Activity.capacity)
    if filters.organization_id is not None:
        query = query.where(Activity.organization_id == filters.organization_id)
    if filters.near:
        latitude, longitude, radius_km = filters.near
        lat_span = radius_km / _KM_PER_DEGREE
        lng_span = radius_km / (_KM_PER_DEGREE * max(math.cos(math.radians(latitude)), 0.01))
        query = query.where(Activity.latitude.between(latitude - lat_span, latitude + lat_span),
                            Activity.longitude.between(longitude - lng_span, longitude + lng_span))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(Activity.starts_at, Activity.id)
                              .offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), total


def distance_km(activity: Activity, latitude: float, longitude: float) -> float | None:
    """Great-circle distance from a point to the activity, if it has coordinates."""
    if activity.latitude is None or activity.longitude is None:
        return None
    return haversine_km(latitude, longitude, activity.latitude, activity.longitude)


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance between two points in kilometres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi, d_lambda = phi2 - phi1, math.radians(lng2 - lng1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 6371.0088 * 2 * math.asin(math.sqrt(min(1.0, a)))


_WAITING_OR_IN = (SignupStatus.PENDING, SignupStatus.APPROVED, SignupStatus.WAITLISTED)


def _organized(account: Account, activity_id: int, *, doing: str) -> Activity:
    activity = access.activity(activity_id, lock=True)
    access.require_organizer(account.id, activity.organization_id, doing=doing)
    return activity


def _publish(activity: Activity, now: datetime) -> None:
    activity.status = ActivityStatus.PUBLISHED
    activity.published_at = now
    activity.updated_at = now


def _check(activity: Activity, now: datetime, *, schedule_changed: bool, region_changed: bool = True) -> None:
    """The rules that no combination of fields may break.

    Runs on the changed object before anything is written: its lookups must not autoflush, or an
    edit that breaks a CHECK constraint (an end before the start) would reach the database first
    and fail there instead of being refused here.
    """
    problems: dict[str, str] = {}
    if activity.ends_at <= activity.starts_at:
        problems["ends_at"] = "需晚于开始时间"
    if activity.ends_at <= now:
        problems["ends_at"] = "需晚于现在"
    if schedule_changed:
        # Only a new time is held to today's limits: an older activity keeps the time it was given.
        limits = settings()["activities"]
        if activity.ends_at - activity.starts_at > timedelta(days=limits["max_duration_days"]):
            problems.setdefault("ends_at", f"活动时长不能超过 {limits['max_duration_days']} 天")
        if activity.starts_at > now + timedelta(days=limits["max_days_ahead"]):
            problems["starts_at"] = f"开始时间不能晚于 {limits['max_days_ahead']} 天后"
    with db.session.no_autoflush:
        region = db.session.get(Region, activity.region_id)
        team = db.session.get(Team, activity.team_id) if activity.team_id is not None else None
    if region is None or region.level is not RegionLevel.COMMUNITY:
        problems["region_id"] = "需为社区（村）"
    elif region.retired_at is not None and region_changed:
        problems["region_id"] = "该地区已撤销"
    if activity.team_id is not None:
        if team is None or team.organization_id != activity.organization_id:
            problems["team_id"] = "需为本组织的队伍"
    if (activity.checkin_radius_m is not None) and (activity.latitude is None or activity.longitude is None):
        problems["checkin_radius_m"] = "设置签到范围需同时提供经纬度"
    if (activity.latitude is None) != (activity.longitude is None):
        problems["latitude"] = "经纬度需同时提供"
    if activity.points_grade is not None and activity.points_grade not in points_rules.GRADES:
        problems["points_grade"] = "需为 1、2、3 级之一"
    if problems:
        raise DomainError("invalid_activity", "活动信息有误，请检查标出的字段", 422, fields=problems)


def _require_inside_organization_region(activity: Activity, organization: Organization) -> None:
    """An activity takes place in its organisation's region subtree, or where an admin permitted it."""
    region_permits.require_inside(organization, db.session.get(Region, activity.region_id))


_CHANGE_TITLES = {"time_changed": "活动时间调整", "cancelled": "活动已取消"}


def _tell_signed_up(activity: Activity, what: str, note: str, now: datetime) -> None:
    """Queue a message to everyone signed up or waiting; one per person and change."""
    rows = db.session.execute(
        select(Signup.id, Volunteer.account_id).join(Volunteer, Volunteer.id == Signup.volunteer_id)
        .where(Signup.activity_id == activity.id, Signup.status.in_(_WAITING_OR_IN))
    ).all()
    for signup_id, account_id in rows:
        notifications.notify(account_id, f"s{signup_id}:{int(now.timestamp())}", notifications.Message(
            kind=f"activity_{what}", template="activity_changed", title=_CHANGE_TITLES[what],
            text=f"您报名的活动「{activity.title}」{note}",
            fields={"thing1": activity.title, "time2": activity.starts_at, "thing3": note},
            page=f"pages/activity/index?id={activity.id}",
        ), now=now, activity_id=activity.id)
