"""Festival-day campaigns: drafts made ahead of each day, activities that serve them, the yearly count.

Policy asks every organisation for at least ten festival campaigns a year. A campaign is one
festival day of one year for one organisation (or region-wide, made by an admin). A draft is made
`campaigns.draft_days_ahead` days before the day and the organisation's organisers are asked to plan
an activity for it; a campaign counts toward the year once an activity that is not withdrawn or
cancelled serves it.

The calendar holds: an activity serves a campaign only if it starts (Shanghai day) within
`campaigns.window_days_before` days before to `campaigns.window_days_after` days after the festival
day. A link outside the window is refused (`outside_campaign_window`), and so is moving a linked
activity's time out of it: the organiser unlinks it first, so a statistic never changes silently.
A campaign is `planned` exactly while a published (not draft, withdrawn or cancelled) activity serves
it: linking, moving to another campaign, unlinking, publishing and cancelling recompute the state of
every campaign they touch (`refresh_status`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.db import insert_unless_present
from app.errors import Conflict, DomainError, Forbidden, NotFound
from app.extensions import db, settings
from app.services import access, audit, calendar, notifications, regions
from app.texts import day_text
from app.timeutil import to_local
from models import Activity, ActivityStatus, Campaign, CampaignStatus, Organization, OrganizationStatus, Region

# Activities in these states do not make a campaign count.
_NOT_COUNTING = (ActivityStatus.DRAFT, ActivityStatus.WITHDRAWN, ActivityStatus.CANCELLED)


def create(account_id: int, *, festival_key: str, year: int, organization_id: int | None, region_id: int | None,
           theme: str | None, lead: str | None, now: datetime) -> Campaign:
    """An organiser opens a campaign for their organisation, or an admin a region-wide one."""
    if organization_id is not None:
        organization = access.require_organizer(account_id, organization_id, doing="发起节庆日活动")
        region_id = organization.region_id
    elif region_id is not None:
        access.require_admin_over(account_id, regions.get_region(region_id), doing="发起全区域的节庆日活动")
    else:
        raise DomainError("organization_or_region_required", "请指定组织（组织发起）或地区（管理员发起全区域活动）", 422,
                          fields={"organization_id": "组织或地区必填其一"})
    calendar.require_year(year)
    festival = calendar.find(festival_key, year, region_id=region_id)
    campaign = Campaign(festival_key=festival.key, year=year, name=festival.name, day=festival.day,
                        organization_id=organization_id, region_id=region_id, theme=theme or festival.theme,
                        lead=lead or festival.lead, status=CampaignStatus.DRAFT, automatic=False,
                        created_by_account_id=account_id, created_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(campaign)
    except IntegrityError:
        raise Conflict("campaign_exists", f"{year} 年的「{festival.name}」节庆日活动已经发起过了") from None
    audit.record(account_id, "campaign.created", "campaign", campaign.id, now=now, festival=festival.key, year=year)
    return campaign


def make_drafts(*, now: datetime, days_ahead: int | None = None) -> int:
    """Make the draft campaigns of the festival days in the next `days_ahead` days; ask organisers to plan.

    Idempotent by (festival, year, organisation): a second run, or two schedulers at once, make
    nothing twice, and the planning message is keyed by the campaign. Returns how many were made.
    """
    days_ahead = days_ahead if days_ahead is not None else settings()["campaigns"]["draft_days_ahead"]
    today = to_local(now).date()
    horizon = today + timedelta(days=days_ahead)
    made = 0
    organizations = db.session.execute(
        select(Organization.id, Organization.region_id).where(Organization.status == OrganizationStatus.APPROVED)
        .order_by(Organization.id)
    ).all()
    for organization_id, region_id in organizations:
        for year in sorted({today.year, horizon.year}):
            for festival in calendar.festival_days(year, region_id=region_id):
                if not today <= festival.day <= horizon:
                    continue
                campaign_id = insert_unless_present(Campaign, {
                    "festival_key": festival.key, "year": year, "name": festival.name, "day": festival.day,
                    "organization_id": organization_id, "region_id": region_id, "theme": festival.theme,
                    "lead": festival.lead, "status": CampaignStatus.DRAFT, "automatic": True, "created_at": now})
                if campaign_id is not None:
                    made += 1
                    _ask_organizers_to_plan(campaign_id, organization_id, festival, now)
    return made


def _campaign(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("campaign_not_found", "找不到该节庆日活动")
    return campaign


def link_activity(account_id: int, campaign_id: int, activity_id: int, *, now: datetime) -> Campaign:
    """An organiser says which campaign an activity of theirs serves."""
    campaign = _campaign(campaign_id)
    activity = access.activity(activity_id)
    access.require_organizer(account_id, activity.organization_id, doing="把活动计入节庆日活动")
    if not _serves(campaign, activity):
        raise Forbidden("campaign_not_yours", "该节庆日活动不属于本组织或本地区")
    if activity.status in (ActivityStatus.WITHDRAWN, ActivityStatus.CANCELLED):
        raise Conflict("activity_closed", "活动已取消，不能计入节庆日活动")
    _require_window(campaign, activity, field="activity_id")
    previous = activity.campaign_id
    activity.campaign_id = campaign.id
    activity.updated_at = now
    db.session.flush()
    # Moving an activity to another campaign may leave the old one without any.
    refresh_status(previous, campaign.id)
    audit.record(account_id, "campaign.activity_linked", "campaign", campaign.id, now=now, activity_id=activity.id,
                 previous_campaign_id=previous)
    return campaign


def unlink_activity(account_id: int, campaign_id: int, activity_id: int, *, now: datetime) -> Campaign:
    """An organiser says an activity no longer serves the campaign (e.g. before moving it in time)."""
    campaign = _campaign(campaign_id)
    activity = access.activity(activity_id)
    access.require_organizer(account_id, activity.organization_id, doing="把活动移出节庆日活动")
    if activity.campaign_id != campaign.id:
        raise NotFound("activity_not_linked", "该活动没有计入这个节庆日活动")
    activity.campaign_id = None
    activity.updated_at = now
    db.session.flush()
    refresh_status(campaign.id)
    audit.record(account_id, "campaign.activity_unlinked", "campaign", campaign.id, now=now, activity_id=activity.id)
    return campaign


def window(campaign: Campaign) -> tuple[date, date]:
    """The first and last Shanghai day on which an activity may start to serve the campaign."""
    conf = settings()["campaigns"]
    return (campaign.day - timedelta(days=conf["window_days_before"]),
            campaign.day + timedelta(days=conf["window_days_after"]))


def require_within_window(activity: Activity) -> None:
    """Refuse a new time that takes a linked activity out of its campaign's window."""
    if activity.campaign_id is None:
        return
    campaign = db.session.get(Campaign, activity.campaign_id)
    if campaign is not None:
        _require_window(campaign, activity, field="starts_at")


def refresh_status(*campaign_ids: int | None) -> None:
    """Set each campaign `planned` if a published activity serves it, else back to `draft`."""
    ids = [campaign_id for campaign_id in campaign_ids if campaign_id is not None]
    if not ids:
        return
    for campaign in db.session.scalars(select(Campaign).where(Campaign.id.in_(ids))):
        served = db.session.scalar(select(Activity.id).where(
            Activity.campaign_id == campaign.id, Activity.status.not_in(_NOT_COUNTING)).limit(1)) is not None
        campaign.status = CampaignStatus.PLANNED if served else CampaignStatus.DRAFT
    db.session.flush()


def _require_window(campaign: Campaign, activity: Activity, *, field: str) -> None:
    first, last = window(campaign)
    if not first <= to_local(activity.starts_at).date() <= last:
        raise DomainError("outside_campaign_window",
                          f"「{campaign.name}」是{day_text(campaign.day)}，计入的活动需在"
                          f"{day_text(first)}至{day_text(last)}之间开始", 422,
                          fields={field: f"需在{day_text(first)}至{day_text(last)}之间"})


def yearly_progress(account_id: int, organization_id: int, year: int) -> dict[str, Any]:
    """An organisation's campaigns of a year, the activities of the organisation linked to each (`linked`:
    not withdrawn or cancelled, soonest first; drafts only for its organisers), and how many count
    toward the target (`activities`: those that are published).

    Seen by the organisation's organisers and by admins of a region above it.
    """
    calendar.require_year(year)
    organization = access.require_overseer(account_id, access.organization(organization_id),
                                           doing="查看本组织的节庆日活动")
    region = regions.get_region(organization.region_id)
    # Its own campaigns and the region-wide ones of the regions above it.
    ancestors = regions.lineage_ids(region)
    campaigns = db.session.scalars(select(Campaign).where(
        Campaign.year == year,
        (Campaign.organization_id == organization_id)
        | (Campaign.organization_id.is_(None) & Campaign.region_id.in_(ancestors)),
    ).order_by(Campaign.day, Campaign.id)).all()
    serving = dict(db.session.execute(
        select(Activity.campaign_id, func.count()).where(
            Activity.organization_id == organization_id, Activity.campaign_id.in_([c.id for c in campaigns]),
            Activity.status.not_in(_NOT_COUNTING))
        .group_by(Activity.campaign_id)
    ).all())
    hidden = [ActivityStatus.WITHDRAWN, ActivityStatus.CANCELLED]
    if not access.is_organizer(account_id, organization_id):
        hidden.append(ActivityStatus.DRAFT)  # admins above see no drafts, as in every other list
    linked: dict[int, list[Activity]] = {campaign.id: [] for campaign in campaigns}
    for activity in db.session.scalars(select(Activity).where(
            Activity.organization_id == organization_id, Activity.campaign_id.in_(list(linked)),
            Activity.status.not_in(hidden)).order_by(Activity.starts_at, Activity.id)):
        linked[activity.campaign_id].append(activity)
    items = [{"campaign": campaign, "activities": serving.get(campaign.id, 0), "linked": linked[campaign.id]}
             for campaign in campaigns]
    counted = sum(1 for item in items if item["activities"])
    target = settings()["campaigns"]["yearly_target"]
    return {"year": year, "target": target, "counted": counted, "reached": counted >= target, "items": items}


def _serves(campaign: Campaign, activity: Activity) -> bool:
    if campaign.organization_id is not None:
        return campaign.organization_id == activity.organization_id
    region = db.session.get(Region, activity.region_id)
    return regions.is_within(region, regions.get_region(campaign.region_id).path)


def _ask_organizers_to_plan(campaign_id: int, organization_id: int, festival: calendar.FestivalDay,
                            now: datetime) -> None:
    organizers = access.organizer_account_ids(organization_id)
    for account_id in organizers:
        notifications.notify(account_id, f"c{campaign_id}:a{account_id}", notifications.Message(
            kind="campaign_planning", template="campaign_planning", title=f"请策划{festival.name}活动",
            text=f"{day_text(festival.day)}是{festival.name}，请策划一次节庆日志愿服务活动（主题：{festival.theme}）。",
            fields={"thing1": festival.name, "date2": festival.day, "thing3": festival.theme},
            page=f"pages/campaign/index?id={campaign_id}",
        ), now=now)
