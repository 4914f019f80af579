"""Organisations: any account applies, admins list and review those in their region subtree,
organisers see and edit their own profile."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, Field

from app.db import unit_of_work
from app.extensions import api_spec
from app.services import organizations
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account, current_account_id, login_required
from handlers._schemas import Id, MultiLine, QueryArgs, StrictBody, answers, id_path
from models import Organization, OrganizationKind, OrganizationStatus

blueprint = Blueprint("organizations", __name__, url_prefix="/api/v1")

class ListQuery(QueryArgs):
    status: OrganizationStatus | None = Field(default=None, description="pending 待审核 / approved 已通过 / rejected 未通过")
    page: int = Field(default=1, ge=1, le=100000)
    per_page: int = Field(default=20, ge=1, le=100)


MOBILE_PATTERN = r"^1[3-9]\d{9}$"
KIND_FIELD_DESCRIPTION = "组织类型：social 社会组织 / government 机关 / enterprise 企事业单位 / school 学校 / community 社区 / other 其他"


class ApplyBody(StrictBody):
    name: str = Field(min_length=2, max_length=100, description="组织名称")
    credit_code: str = Field(min_length=1, max_length=30, description="统一社会信用代码（18位，校验位会被检查）")
    region_id: Id = Field(description="组织所在地区")
    kind: OrganizationKind = Field(description=KIND_FIELD_DESCRIPTION)
    contact_name: str = Field(min_length=1, max_length=32, description="联系人")
    contact_mobile: str = Field(pattern=MOBILE_PATTERN, description="联系人手机号")
    address: str | None = Field(default=None, max_length=200, description="地址")
    description: MultiLine | None = Field(default=None, max_length=2000, description="简介")


class ProfileBody(StrictBody):
    # Non-optional types with a None default: an explicit null is refused for the contact, absence is fine.
    contact_name: str = Field(default=None, min_length=1, max_length=32)  # type: ignore[assignment]
    contact_mobile: str = Field(default=None, pattern=MOBILE_PATTERN)  # type: ignore[assignment]
    address: str | None = Field(default=None, max_length=200)
    description: MultiLine | None = Field(default=None, max_length=2000)


class ReviewBody(StrictBody):
    decision: Literal["approve", "reject"]
    reason: str | None = Field(default=None, max_length=200, description="驳回原因（驳回时必填）")


class RegionRef(BaseModel):
    id: int
    name: str


class OrganizationView(BaseModel):
    id: int
    name: str
    region: RegionRef
    status: str = Field(description="pending 待审核 / approved 已通过 / rejected 未通过")
    approved_at: datetime | None
    rejection_reason: str | None = Field(default=None, description="驳回原因")
    created_at: datetime
    credit_code: str | None = Field(default=None, description="统一社会信用代码（早期登记的组织可能没有）")
    kind: str | None = Field(default=None, description=KIND_FIELD_DESCRIPTION)
    contact_name: str | None = None
    contact_mobile: str | None = Field(default=None, description="联系人手机号（仅组织者、上级管理员和申请人可见）")
    address: str | None = None
    description: str | None = None
    applicant_account_id: int | None = Field(default=None, description="申请人账号；审核通过后成为首位组织者")


class OrganizationPage(BaseModel):
    items: list[OrganizationView]
    total: int
    page: int
    per_page: int


def _view(organization: Organization) -> OrganizationView:
    return OrganizationView(id=organization.id, name=organization.name,
                            region=RegionRef(id=organization.region.id, name=organization.region.name),
                            status=organization.status.value, approved_at=organization.approved_at,
                            rejection_reason=organization.rejection_reason, created_at=organization.created_at,
                            credit_code=organization.credit_code,
                            kind=organization.kind.value if organization.kind else None,
                            contact_name=organization.contact_name, contact_mobile=organization.contact_mobile,
                            address=organization.address, description=organization.description,
                            applicant_account_id=organization.applicant_account_id)


@blueprint.get("/organizations")
@login_required
@api_spec.validate(query=ListQuery, resp=answers(200, OrganizationPage, 401, 422), tags=["organizations"],
                   security=BEARER_SECURITY)
def list_organizations(query: ListQuery):
    """Organisations in the caller's admin region subtrees, those the caller organises and the caller's own
    applications (any state); oldest first, empty for anyone else."""
    rows, total = organizations.list_visible(current_account(), status=query.status, page=query.page,
                                             per_page=query.per_page)
    return OrganizationPage(items=[_view(o) for o in rows], total=total, page=query.page, per_page=query.per_page)


@blueprint.post(f"/organizations/{id_path('organization_id')}/review")
@login_required
@api_spec.validate(json=ReviewBody, resp=answers(200, OrganizationView, 401, 403, 404, 409, json_body=True),
                   tags=["organizations"], security=BEARER_SECURITY)
def review(organization_id: int, json: ReviewBody):
    """Approve or reject (with a reason) a pending organisation in the admin's region subtree."""
    with unit_of_work():
        organization = organizations.review(current_account(), organization_id, approve=json.decision == "approve",
                                            reason=json.reason, now=current_time())
        view = _view(organization)
    return view


@blueprint.post("/organizations")
@login_required
@api_spec.validate(json=ApplyBody, resp=answers(201, OrganizationView, 401, 409, json_body=True),
                   tags=["organizations"], security=BEARER_SECURITY)
def apply(json: ApplyBody):
    """Apply to register an organisation (pending until an admin above its region approves it)."""
    with unit_of_work():
        organization = organizations.apply(current_account(), organizations.Application(**json.model_dump()),
                                           now=current_time())
        view = _view(organization)
    return view, 201


@blueprint.get(f"/organizations/{id_path('organization_id')}")
@login_required
@api_spec.validate(resp=answers(200, OrganizationView, 401, 404), tags=["organizations"], security=BEARER_SECURITY)
def get_organization(organization_id: int):
    """One organisation, for its organisers, the admins above its region and its applicant."""
    return _view(organizations.visible(current_account_id(), organization_id))


@blueprint.patch(f"/organizations/{id_path('organization_id')}")
@login_required
@api_spec.validate(json=ProfileBody, resp=answers(200, OrganizationView, 401, 403, 404, json_body=True),
                   tags=["organizations"], security=BEARER_SECURITY)
def update_profile(organization_id: int, json: ProfileBody):
    """Organisers change the contact, address and description (the name and credit code only through an admin)."""
    with unit_of_work():
        organization = organizations.update_profile(current_account_id(), organization_id,
                                                    json.model_dump(exclude_unset=True), now=current_time())
        view = _view(organization)
    return view
