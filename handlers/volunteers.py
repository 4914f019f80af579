"""Volunteer registration (/volunteers), the caller's own archive (/me) and review by organisers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from flask import Blueprint, request
from pydantic import BaseModel, Field, ValidationError

from app import pii
from app.db import unit_of_work
from app.errors import ValidationFailed
from app.extensions import api_spec, settings
from app.services import accounts, roles, volunteers
from app.services.volunteers import Category
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account, login_required
from handlers._schemas import Id, QueryArgs, Skill, StrictBody, answers, id_path
from handlers._validation import fields_of
from models import Volunteer

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


class PendingQuery(QueryArgs):
    status: Literal["pending"] = "pending"
    page: int = Field(default=1, ge=1, le=100000)
    per_page: int = Field(default=20, ge=1, le=100)


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
    status: str = Field(description="pending 审核中 / approved 已通过 / rejected 未通过 / deleted 已注销")
    rejection_reason: str | None
    reviewed_at: datetime | None
    created_at: datetime


class MeView(VolunteerView):
    roles: list[RoleView]


class VolunteerPage(BaseModel):
    items: list[VolunteerView]
    total: int
    page: int
    per_page: int


def _view(volunteer: Volunteer, *, is_owner: bool) -> dict:
    id_number = volunteers.decrypted_id_number(volunteer, settings()["app"]["pii_key"])
    return dict(
        id=volunteer.id,
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
    return MeView(**_view(volunteer, is_owner=True), roles=grants)


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


@blueprint.get("/volunteers")
@login_required
@api_spec.validate(query=PendingQuery, resp=answers(200, VolunteerPage, 401, 403, 422),
                   tags=["volunteers"], security=BEARER_SECURITY)
def list_pending(query: PendingQuery):
    """Pending registrations in the caller's organisation or admin region, oldest first."""
    rows, total = volunteers.list_pending(current_account(), page=query.page, per_page=query.per_page)
    return VolunteerPage(items=[VolunteerView(**_view(v, is_owner=False)) for v in rows], total=total,
                         page=query.page, per_page=query.per_page)


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
