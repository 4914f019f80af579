"""Organisations: admins list and review those in their region subtree; organisers see their own."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, Field

from app.db import unit_of_work
from app.extensions import api_spec
from app.services import organizations
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account, login_required
from handlers._schemas import QueryArgs, StrictBody, answers, id_path
from models import Organization, OrganizationStatus

blueprint = Blueprint("organizations", __name__, url_prefix="/api/v1")

class ListQuery(QueryArgs):
    status: OrganizationStatus | None = Field(default=None, description="pending 待审核 / approved 已通过 / rejected 未通过")
    page: int = Field(default=1, ge=1, le=100000)
    per_page: int = Field(default=20, ge=1, le=100)


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


class OrganizationPage(BaseModel):
    items: list[OrganizationView]
    total: int
    page: int
    per_page: int


def _view(organization: Organization) -> OrganizationView:
    return OrganizationView(id=organization.id, name=organization.name,
                            region=RegionRef(id=organization.region.id, name=organization.region.name),
                            status=organization.status.value, approved_at=organization.approved_at,
                            rejection_reason=organization.rejection_reason, created_at=organization.created_at)


@blueprint.get("/organizations")
@login_required
@api_spec.validate(query=ListQuery, resp=answers(200, OrganizationPage, 401, 403, 422), tags=["organizations"],
                   security=BEARER_SECURITY)
def list_organizations(query: ListQuery):
    """Organisations in the caller's admin region subtrees, and those the caller organises; oldest first."""
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
