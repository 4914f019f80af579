"""Announcements: an organiser's message to an audience, fanned out to one outbox row per recipient.

The organiser first sees how many people the audience holds and how many no push channel reaches
(`preview`); sending writes the announcement only, after WeChat's content check, so the request
stays fast whatever the audience. The check is a WeChat call, so it runs between two units of
work, never inside one: `prepare` (reads), `check_security` (no transaction), `create` (writes). Workers then fan it out (`fan_out_next`): volunteers in id
order, `fanout_batch_size` per transaction, each batch spending subscribe credits, writing its
rows and moving the announcement's cursor in the same transaction. Memory stays constant, a crash
loses nothing (the next worker resumes at the cursor) and nobody gets two rows (the cursor moves
with the rows, and the rows' keys are unique).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, select

from app.db import JsonArrayOverlaps
from app.errors import DomainError, Forbidden, NotFound
from app.extensions import db, settings
from app.services import access, group_robots, notifications, regions
from app.wechat.errors import WeChatError
from app.wechat.gateway import WeChatGateway
from models import (Account, Activity, Announcement, AnnouncementStatus, MembershipStatus, Notification,
                    NotificationStatus, OfficialFollower, Organization, Region, Signup, SignupStatus,
                    SubscriptionCredit, Team, TeamMembership, Volunteer, VolunteerStatus)

AUDIENCE_KINDS = ("organization", "team", "activity", "region")
TITLE_MAX = 20  # the title is a subscribe message's `thing`
KIND = notifications.NotificationKind.ANNOUNCEMENT
_SIGNED_UP = (SignupStatus.PENDING, SignupStatus.APPROVED, SignupStatus.WAITLISTED)


@dataclass(frozen=True)
class Audience:
    kind: str
    id: int
    categories: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "categories": list(self.categories), "skills": list(self.skills)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Audience:
        return cls(data["kind"], int(data["id"]), tuple(data.get("categories") or ()), tuple(data.get("skills") or ()))


@dataclass(frozen=True)
class Reach:
    recipients: int
    # No subscribe credit for the announcement template and not following the account: inbox only.
    unreachable: int


# --- who may send to whom -------------------------------------------------------------------------

def require_sender(account_id: int, organization_id: int, audience: Audience) -> None:
    """Organisers send for their organisation, to audiences inside it (or inside its region)."""
    organization = access.require_organizer(account_id, organization_id, doing="发布公告", approved=False)
    if audience.kind not in AUDIENCE_KINDS:
        raise DomainError("invalid_audience", "发送对象类型无效", 422, fields={"audience.kind": "未知类型"})
    if audience.kind == "organization" and audience.id != organization_id:
        raise Forbidden("audience_outside_organization", "只能向本组织的志愿者发送公告")
    if audience.kind == "team":
        team = access.team(audience.id)
        if team.organization_id != organization_id:
            raise Forbidden("audience_outside_organization", "只能向本组织的队伍发送公告")
    if audience.kind == "activity":
        activity = access.activity(audience.id)
        if activity.organization_id != organization_id:
            raise Forbidden("audience_outside_organization", "只能向本组织活动的报名者发送公告")
    if audience.kind == "region":
        region = db.session.get(Region, audience.id)
        if region is None:
            raise NotFound("region_not_found", "找不到该地区")
        home = regions.get_region(organization.region_id)
        if not regions.is_within(region, home.path):
            raise Forbidden("audience_outside_organization", "只能向本组织所在地区内的志愿者发送公告")


# --- the audience ---------------------------------------------------------------------------------

def recipients_query(audience: Audience) -> Select:
    """(volunteer id, account id) of the audience's approved volunteers, in volunteer id order."""
    query = select(Volunteer.id, Volunteer.account_id).where(Volunteer.status == VolunteerStatus.APPROVED)
    if audience.kind == "organization":
        query = query.where(exists().where(
            TeamMembership.volunteer_id == Volunteer.id, TeamMembership.status == MembershipStatus.ACTIVE,
            TeamMembership.team_id.in_(select(Team.id).where(Team.organization_id == audience.id))))
    elif audience.kind == "team":
        query = query.where(exists().where(
            TeamMembership.volunteer_id == Volunteer.id, TeamMembership.status == MembershipStatus.ACTIVE,
            TeamMembership.team_id == audience.id))
    elif audience.kind == "activity":
        query = query.where(exists().where(
            Signup.volunteer_id == Volunteer.id, Signup.activity_id == audience.id, Signup.status.in_(_SIGNED_UP)))
    else:
        subtree = select(Region.path).where(Region.id == audience.id).scalar_subquery()
        query = query.where(Volunteer.region_id.in_(
            select(Region.id).where(Region.path.startswith(subtree, autoescape=False))))
    if audience.categories:
        query = query.where(JsonArrayOverlaps(Volunteer.categories, audience.categories))
    if audience.skills:
        query = query.where(JsonArrayOverlaps(Volunteer.skills, audience.skills))
    return query.order_by(Volunteer.id)


def preview(audience: Audience) -> Reach:
    """How many the audience holds, and how many neither a credit nor the official account reaches."""
    template_id = settings()["wechat"]["templates"]["announcement"]
    people = recipients_query(audience).order_by(None).subquery()
    has_credit = exists().where(SubscriptionCredit.account_id == people.c.account_id,
                                SubscriptionCredit.template_id == template_id, SubscriptionCredit.remaining > 0)
    follows = exists().where(Account.id == people.c.account_id, OfficialFollower.openid == Account.oa_openid,
                             OfficialFollower.is_subscribed.is_(True))
    total, unreachable = db.session.execute(select(
        func.count(), func.count().filter(and_(~has_credit, ~follows))
    ).select_from(people)).one()
    return Reach(total or 0, unreachable or 0)


# --- composing and sending --------------------------------------------------------------------------

def check_content(title: str, body: str) -> tuple[str, str]:
    """Trimmed title and body within the limits, or 422 naming the field."""
    title, body = " ".join(title.split()), body.strip()
    problems = {}
    if not title:
        problems["title"] = "请填写标题"
    elif len(title) > TITLE_MAX:
        problems["title"] = f"标题最多 {TITLE_MAX} 个字"
    limit = settings()["broadcasts"]["max_body_chars"]
    if not body:
        problems["body"] = "请填写公告内容"
    elif len(body) > limit:
        problems["body"] = f"内容最多 {limit} 个字，当前 {len(body)} 个字"
    if problems:
        raise DomainError("invalid_announcement", "公告内容有误，请检查标出的字段", 422, fields=problems)
    return title, body


@dataclass(frozen=True)
class Draft:
    """An announcement that passed our own checks: the content trimmed, the sender allowed, the audience not empty."""

    organization_id: int
    title: str
    body: str
    audience: Audience
    activity_id: int | None
    author_openid: str
    reach: Reach


@dataclass(frozen=True)
class Checked:
    """A draft WeChat's content check passed; only `check_security` makes one, and only these are queued."""

    draft: Draft


def prepare(account_id: int, organization_id: int, *, title: str, body: str, audience: Audience,
            activity_id: int | None) -> Draft:
    """Check an announcement before WeChat's content check (reads only; the caller then ends the transaction)."""
    _require_sender_and_activity(account_id, organization_id, audience, activity_id)
    title, body = check_content(title, body)
    reach = preview(audience)
    if reach.recipients == 0:
        raise DomainError("empty_audience", "发送对象中没有可接收公告的志愿者，请调整发送范围或筛选条件", 422)
    author_openid = db.session.scalar(select(Account.mp_openid).where(Account.id == account_id))
    return Draft(organization_id, title, body, audience, activity_id, author_openid or "", reach)


def check_security(gateway: WeChatGateway, draft: Draft) -> Checked:
    """WeChat's content-security check, outside any transaction; nothing is sent unchecked."""
    try:
        suggestion = gateway.check_text_security(draft.author_openid, f"{draft.title}\n{draft.body}", scene=1)
    except WeChatError:
        raise DomainError("content_check_unavailable", "暂时无法完成内容安全检测，请稍后再发送", 503) from None
    if suggestion == "risky":
        raise DomainError("content_rejected", "公告内容未通过微信内容安全检测，请修改后再发送", 422)
    if suggestion != "pass":
        raise DomainError("content_needs_review", "公告内容可能含有敏感信息，请修改措辞后再发送", 422)
    return Checked(draft)


def create(account_id: int, checked: Checked, *, now: datetime) -> tuple[Announcement, Reach]:
    """Queue a checked announcement; the workers fan it out.

    The sender's right is checked again: it may have been withdrawn while WeChat checked the text.
    """
    draft = checked.draft
    _require_sender_and_activity(account_id, draft.organization_id, draft.audience, draft.activity_id)
    announcement = Announcement(organization_id=draft.organization_id, author_account_id=account_id, title=draft.title,
                                body=draft.body, activity_id=draft.activity_id, audience=draft.audience.as_dict(),
                                status=AnnouncementStatus.QUEUED, recipient_count=0, unreachable_count=0,
                                fanout_cursor=0, created_at=now)
    db.session.add(announcement)
    db.session.flush()
    _queue_team_posts(announcement, draft.audience, now)
    return announcement, draft.reach


def _require_sender_and_activity(account_id: int, organization_id: int, audience: Audience,
                                 activity_id: int | None) -> None:
    require_sender(account_id, organization_id, audience)
    if activity_id is not None:
        if access.activity(activity_id).organization_id != organization_id:
            raise access.activity_not_found()


def _queue_team_posts(announcement: Announcement, audience: Audience, now: datetime) -> None:
    """The announcement also goes to the group chats of the teams it addresses that have a robot."""
    if audience.kind == "team":
        team_ids = [audience.id]
    elif audience.kind == "organization":
        team_ids = list(db.session.scalars(select(Team.id).where(Team.organization_id == audience.id)))
    elif audience.kind == "activity":
        team_ids = [tid for tid in [db.session.scalar(select(Activity.team_id).where(Activity.id == audience.id))] if tid]
    else:
        team_ids = []
    teams = db.session.scalars(select(Team).where(Team.id.in_(team_ids))).all() if team_ids else []
    for team in teams:
        if not group_robots.has_webhook(team):
            continue
        notifications.notify_team(team.id, (announcement.id, ("team", team.id)), KIND,
                                  f"【{announcement.title}】\n{announcement.body}", now=now,
                                  announcement_id=announcement.id)


# --- fan-out ----------------------------------------------------------------------------------------

def fan_out_next(*, now: datetime, batch_size: int) -> int:
    """Write the outbox rows of the next batch of one queued announcement; return how many people it covered.

    The caller commits the batch (one unit of work per call: the rows, the credits and the cursor
    land together). Two workers never fan out the same announcement at once: its row is locked for
    the batch (skipped by the other worker on PostgreSQL; on SQLite transactions run one at a time).
    """
    announcement = db.session.scalar(
        select(Announcement).where(Announcement.status == AnnouncementStatus.QUEUED)
        .order_by(Announcement.id).limit(1).with_for_update(skip_locked=True)
    )
    if announcement is None:
        return 0
    audience = Audience.from_dict(announcement.audience)
    batch = db.session.execute(
        recipients_query(audience).where(Volunteer.id > announcement.fanout_cursor).limit(batch_size)
    ).all()
    if not batch:
        announcement.status = AnnouncementStatus.FANNED_OUT
        announcement.fanned_out_at = now
        db.session.flush()
        return 0
    written, unreachable = _write_batch(announcement, [row.account_id for row in batch], now)
    announcement.fanout_cursor = batch[-1].id
    announcement.recipient_count += written
    announcement.unreachable_count += unreachable
    db.session.flush()
    return len(batch)


def _write_batch(announcement: Announcement, account_ids: list[int], now: datetime) -> tuple[int, int]:
    page = f"pages/announcement/index?id={announcement.id}"
    message = notifications.Message(
        kind=KIND, template="announcement", title=announcement.title,
        text=f"【{announcement.title}】{announcement.body}", summary=announcement.body, page=page,
        fields={"thing1": announcement.title, "thing2": _organization_name(announcement.organization_id),
                "time3": announcement.created_at})
    # After a re-run of a batch, people who already have their row keep it and their credit.
    return notifications.notify_many([(account_id, (announcement.id, ("a", account_id))) for account_id in account_ids],
                                     message, now=now, announcement_id=announcement.id)


def _organization_name(organization_id: int) -> str:
    return db.session.scalar(select(Organization.name).where(Organization.id == organization_id)) or ""


# --- progress ---------------------------------------------------------------------------------------

def get_for(account_id: int, announcement_id: int) -> Announcement:
    announcement = db.session.get(Announcement, announcement_id)
    if announcement is None:
        raise NotFound("announcement_not_found", "找不到该公告")
    access.require_organizer(account_id, announcement.organization_id, doing="查看公告发送进度", approved=False)
    return announcement


def progress(announcement: Announcement) -> dict[str, dict[str, int]]:
    """Counts by channel and state: queued (pending or sending), sent, failed, skipped, ambiguous."""
    rows = db.session.execute(
        select(Notification.channel, Notification.status, func.count())
        .where(Notification.announcement_id == announcement.id)
        .group_by(Notification.channel, Notification.status)
    ).all()
    by_channel: dict[str, dict[str, int]] = {}
    for channel, status, count in rows:
        state = "queued" if status in (NotificationStatus.PENDING, NotificationStatus.SENDING) else status.value
        counts = by_channel.setdefault(channel.value, {"queued": 0, "sent": 0, "failed": 0, "skipped": 0, "ambiguous": 0})
        counts[state] = counts.get(state, 0) + count
    return by_channel

