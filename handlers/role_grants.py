"""Role grants: who holds which role in a scope; organisers appoint organisers, admins appoint admins below them."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint
from pydantic import BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError

from app import pii
from app.db import unit_of_work
from app.extensions import api_spec
from app.services import role_grants
from app.services.paging import encode_cursor
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account_id, login_required
from handlers._schemas import Id, PageQuery, StrictBody, answers, id_path

blueprint = Blueprint("role_grants", __name__, url_prefix="/api/v1")


class GrantQuery(PageQuery):
    organization_id: Id | None = Field(default=None, description="组织：其组织者和各队队长")
    team_id: Id | None = Field(default=None, description="队伍：其队长")
    region_id: Id | None = Field(default=None, description="地区：该地区及下级的管理员和组织者")

    @model_validator(mode="after")
    def _one_scope(self) -> GrantQuery:
        if sum(v is not None for v in (self.organization_id, self.team_id, self.region_id)) != 1:
            raise PydanticCustomError("one_scope", "give exactly one of organization_id, team_id, region_id")
        return self


class VolunteerBody(StrictBody):
    volunteer_id: Id = Field(description="被任命的志愿者（须已通过审核）")


class ScopeRef(BaseModel):
    id: int
    name: str


class RegionRef(BaseModel):
    id: int
    name: str
    level: str


class RoleGrantView(BaseModel):
    id: int
    role: str = Field(description="organizer 组织者 / captain 队长 / admin 管理员")
    account_id: int
    volunteer_id: int | None = Field(description="持有者的志愿者档案；没有档案为 null")
    name: str | None = Field(description="持有者姓名（脱敏，如 张*丰）")
    organization: ScopeRef | None
    team: ScopeRef | None
    region: RegionRef | None
    granted_by_account_id: int | None
    granted_by_name: str | None = Field(description="任命人姓名（脱敏）")
    granted_at: datetime


class RoleGrantPage(BaseModel):
    items: list[RoleGrantView]
    next_cursor: str | None
    total: int


class RemovedView(BaseModel):
    account_id: int
    role: str
    removed: bool


def _view(holder: role_grants.Holder) -> RoleGrantView:
    g = holder.grant
    return RoleGrantView(
        id=g.id, role=g.role.value, account_id=g.account_id, volunteer_id=holder.volunteer_id,
        name=pii.mask_name(holder.real_name), granted_by_account_id=g.granted_by_account_id,
        granted_by_name=pii.mask_name(holder.granted_by_name), granted_at=g.created_at,
        organization=ScopeRef(id=holder.organization.id, name=holder.organization.name) if holder.organization else None,
        team=ScopeRef(id=holder.team.id, name=holder.team.name) if holder.team else None,
        region=RegionRef(id=holder.region.id, name=holder.region.name, level=holder.region.level.value)
        if holder.region else None)


def _grant_view(grant_id: int) -> RoleGrantView:
    [holder] = role_grants.by_ids([grant_id])
    return _view(holder)


@blueprint.get("/role-grants")
@login_required
@api_spec.validate(query=GrantQuery, resp=answers(200, RoleGrantPage, 401, 403, 404, 422), tags=["roles"],
                   security=BEARER_SECURITY)
def list_grants(query: GrantQuery):
    """Who holds which role in one scope (an organisation, a team or a region subtree), in grant order."""
    rows, total = role_grants.holders(current_account_id(), organization_id=query.organization_id,
                                      team_id=query.team_id, region_id=query.region_id, limit=query.limit,
                                      cursor=query.cursor)
    shown = rows[:query.limit]
    next_cursor = encode_cursor((shown[-1].grant.id,)) if len(rows) > query.limit else None
    return RoleGrantPage(items=[_view(h) for h in shown], next_cursor=next_cursor, total=total)


@blueprint.post(f"/organizations/{id_path('organization_id')}/organizers")
@login_required
@api_spec.validate(json=VolunteerBody, resp=answers((201, 200), RoleGrantView, 401, 403, 404, json_body=True),
                   tags=["roles"], security=BEARER_SECURITY)
def appoint_organizer(organization_id: int, json: VolunteerBody):
    """An organiser appoints an approved volunteer organiser (201); appointing again changes nothing (200)."""
    with unit_of_work():
        grant, appointed = role_grants.appoint_organizer(current_account_id(), organization_id, json.volunteer_id,
                                                         now=current_time())
        view = _grant_view(grant.id)
    return view, 201 if appointed else 200


@blueprint.delete(f"/organizations/{id_path('organization_id')}/organizers/{id_path('account_id')}")
@login_required
@api_spec.validate(resp=answers(200, RemovedView, 401, 403, 404, 409), tags=["roles"], security=BEARER_SECURITY)
def remove_organizer(organization_id: int, account_id: int):
    """An organiser removes an organiser of the organisation (409 last_organizer for the only one)."""
    with unit_of_work():
        role_grants.remove_organizer(current_account_id(), organization_id, account_id, now=current_time())
    return RemovedView(account_id=account_id, role="organizer", removed=True)


@blueprint.post(f"/regions/{id_path('region_id')}/admins")
@login_required
@api_spec.validate(json=VolunteerBody, resp=answers((201, 200), RoleGrantView, 401, 403, 404, json_body=True),
                   tags=["roles"], security=BEARER_SECURITY)
def appoint_admin(region_id: int, json: VolunteerBody):
    """An admin appoints an approved volunteer admin of a region strictly below their own (201; again: 200)."""
    with unit_of_work():
        grant, appointed = role_grants.appoint_admin(current_account_id(), region_id, json.volunteer_id,
                                                     now=current_time())
        view = _grant_view(grant.id)
    return view, 201 if appointed else 200


@blueprint.delete(f"/regions/{id_path('region_id')}/admins/{id_path('account_id')}")
@login_required
@api_spec.validate(resp=answers(200, RemovedView, 401, 403, 404), tags=["roles"], security=BEARER_SECURITY)
def remove_admin(region_id: int, account_id: int):
    """An admin removes an admin of a region strictly below their own."""
    with unit_of_work():
        role_grants.remove_admin(current_account_id(), region_id, account_id, now=current_time())
    return RemovedView(account_id=account_id, role="admin", removed=True)
