"""Volunteer registration (/volunteers), the caller's own archive (/me) and review by organisers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from flask import Blueprint, request
from flask import Response as FlaskResponse
from pydantic import BaseModel, Field, ValidationError
from spectree import Response

from app import pii
from app.db import unit_of_work
from app.errors import ErrorBody, ValidationFailed
from app.extensions import api_spec, settings
from app.resident_id import age_on
from app.services import accounts, directory, roles, spreadsheets, volunteers
from app.services.stars import flow as star_flow
from app.services.volunteers import Category
from app.timeutil import current_time, to_local
from handlers._auth import BEARER_SECURITY, current_account, login_required
from handlers._schemas import Id, PageQuery, QueryArgs, Skill, StrictBody, answers, id_path
from handlers._validation import fields_of
from models import Volunteer, VolunteerStatus

blueprint = Blueprint("volunteers", __name__, url_prefix="/api/v1")

MOBILE_PATTERN = r"^1[3-9]\d{9}$"
NAME_PATTERN = r"^[\u4e00-\u9fa5A-Za-z·• ]{2,30}$"
# Nobody registering was born before this (resident ID numbers refuse earlier years too).
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
SKILL_FIELD = Field(default=(), max_length=20, description="特长技能，每项不超过20字")
CATEGORY_FIELD = Field(default=(), max_length=len(Category), description="志愿者类别：" + "、".join(
    f"{c.value}={label}" for c, label in volunteers.CATEGORY_LABELS.items()))


class RegisterBody(StrictBody):
    real_name: str = Field(pattern=NAME_PATTERN, description="真实姓名")
    mobile: str = Field(pattern=MOBILE_PATTERN, description="中国大陆手机号")
    id_number: str | None = Field(default=None, pattern=r"^\d{17}[\dXx]$", description="18位居民身份证号（可选；校验位会被检查）")
    birth_date: date | None = Field(default=None, ge=EARLIEST_BIRTH_DATE, description="出生日期；未填身份证号时必填，不早于 1900-01-01")
    categories: list[Category] = CATEGORY_FIELD
    skills: list[Skill] = SKILL_FIELD
    region_id: Id = Field(description="所在社区（村）的地区 id")
    guardian_name: str | None = Field(default=None, pattern=NAME_PATTERN, description="监护人姓名（未满18周岁必填）")
    guardian_mobile: str | None = Field(default=None, pattern=MOBILE_PATTERN, description="监护人手机号（未满18周岁必填）")


class PatchMeBody(StrictBody):
    # Declared as non-optional types with a None default: an explicit null is refused, absence is fine.
    mobile: str = Field(default=None, pattern=MOBILE_PATTERN)  # type: ignore[assignment]
    categories: list[Category] = CATEGORY_FIELD
    skills: list[Skill] = SKILL_FIELD
    region_id: Id = Field(default=None)  # type: ignore[assignment]
    guardian_name: str | None = Field(default=None, pattern=NAME_PATTERN)
    guardian_mobile: str | None = Field(default=None, pattern=MOBILE_PATTERN)


class ReviewBody(StrictBody):
    decision: Literal["approve", "reject"]
    reason: str | None = Field(default=None, max_length=200, description="驳回原因（驳回时必填）")


class DirectoryFilters(QueryArgs):
    status: Literal["pending", "approved", "rejected", "suspended"] | None = Field(
        default=None, description="pending 审核中 / approved 已通过 / rejected 未通过 / suspended 已暂停；不传为全部")
    q: str | None = Field(default=None, max_length=30, description="姓名中的字，或手机号后四位（恰好4位数字）")
    category: Category | None = Field(default=None, description="志愿者类别")
    skill: Skill | None = Field(default=None, description="特长技能")
    team_id: Id | None = Field(default=None, description="某队伍的在队成员")
    region_id: Id | None = Field(default=None, description="某地区（须在您的管理范围内）及其下级")
    sort: Literal["created_at", "-created_at", "real_name", "-real_name", "total_service_minutes",
                  "-total_service_minutes"] | None = Field(default=None, description="排序，默认 -created_at（最新注册在前）")


class DirectoryQuery(PageQuery, DirectoryFilters):
    # The older numbered paging (the mini-program's review queue): given `page`, OFFSET paging, oldest first.
    page: int | None = Field(default=None, ge=1, le=100000, description="旧式页码（建议改用 cursor）")
    per_page: int | None = Field(default=None, ge=1, le=100, description="旧式每页条数（建议改用 limit）")


class RegionRef(BaseModel):
    id: int
    name: str


class RoleView(BaseModel):
    role: str
    team_id: int | None
    organization_id: int | None
    region_id: int | None


class VolunteerView(BaseModel):
    id: int
    volunteer_number: str | None = Field(description="志愿者编号（审核通过时生成；公开场合以此代替身份证号）")
    real_name: str
    mobile: str | None = Field(description="本人可见完整号码，其他人看到 138****5678")
    id_number: str | None = Field(description="本人可见完整号码，其他人看到脱敏号码")
    gender: str | None
    birth_date: date | None
    categories: list[str]
    skills: list[str]
    region: RegionRef
    guardian_name: str | None
    guardian_mobile: str | None
    status: str = Field(description="pending 审核中 / approved 已通过 / rejected 未通过 / suspended 已暂停 / deleted 已注销")
    rejection_reason: str | None
    reviewed_at: datetime | None
    created_at: datetime


class MeView(VolunteerView):
    roles: list[RoleView]
    star_level: int = Field(description="星级（已评定且未撤销的最高星级），0 为未评定")


class DirectoryItem(BaseModel):
    id: int
    volunteer_number: str | None = Field(description="志愿者编号（审核通过时生成）")
    real_name: str = Field(description="脱敏姓名，如 李*丽")
    mobile: str | None = Field(description="脱敏手机号，如 135****2222")
    gender: str | None
    age: int | None
    categories: list[str]
    skills: list[str]
    region: RegionRef
    status: str = Field(description="pending / approved / rejected / suspended")
    total_service_minutes: int
    service_record_count: int
    created_at: datetime


class DirectoryPage(BaseModel):
    items: list[DirectoryItem]
    next_cursor: str | None = Field(description="下一页的 cursor；最后一页为 null")
    total: int
    page: int | None = Field(default=None, description="旧式页码（仅在请求带 page 时）")
    per_page: int | None = Field(default=None, description="旧式每页条数（仅在请求带 page 时）")


class SignupLine(BaseModel):
    id: int
    activity_id: int
    activity_title: str
    starts_at: datetime
    ends_at: datetime
    status: str
    service_minutes: int


class RecordLine(BaseModel):
    id: int
    activity_id: int
    activity_title: str
    kind: str
    minutes: int
    created_at: datetime


class TeamLine(BaseModel):
    id: int
    name: str
    organization_id: int
    since: datetime


class SignupSummary(BaseModel):
    total: int
    recent: list[SignupLine] = Field(description="最近的报名（按活动开始时间倒序，最多20条）")


class ServiceSummary(BaseModel):
    total_minutes: int
    total_hours: float
    record_count: int
    recorded_by: list[int] | None = Field(
        default=None, description="为空时是全部记录；否则调用者不在该志愿者所在地区的管辖范围内，"
                                  "只能查看这些组织（调用者所管理、曾为其记录时长的组织）记录的部分")
    recent: list[RecordLine] = Field(description="最近的服务记录（最多20条）")


class VolunteerDetail(DirectoryItem):
    id_number: str | None = Field(description="脱敏身份证号")
    guardian_name: str | None
    guardian_mobile: str | None
    rejection_reason: str | None
    suspension_reason: str | None
    suspended_at: datetime | None
    reviewed_at: datetime | None
    signups: SignupSummary
    service: ServiceSummary
    teams: list[TeamLine]


class ReasonBody(StrictBody):
    reason: str = Field(min_length=1, max_length=200, description="原因（记入操作日志）")


class StatusView(BaseModel):
    id: int
    status: str
    suspension_reason: str | None
    suspended_at: datetime | None


class SuspensionView(StatusView):
    signups_cancelled: int = Field(description="随之取消的未开始活动报名数（名额已按候补顺序递补）")


class MobileView(BaseModel):
    mobile: str = Field(description="完整手机号；每次查看都记入操作日志")


def _view(volunteer: Volunteer, *, is_owner: bool) -> dict:
    id_number = volunteers.decrypted_id_number(volunteer, settings()["app"]["pii_key"])
    return dict(
        id=volunteer.id,
        volunteer_number=volunteer.volunteer_number,
        real_name=volunteer.real_name,
        mobile=volunteer.mobile if is_owner else pii.mask_mobile(volunteer.mobile),
        id_number=id_number if is_owner else pii.mask_id_number(id_number),
        gender=volunteer.gender.value if volunteer.gender else None,
        birth_date=volunteer.birth_date,
        categories=volunteer.categories,
        skills=volunteer.skills,
        region=RegionRef(id=volunteer.region.id, name=volunteer.region.name),
        guardian_name=volunteer.guardian_name,
        guardian_mobile=volunteer.guardian_mobile if is_owner else pii.mask_mobile(volunteer.guardian_mobile),
        status=volunteer.status.value,
        rejection_reason=volunteer.rejection_reason,
        reviewed_at=volunteer.reviewed_at,
        created_at=volunteer.created_at,
    )


def _me(volunteer: Volunteer) -> MeView:
    grants = [RoleView(role=g.role.value, team_id=g.team_id, organization_id=g.organization_id, region_id=g.region_id)
              for g in roles.roles_of(volunteer.account_id)]
    return MeView(**_view(volunteer, is_owner=True), roles=grants, star_level=star_flow.current_level(volunteer.id))


@blueprint.post("/volunteers")
@login_required
@api_spec.validate(json=RegisterBody, resp=answers(201, MeView, 401, 409, json_body=True),
                   tags=["volunteers"], security=BEARER_SECURITY)
def register(json: RegisterBody):
    """Register the caller as a volunteer (status pending until reviewed)."""
    form = volunteers.Registration(**json.model_dump(exclude={"categories", "skills"}),
                                   categories=tuple(json.categories), skills=tuple(json.skills))
    with unit_of_work():
        volunteer = volunteers.register(current_account(), form, now=current_time(), pii_key=settings()["app"]["pii_key"])
        view = _me(volunteer)
    return view, 201


@blueprint.get("/me")
@login_required
@api_spec.validate(resp=answers(200, MeView, 401, 404), tags=["volunteers"],
                   security=BEARER_SECURITY)
def get_me():
    """The caller's own archive, unmasked, with their roles."""
    return _me(volunteers.own_volunteer(current_account()))


@blueprint.patch("/me")
@login_required
@api_spec.validate(json=PatchMeBody, resp=answers(200, MeView, 401, 404, json_body=True),
                   tags=["volunteers"], security=BEARER_SECURITY)
def patch_me(json: PatchMeBody):
    """Change what a volunteer may change about themselves."""
    with unit_of_work():
        volunteer = volunteers.update_own(current_account(), json.model_dump(exclude_unset=True), now=current_time())
        view = _me(volunteer)
    return view


def _filters(query: DirectoryFilters) -> directory.Filters:
    return directory.Filters(status=VolunteerStatus(query.status) if query.status else None, q=query.q,
                             category=query.category.value if query.category else None, skill=query.skill,
                             team_id=query.team_id, region_id=query.region_id)


def _item(volunteer: Volunteer, region_name: str) -> dict:
    today = to_local(current_time()).date()
    return dict(
        id=volunteer.id, volunteer_number=volunteer.volunteer_number, real_name=pii.mask_name(volunteer.real_name),
        mobile=pii.mask_mobile(volunteer.mobile),
        gender=volunteer.gender.value if volunteer.gender else None,
        age=age_on(volunteer.birth_date, today) if volunteer.birth_date else None,
        categories=volunteer.categories, skills=volunteer.skills,
        region=RegionRef(id=volunteer.region_id, name=region_name), status=volunteer.status.value,
        total_service_minutes=volunteer.total_service_minutes, service_record_count=volunteer.service_record_count,
        created_at=volunteer.created_at,
    )


@blueprint.get("/volunteers")
@login_required
@api_spec.validate(query=DirectoryQuery, resp=answers(200, DirectoryPage, 401, 403, 422),
                   tags=["volunteers"], security=BEARER_SECURITY)
def list_volunteers(query: DirectoryQuery):
    """The volunteer directory of the caller's regions (organisers, admins): filters, keyset pages, masked."""
    legacy = query.page is not None and query.cursor is None
    limit = (query.per_page or query.limit) if legacy else query.limit
    sort = query.sort or ("created_at" if legacy else directory.DEFAULT_SORT)
    rows, next_cursor, total = directory.search(current_account(), _filters(query), sort=sort, limit=limit,
                                                cursor=query.cursor, page=query.page if legacy else None)
    names = directory.region_names(rows)
    return DirectoryPage(items=[DirectoryItem(**_item(v, names[v.region_id])) for v in rows], next_cursor=next_cursor,
                         total=total, page=query.page if legacy else None, per_page=limit if legacy else None)


@blueprint.get("/volunteers/export.xlsx")
@login_required
@api_spec.validate(query=DirectoryFilters, resp=Response("HTTP_200", HTTP_401=ErrorBody, HTTP_403=ErrorBody,
                                                         HTTP_422=ErrorBody),
                   tags=["volunteers"], security=BEARER_SECURITY)
def export_volunteers(query: DirectoryFilters):
    """The directory as an XLSX spreadsheet (same filters, masked, at most 10,000 rows); audited."""
    now = current_time()
    with unit_of_work():
        rows = directory.export_rows(current_account(), _filters(query), sort=query.sort or directory.DEFAULT_SORT,
                                     now=now)
        names = directory.region_names(rows)
    body = spreadsheets.volunteer_sheet([_item(v, names[v.region_id]) for v in rows], now=now)
    stamp = to_local(now).strftime("%Y%m%d-%H%M")
    return FlaskResponse(body, mimetype=spreadsheets.XLSX_MIMETYPE, headers={
        "Content-Disposition": f"attachment; filename=volunteers-{stamp}.xlsx", "Cache-Control": "no-store"})


@blueprint.get(f"/volunteers/{id_path('volunteer_id')}")
@login_required
@api_spec.validate(resp=answers(200, VolunteerDetail, 401, 403, 404), tags=["volunteers"], security=BEARER_SECURITY)
def get_volunteer(volunteer_id: int):
    """A volunteer's archive (masked), latest sign-ups, service records and teams: organisers and admins over them."""
    found = directory.detail(current_account(), volunteer_id)
    volunteer = found.volunteer
    id_number = volunteers.decrypted_id_number(volunteer, settings()["app"]["pii_key"])
    return VolunteerDetail(
        **_item(volunteer, volunteer.region.name), id_number=pii.mask_id_number(id_number),
        guardian_name=pii.mask_name(volunteer.guardian_name), guardian_mobile=pii.mask_mobile(volunteer.guardian_mobile),
        rejection_reason=volunteer.rejection_reason, suspension_reason=volunteer.suspension_reason,
        suspended_at=volunteer.suspended_at, reviewed_at=volunteer.reviewed_at,
        signups=SignupSummary(total=found.signup_count, recent=[SignupLine(
            id=r.id, activity_id=r.activity_id, activity_title=r.title, starts_at=r.starts_at, ends_at=r.ends_at,
            status=r.status.value, service_minutes=r.service_minutes) for r in found.signups]),
        service=ServiceSummary(total_minutes=found.total_minutes,
                               total_hours=round(found.total_minutes / 60, 1),
                               record_count=found.record_count, recorded_by=found.organizations, recent=[RecordLine(
                                   id=r.id, activity_id=r.activity_id, activity_title=r.title, kind=r.kind.value,
                                   minutes=r.minutes, created_at=r.created_at) for r in found.records]),
        teams=[TeamLine(id=t.id, name=t.name, organization_id=t.organization_id, since=t.created_at) for t in found.teams],
    )


def _status_view(volunteer: Volunteer) -> StatusView:
    return StatusView(id=volunteer.id, status=volunteer.status.value, suspension_reason=volunteer.suspension_reason,
                      suspended_at=volunteer.suspended_at)


@blueprint.post(f"/volunteers/{id_path('volunteer_id')}/suspend")
@login_required
@api_spec.validate(json=ReasonBody, resp=answers(200, SuspensionView, 401, 403, 404, 409, json_body=True),
                   tags=["volunteers"], security=BEARER_SECURITY)
def suspend(volunteer_id: int, json: ReasonBody):
    """Suspend an approved volunteer (no sign-ups, no check-ins) with a reason, cancelling their sign-ups for
    activities not yet started (the waitlists move up); audited, the volunteer is told."""
    with unit_of_work():
        volunteer, cancelled = volunteers.suspend(current_account(), volunteer_id, reason=json.reason,
                                                  now=current_time())
        view = SuspensionView(**_status_view(volunteer).model_dump(), signups_cancelled=cancelled)
    return view


@blueprint.post(f"/volunteers/{id_path('volunteer_id')}/reinstate")
@login_required
@api_spec.validate(json=ReasonBody, resp=answers(200, StatusView, 401, 403, 404, 409, json_body=True),
                   tags=["volunteers"], security=BEARER_SECURITY)
def reinstate(volunteer_id: int, json: ReasonBody):
    """Lift a suspension with a reason; audited, the volunteer is told."""
    with unit_of_work():
        view = _status_view(volunteers.reinstate(current_account(), volunteer_id, reason=json.reason, now=current_time()))
    return view


@blueprint.post(f"/volunteers/{id_path('volunteer_id')}/mobile")
@login_required
@api_spec.validate(json=ReasonBody, resp=answers(200, MobileView, 401, 403, 404, json_body=True),
                   tags=["volunteers"], security=BEARER_SECURITY)
def reveal_mobile(volunteer_id: int, json: ReasonBody):
    """The full mobile number, for an organiser or admin over the volunteer who states a reason; each read audited."""
    with unit_of_work():
        mobile = volunteers.reveal_mobile(current_account(), volunteer_id, reason=json.reason, now=current_time())
    return MobileView(mobile=mobile)


@blueprint.post(f"/volunteers/{id_path('volunteer_id')}/review")
@login_required
@api_spec.validate(json=ReviewBody, resp=answers(200, VolunteerView, 401, 403, 404, 409, json_body=True),
                   tags=["volunteers"], security=BEARER_SECURITY)
def review(volunteer_id: int, json: ReviewBody):
    """Approve or reject a pending registration; the volunteer is notified."""
    with unit_of_work():
        volunteer = volunteers.review(current_account(), volunteer_id, approve=json.decision == "approve",
                                      reason=json.reason, now=current_time())
        view = VolunteerView(**_view(volunteer, is_owner=False))
    return view


class DeleteMeBody(StrictBody):
    confirm: Literal["注销"] = Field(description=f"确认注销：必须为“{accounts.DELETE_CONFIRMATION}”二字。"
                                                "注销后个人信息被删除，无法恢复")


class DeletionView(BaseModel):
    deleted: bool
    signups_cancelled: int = Field(description="取消的未开始活动报名数")
    memberships_ended: int = Field(description="退出的队伍数")
    roles_revoked: int = Field(description="撤销的管理角色数")
    messages_withdrawn: int = Field(description="撤回的待发送消息数")


@blueprint.delete("/me")
@login_required
@api_spec.validate(json=DeleteMeBody, resp=answers(200, DeletionView, 401, 409, json_body=True),
                   tags=["volunteers"], security=BEARER_SECURITY)
def delete_me(json: DeleteMeBody):
    """Delete the caller's account (注销): personal data erased, every token revoked; service records stay anonymised."""
    # spectree validates no body on GET or DELETE (its Flask plugin skips them): parsed here.
    try:
        body = DeleteMeBody.model_validate(request.get_json(silent=True))
    except ValidationError as exc:
        raise ValidationFailed(fields_of(exc.errors())) from None
    with unit_of_work():
        done = accounts.delete(current_account(), confirmation=body.confirm, now=current_time())
    return DeletionView(deleted=True, signups_cancelled=done.signups_cancelled, memberships_ended=done.memberships_ended,
                        roles_revoked=done.roles_revoked, messages_withdrawn=done.messages_withdrawn)
