"""Teams: organisers create and run them and appoint captains; volunteers join, ask or accept invitations."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, Field

from app import pii
from app.db import unit_of_work
from app.extensions import api_spec, settings
from app.services import teams
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account, login_required
from handlers._schemas import Id, QueryArgs, StrictBody, answers, id_path
from models import JoinMode, MembershipStatus, TeamKind
from models.teams import TEAM_KIND_LABELS

blueprint = Blueprint("teams", __name__, url_prefix="/api/v1")

NAME_FIELD = dict(min_length=2, max_length=50, description="队伍名称，组织内唯一")
KIND_DESCRIPTION = "队伍类型：" + "、".join(f"{kind.value}={label}" for kind, label in TEAM_KIND_LABELS.items())
JOIN_MODE_DESCRIPTION = "加入方式：open 直接加入 / approval 需审核 / invitation 仅限邀请"
MEMBERSHIP_DESCRIPTION = ("requested 申请中 / invited 已邀请 / active 在队 / rejected 申请未通过 / "
                          "removed 已移出")


class CreateBody(StrictBody):
    name: str = Field(**NAME_FIELD)
    kind: TeamKind = Field(default=TeamKind.GENERAL, description=KIND_DESCRIPTION)
    join_mode: JoinMode = Field(default=JoinMode.APPROVAL, description=JOIN_MODE_DESCRIPTION)


class PatchBody(StrictBody):
    # Declared as non-optional types with a None default: an explicit null is refused, absence is fine.
    name: str = Field(default=None, **NAME_FIELD)  # type: ignore[assignment]
    kind: TeamKind = Field(default=None, description=KIND_DESCRIPTION)  # type: ignore[assignment]
    join_mode: JoinMode = Field(default=None, description=JOIN_MODE_DESCRIPTION)  # type: ignore[assignment]


class VolunteerBody(StrictBody):
    volunteer_id: Id = Field(description="志愿者 id")


class DecisionBody(StrictBody):
    decision: Literal["approve", "reject"]
    reason: str | None = Field(default=None, max_length=200, description="拒绝原因（拒绝时必填）")


class MembershipQuery(QueryArgs):
    status: MembershipStatus | None = Field(default=None, description=MEMBERSHIP_DESCRIPTION)
    page: int = Field(default=1, ge=1, le=100000)
    per_page: int = Field(default=20, ge=1, le=100)


class NamedRef(BaseModel):
    id: int
    name: str


class CaptainView(BaseModel):
    account_id: int
    volunteer_id: int | None = Field(description="队长的志愿者 id（未注册为志愿者时为空）")
    name: str | None = Field(description="姓名（脱敏）")


class TeamView(BaseModel):
    id: int
    organization: NamedRef
    name: str
    kind: str = Field(description=KIND_DESCRIPTION)
    kind_label: str
    join_mode: str = Field(description=JOIN_MODE_DESCRIPTION)
    member_count: int = Field(description="在队成员数")
    captains: list[CaptainView]
    created_at: datetime


class TeamList(BaseModel):
    items: list[TeamView]


class TeamRef(BaseModel):
    id: int
    name: str
    kind: str
    kind_label: str
    join_mode: str
    organization: NamedRef


class MemberRef(BaseModel):
    id: int
    name: str = Field(description="姓名（脱敏）")
    mobile: str = Field(description="手机号（脱敏）")


class MembershipView(BaseModel):
    id: int
    team: TeamRef
    status: str = Field(description=MEMBERSHIP_DESCRIPTION)
    is_captain: bool
    reason: str | None = Field(description="申请被拒的原因")
    decided_at: datetime | None
    created_at: datetime
    volunteer: MemberRef | None = Field(default=None, description="组织者和队长查看时提供")


class MembershipPage(BaseModel):
    items: list[MembershipView]
    total: int
    page: int
    per_page: int


def _team_view(summary: teams.TeamSummary) -> TeamView:
    team = summary.team
    return TeamView(
        id=team.id, organization=NamedRef(id=team.organization.id, name=team.organization.name), name=team.name,
        kind=team.kind.value, kind_label=TEAM_KIND_LABELS[team.kind], join_mode=team.join_mode.value,
        member_count=summary.member_count, created_at=team.created_at,
        captains=[CaptainView(account_id=c.account_id, volunteer_id=c.volunteer_id, name=pii.mask_name(c.real_name))
                  for c in summary.captains],
    )


def _membership_view(member: teams.Member, *, with_volunteer: bool) -> MembershipView:
    team, membership, volunteer = member.team, member.membership, member.volunteer
    return MembershipView(
        id=membership.id,
        team=TeamRef(id=team.id, name=team.name, kind=team.kind.value, kind_label=TEAM_KIND_LABELS[team.kind],
                     join_mode=team.join_mode.value,
                     organization=NamedRef(id=team.organization.id, name=team.organization.name)),
        status=membership.status.value, is_captain=member.is_captain, reason=membership.reason,
        decided_at=membership.decided_at, created_at=membership.created_at,
        volunteer=MemberRef(id=volunteer.id, name=pii.mask_name(volunteer.real_name) or "",
                            mobile=pii.mask_mobile(volunteer.mobile) or "") if with_volunteer else None,
    )


@blueprint.post(f"/organizations/{id_path('organization_id')}/teams")
@login_required
@api_spec.validate(json=CreateBody, resp=answers(201, TeamView, 401, 403, 404, 409, json_body=True),
                   tags=["teams"], security=BEARER_SECURITY)
def create(organization_id: int, json: CreateBody):
    """Create a team in an approved organisation the caller organises."""
    with unit_of_work():
        team = teams.create(current_account(), organization_id, name=json.name, kind=json.kind,
                            join_mode=json.join_mode, now=current_time())
        view = _team_view(teams.summary(team))
    return view, 201


@blueprint.get(f"/organizations/{id_path('organization_id')}/teams")
@login_required
@api_spec.validate(resp=answers(200, TeamList, 401, 404, 422), tags=["teams"], security=BEARER_SECURITY)
def list_for_organization(organization_id: int):
    """The teams of an organisation with their kind, join mode, member count and captains (names masked)."""
    return TeamList(items=[_team_view(s) for s in teams.visible_teams(current_account(), organization_id)])


@blueprint.patch(f"/teams/{id_path('team_id')}")
@login_required
@api_spec.validate(json=PatchBody, resp=answers(200, TeamView, 401, 403, 404, 409, json_body=True),
                   tags=["teams"], security=BEARER_SECURITY)
def update(team_id: int, json: PatchBody):
    """Rename a team or change its kind or join mode (organisers of its organisation)."""
    with unit_of_work():
        team = teams.update(current_account(), team_id, json.model_dump(exclude_unset=True), now=current_time())
        view = _team_view(teams.summary(team))
    return view


class GroupRobotBody(StrictBody):
    webhook_key: str | None = Field(max_length=300, description="企业微信群机器人的 Webhook 地址或其中的 key；null 表示解除")


class GroupRobotView(BaseModel):
    team_id: int
    connected: bool = Field(description="是否已连接群机器人（密钥不会返回）")


@blueprint.put(f"/teams/{id_path('team_id')}/group-robot")
@login_required
@api_spec.validate(json=GroupRobotBody, resp=answers(200, GroupRobotView, 401, 403, 404, json_body=True),
                   tags=["teams"], security=BEARER_SECURITY)
def set_group_robot(team_id: int, json: GroupRobotBody):
    """Connect the team's WeCom group chat through its group robot, so announcements reach the chat."""
    with unit_of_work():
        team = teams.set_group_robot(current_account(), team_id, json.webhook_key,
                                     pii_key=settings()["app"]["pii_key"], now=current_time())
        view = GroupRobotView(team_id=team.id, connected=team.robot_webhook_key_encrypted is not None)
    return view


@blueprint.post(f"/teams/{id_path('team_id')}/captains")
@login_required
@api_spec.validate(json=VolunteerBody, resp=answers((201, 200), TeamView, 401, 403, 404, json_body=True),
                   tags=["teams"], security=BEARER_SECURITY)
def appoint_captain(team_id: int, json: VolunteerBody):
    """Appoint an approved active member captain (201); appointing a captain again changes nothing (200)."""
    with unit_of_work():
        team, appointed = teams.appoint_captain(current_account(), team_id, json.volunteer_id, now=current_time())
        view = _team_view(teams.summary(team))
    return view, 201 if appointed else 200


@blueprint.delete(f"/teams/{id_path('team_id')}/captains/{id_path('volunteer_id')}")
@login_required
@api_spec.validate(resp=answers(200, TeamView, 401, 403, 404, 422), tags=["teams"], security=BEARER_SECURITY)
def dismiss_captain(team_id: int, volunteer_id: int):
    """Take the captain role on the team from a volunteer (404 if they are not a captain)."""
    with unit_of_work():
        team = teams.dismiss_captain(current_account(), team_id, volunteer_id, now=current_time())
        view = _team_view(teams.summary(team))
    return view


@blueprint.post(f"/teams/{id_path('team_id')}/join")
@login_required
@api_spec.validate(resp=answers((201, 202, 200), MembershipView, 401, 403, 404, 422), tags=["teams"],
                   security=BEARER_SECURITY)
def join(team_id: int):
    """Join: open teams at once (201), approval teams by request (202), invitations accepted (201); 200 if unchanged."""
    with unit_of_work():
        member, moved = teams.join(current_account(), team_id, now=current_time())
        view = _membership_view(member, with_volunteer=False)
    if not moved:
        return view, 200
    return view, 202 if member.membership.status is MembershipStatus.REQUESTED else 201


@blueprint.post(f"/teams/{id_path('team_id')}/invitations")
@login_required
@api_spec.validate(json=VolunteerBody, resp=answers((201, 200), MembershipView, 401, 403, 404, 409, json_body=True),
                   tags=["teams"], security=BEARER_SECURITY)
def invite(team_id: int, json: VolunteerBody):
    """Invite an approved volunteer (201); inviting again changes nothing (200). They accept with /join."""
    with unit_of_work():
        member, invited = teams.invite(current_account(), team_id, json.volunteer_id, now=current_time())
        view = _membership_view(member, with_volunteer=True)
    return view, 201 if invited else 200


@blueprint.post(f"/teams/{id_path('team_id')}/members/{id_path('volunteer_id')}/decision")
@login_required
@api_spec.validate(json=DecisionBody, resp=answers(200, MembershipView, 401, 403, 404, 409, json_body=True),
                   tags=["teams"], security=BEARER_SECURITY)
def decide(team_id: int, volunteer_id: int, json: DecisionBody):
    """Approve or reject (with a reason) a request to join, as an organiser or a captain of the team."""
    with unit_of_work():
        member = teams.decide(current_account(), team_id, volunteer_id, approve=json.decision == "approve",
                              reason=json.reason, now=current_time())
        view = _membership_view(member, with_volunteer=True)
    return view


@blueprint.delete(f"/teams/{id_path('team_id')}/members/{id_path('volunteer_id')}")
@login_required
@api_spec.validate(resp=answers(200, MembershipView, 401, 403, 404, 422), tags=["teams"], security=BEARER_SECURITY)
def remove_member(team_id: int, volunteer_id: int):
    """Remove a member or withdraw an invitation; a removed captain stops being captain of the team."""
    with unit_of_work():
        member = teams.remove_member(current_account(), team_id, volunteer_id, now=current_time())
        view = _membership_view(member, with_volunteer=True)
    return view


@blueprint.get(f"/teams/{id_path('team_id')}/members")
@login_required
@api_spec.validate(query=MembershipQuery, resp=answers(200, MembershipPage, 401, 403, 404, 422), tags=["teams"],
                   security=BEARER_SECURITY)
def list_members(team_id: int, query: MembershipQuery):
    """A team's members and requests, for the organisers of its organisation and its captains (masked)."""
    rows, total = teams.list_members(current_account(), team_id, status=query.status, page=query.page,
                                     per_page=query.per_page)
    return MembershipPage(items=[_membership_view(m, with_volunteer=True) for m in rows], total=total,
                          page=query.page, per_page=query.per_page)


@blueprint.get("/me/teams")
@login_required
@api_spec.validate(query=MembershipQuery, resp=answers(200, MembershipPage, 401, 403, 422), tags=["teams"],
                   security=BEARER_SECURITY)
def my_teams(query: MembershipQuery):
    """The caller's teams, requests and invitations, latest first."""
    rows, total = teams.my_teams(current_account(), status=query.status, page=query.page, per_page=query.per_page)
    return MembershipPage(items=[_membership_view(m, with_volunteer=False) for m in rows], total=total,
                          page=query.page, per_page=query.per_page)
