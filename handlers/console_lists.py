"""The console's lists of an organisation: activities in every state, an attendance sheet, announcements."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint
from pydantic import AwareDatetime, BaseModel, Field

from app import pii
from app.extensions import api_spec
from app.services import console_lists
from app.services.activities import effective_status
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account, login_required
from handlers._schemas import Id, PageQuery, answers, id_path
from handlers.activities import NamedRef
from handlers.announcements import ChannelProgress
from models import ActivityStatus, Team

blueprint = Blueprint("console_lists", __name__, url_prefix="/api/v1")


class OrganizationActivitiesQuery(PageQuery):
    status: Literal["draft", "published", "ongoing", "finished", "evaluated", "withdrawn", "cancelled"] | None = Field(
        default=None, description="按状态筛选（已发布的活动按时间自动变为进行中、已结束）")
    q: str | None = Field(default=None, max_length=60, description="标题中的文字")
    starts_from: AwareDatetime | None = Field(default=None, description="开始时间不早于")
    starts_until: AwareDatetime | None = Field(default=None, description="开始时间早于")
    team_id: Id | None = None
    sort: Literal["starts_at", "-starts_at", "created_at", "-created_at"] | None = Field(
        default=None, description="排序，默认 -starts_at（最晚开始的在前）")


class ActivityLine(BaseModel):
    id: int
    title: str
    status: str = Field(description="draft / published / ongoing / finished / evaluated / withdrawn / cancelled")
    starts_at: datetime
    ends_at: datetime
    team: NamedRef | None
    capacity: int
    seats_taken: int
    signed_up: int = Field(description="已通过的报名人数")
    pending: int = Field(description="待审核的报名人数")
    waitlisted: int = Field(description="候补人数")
    checked_in: int = Field(description="已签到人数")


class ActivityListPage(BaseModel):
    items: list[ActivityLine]
    next_cursor: str | None
    total: int
    counts: dict[str, int] = Field(description="各状态的活动数（同样的筛选条件，不含状态）")


@blueprint.get(f"/organizations/{id_path('organization_id')}/activities")
@login_required
@api_spec.validate(query=OrganizationActivitiesQuery, resp=answers(200, ActivityListPage, 401, 403, 404, 422),
                   tags=["activities"], security=BEARER_SECURITY)
def organization_activities(organization_id: int, query: OrganizationActivitiesQuery):
    """An organisation's activities in every state, with counts per state: organisers (drafts too), its
    captains (their teams'), admins over its region."""
    now = current_time()
    filters = console_lists.ActivityFilters(
        status=ActivityStatus(query.status) if query.status else None, q=query.q, starts_from=query.starts_from,
        starts_until=query.starts_until, team_id=query.team_id)
    rows, next_cursor, total, counts = console_lists.organization_activities(
        current_account(), organization_id, filters, sort=query.sort or console_lists.DEFAULT_ACTIVITY_SORT,
        limit=query.limit, cursor=query.cursor, now=now)
    numbers = console_lists.attendance_counts([a.id for a in rows])
    items = []
    for activity in rows:
        team: Team | None = activity.team
        items.append(ActivityLine(
            id=activity.id, title=activity.title, status=effective_status(activity, now).value,
            starts_at=activity.starts_at, ends_at=activity.ends_at,
            team=NamedRef(id=team.id, name=team.name) if team else None, capacity=activity.capacity,
            seats_taken=activity.seats_taken, **numbers[activity.id]))
    return ActivityListPage(items=items, next_cursor=next_cursor, total=total, counts=counts)


class SheetVolunteer(BaseModel):
    id: int
    name: str = Field(description="脱敏姓名")
    mobile: str | None = Field(description="脱敏手机号")
    volunteer_number: str | None = Field(default=None, description="志愿者编号")


class SheetLineView(BaseModel):
    signup_id: int
    volunteer: SheetVolunteer
    signup_status: str = Field(description="pending / approved / waitlisted / rejected / cancelled")
    signed_up_at: datetime
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    checkin_method: str | None
    checkout_method: str | None = Field(description="auto_close：忘记签退，由系统在活动结束时关闭")
    service_minutes: int = Field(description="本活动计入的服务时长（分钟）")
    unconfirmed_records: int
    flags: list[str] = Field(description="needs_review 待复核 / forgotten_checkout 忘记签退 / no_show 未到 / "
                                         "unconfirmed 时长待确认")
    record_id: int | None = Field(description="签退后生成的考勤服务记录（更正时长时指向它）；尚无记录为 null")


class SheetTotals(BaseModel):
    signups: int
    approved: int
    pending: int
    waitlisted: int
    cancelled: int
    rejected: int
    checked_in: int
    checked_out: int
    present: int = Field(description="已签到未签退")
    needs_review: int
    forgotten_checkout: int
    no_show: int
    service_minutes: int


class AttendanceSheet(BaseModel):
    activity: NamedRef
    status: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    items: list[SheetLineView]
    totals: SheetTotals


@blueprint.get(f"/activities/{id_path('activity_id')}/attendance")
@login_required
@api_spec.validate(resp=answers(200, AttendanceSheet, 401, 403, 404), tags=["checkins"], security=BEARER_SECURITY)
def attendance_sheet(activity_id: int):
    """The attendance sheet (every sign-up, check-in and check-out, minutes, flags, totals) for the activity's managers."""
    now = current_time()
    activity, lines = console_lists.attendance(current_account(), activity_id, now=now)
    return AttendanceSheet(
        activity=NamedRef(id=activity.id, name=activity.title), status=effective_status(activity, now).value,
        starts_at=activity.starts_at, ends_at=activity.ends_at, capacity=activity.capacity,
        items=[SheetLineView(
            signup_id=line.signup_id,
            volunteer=SheetVolunteer(id=line.volunteer_id, name=pii.mask_name(line.real_name),
                                     mobile=pii.mask_mobile(line.mobile), volunteer_number=line.volunteer_number),
            signup_status=line.signup_status.value, signed_up_at=line.signed_up_at, checked_in_at=line.checked_in_at,
            checked_out_at=line.checked_out_at, checkin_method=line.checkin_method,
            checkout_method=line.checkout_method, service_minutes=line.service_minutes,
            unconfirmed_records=line.unconfirmed_records, flags=line.flags, record_id=line.record_id)
            for line in lines],
        totals=SheetTotals(**console_lists.sheet_totals(lines)),
    )


class AnnouncementLine(BaseModel):
    id: int
    title: str
    activity_id: int | None
    audience: dict = Field(description="{kind: organization|team|activity|region, id, categories, skills}")
    status: str = Field(description="queued 正在生成接收名单 / fanned_out 名单已生成，正在发送")
    recipients: int
    unreachable: int = Field(description="其中只能在站内信查看的人数")
    author_account_id: int | None
    created_at: datetime
    fanned_out_at: datetime | None
    progress: dict[str, ChannelProgress] = Field(description="按渠道：待发送、已发送、失败、跳过、结果未知")


class AnnouncementListPage(BaseModel):
    items: list[AnnouncementLine]
    next_cursor: str | None
    total: int


@blueprint.get(f"/organizations/{id_path('organization_id')}/announcements")
@login_required
@api_spec.validate(query=PageQuery, resp=answers(200, AnnouncementListPage, 401, 403, 404, 422),
                   tags=["announcements"], security=BEARER_SECURITY)
def organization_announcements(organization_id: int, query: PageQuery):
    """The organisation's announcements, newest first, each with its progress per channel (organisers, admins over it)."""
    rows, next_cursor, total = console_lists.organization_announcements(
        current_account(), organization_id, limit=query.limit, cursor=query.cursor)
    progress = console_lists.announcement_progress([a.id for a in rows])
    return AnnouncementListPage(items=[AnnouncementLine(
        id=a.id, title=a.title, activity_id=a.activity_id, audience=a.audience, status=a.status.value,
        recipients=a.recipient_count, unreachable=a.unreachable_count, author_account_id=a.author_account_id,
        created_at=a.created_at, fanned_out_at=a.fanned_out_at,
        progress={channel: ChannelProgress(**counts) for channel, counts in progress[a.id].items()}) for a in rows],
        next_cursor=next_cursor, total=total)
