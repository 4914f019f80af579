"""Teams of an organisation: organisers run them and appoint captains; volunteers join by the join mode.

One membership row per team and volunteer (unique): a repeated or concurrent join returns that row,
and re-joining after a removal or a rejection moves the same row on. Every status change is a
conditional UPDATE on the status it was read in, so two requests racing on one row move it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.errors import Conflict, DomainError, Forbidden, NotFound
from app.extensions import db
from app.services import access, audit, group_robots, roles, volunteers
from models import (Account, JoinMode, MembershipStatus, OrganizationStatus, Role, RoleGrant, Team,
                    TeamKind, TeamMembership, Volunteer, VolunteerStatus)

# Statuses in which a person counts as being in the team or on the way in.
_IN_OR_WAITING = (MembershipStatus.ACTIVE, MembershipStatus.REQUESTED)


@dataclass(frozen=True)
class Captain:
    account_id: int
    volunteer_id: int | None
    real_name: str | None


@dataclass(frozen=True)
class TeamSummary:
    team: Team
    member_count: int
    captains: tuple[Captain, ...]


@dataclass(frozen=True)
class Member:
    membership: TeamMembership
    team: Team
    volunteer: Volunteer
    is_captain: bool


def create(account: Account, organization_id: int, *, name: str, kind: TeamKind, join_mode: JoinMode,
           now: datetime) -> Team:
    """Create a team in an approved organisation the caller organises."""
    access.require_organizer(account.id, organization_id, doing="管理队伍")
    _require_free_name(organization_id, name, team_id=None)
    team = Team(organization_id=organization_id, name=name, kind=kind, join_mode=join_mode, created_at=now)
    db.session.add(team)
    _flush_name(organization_id)
    audit.record(account.id, "team.created", "team", team.id, now=now, organization_id=organization_id,
                 kind=kind.value, join_mode=join_mode.value)
    return team


def update(account: Account, team_id: int, changes: Mapping[str, Any], *, now: datetime) -> Team:
    """Rename a team or change its kind or join mode, as an organiser of its organisation."""
    team = _managed_team(account, team_id)
    if "name" in changes and changes["name"] != team.name:
        _require_free_name(team.organization_id, changes["name"], team_id=team.id)
        team.name = changes["name"]
    if "kind" in changes:
        team.kind = TeamKind(changes["kind"])
    if "join_mode" in changes:
        team.join_mode = JoinMode(changes["join_mode"])
    _flush_name(team.organization_id)
    if changes:
        audit.record(account.id, "team.updated", "team", team.id, now=now, fields=sorted(changes))
    return team


def set_group_robot(account: Account, team_id: int, webhook_key: str | None, *, pii_key: str, now: datetime) -> Team:
    """Connect the team's WeCom group chat (its robot's webhook), or disconnect it with None (captains, organisers)."""
    team = access.require_team_manager(account.id, access.team(team_id), doing="设置本队的群机器人")
    group_robots.set_webhook(team, webhook_key, pii_key=pii_key)
    audit.record(account.id, "team.group_robot_set" if webhook_key else "team.group_robot_removed", "team", team.id,
                 now=now)
    return team


def visible_teams(account: Account, organization_id: int) -> list[TeamSummary]:
    """The teams of an organisation: anyone sees an approved one's, its organisers and admins any."""
    organization = access.organization(organization_id)
    if organization.status is not OrganizationStatus.APPROVED and not access.oversees(account.id, organization):
        raise access.organization_not_found()
    teams = db.session.scalars(select(Team).where(Team.organization_id == organization_id).order_by(Team.id)).all()
    return summarize(list(teams))


def summary(team: Team) -> TeamSummary:
    """One team with its active member count and captains."""
    return summarize([team])[0]


def summarize(teams: list[Team]) -> list[TeamSummary]:
    """Teams with their active member counts and captains, in two queries whatever their number."""
    ids = [team.id for team in teams]
    if not ids:
        return []
    counts = dict(db.session.execute(
        select(TeamMembership.team_id, func.count()).where(
            TeamMembership.team_id.in_(ids), TeamMembership.status == MembershipStatus.ACTIVE,
        ).group_by(TeamMembership.team_id)).tuples().all())
    captains: dict[int, list[Captain]] = {team_id: [] for team_id in ids}
    for team_id, account_id, volunteer_id, real_name in db.session.execute(
            select(RoleGrant.team_id, RoleGrant.account_id, Volunteer.id, Volunteer.real_name)
            .outerjoin(Volunteer, Volunteer.account_id == RoleGrant.account_id)
            .where(RoleGrant.role == Role.CAPTAIN, RoleGrant.team_id.in_(ids)).order_by(RoleGrant.id)):
        captains[team_id].append(Captain(account_id=account_id, volunteer_id=volunteer_id, real_name=real_name))
    return [TeamSummary(team=team, member_count=counts.get(team.id, 0), captains=tuple(captains[team.id]))
            for team in teams]


def appoint_captain(account: Account, team_id: int, volunteer_id: int, *, now: datetime) -> tuple[Team, bool]:
    """Make an approved active member a captain of the team; return the team and whether this call did it."""
    # Locked so a removal of the same member cannot slip between the membership check and the grant.
    team = _managed_team(account, team_id, lock=True)
    volunteer = db.session.get(Volunteer, volunteer_id)
    membership = _membership(team.id, volunteer_id)
    if (volunteer is None or volunteer.status is not VolunteerStatus.APPROVED or membership is None
            or membership.status is not MembershipStatus.ACTIVE):
        raise DomainError("not_a_member", "只能任命本队已通过审核的在队成员为队长", 422,
                          fields={"volunteer_id": "不是本队在队成员"})
    if access.is_captain(volunteer.account_id, team.id):
        return team, False
    roles.grant(volunteer.account_id, Role.CAPTAIN, team_id=team.id, granted_by_account_id=account.id, now=now)
    audit.record(account.id, "team.captain_appointed", "team", team.id, now=now, volunteer_id=volunteer.id)
    return team, True


def dismiss_captain(account: Account, team_id: int, volunteer_id: int, *, now: datetime) -> Team:
    """Take the captain role on the team from a volunteer."""
    team = _managed_team(account, team_id, lock=True)
    volunteer = db.session.get(Volunteer, volunteer_id)
    if volunteer is None or not roles.revoke_captain(volunteer.account_id, team.id):
        raise NotFound("not_a_captain", "该志愿者不是本队队长")
    audit.record(account.id, "team.captain_dismissed", "team", team.id, now=now, volunteer_id=volunteer.id)
    return team


def join(account: Account, team_id: int, *, now: datetime) -> tuple[Member, bool]:
    """Join (open), ask to join (approval) or accept an invitation; return the membership and whether it moved."""
    volunteer = volunteers.own_archive(account, lock=True, approved_for="加入队伍")
    team = access.team(team_id)
    if team.organization.status is not OrganizationStatus.APPROVED:
        raise access.team_not_found()
    existing = _membership(team.id, volunteer.id)
    if existing is not None and existing.status in _IN_OR_WAITING:
        return _member(existing, team, volunteer), False
    if existing is not None and existing.status is MembershipStatus.INVITED:
        target = MembershipStatus.ACTIVE
    elif team.join_mode is JoinMode.OPEN:
        target = MembershipStatus.ACTIVE
    elif team.join_mode is JoinMode.APPROVAL:
        target = MembershipStatus.REQUESTED
    else:
        raise Forbidden("invitation_only", "该队伍仅限受邀加入，请联系队伍所属组织")
    if existing is None:
        membership, inserted = _insert(team.id, volunteer.id, target, now)
        if not inserted:
            return _member(membership, team, volunteer), False
    else:
        membership = existing
        was = existing.status
        # An accepted invitation keeps who invited; a new join or request starts undecided.
        values: dict[str, Any] = {"status": target, "reason": None}
        if was is not MembershipStatus.INVITED:
            values.update(decided_by_account_id=None, decided_at=None)
        if not _move(membership, was, **values):
            return _member(membership, team, volunteer), False
    action = "team.join_requested" if target is MembershipStatus.REQUESTED else "team.joined"
    audit.record(account.id, action, "team_membership", membership.id, now=now, team_id=team.id,
                 status=membership.status.value)
    return _member(membership, team, volunteer), True


def invite(account: Account, team_id: int, volunteer_id: int, *, now: datetime) -> tuple[Member, bool]:
    """Invite an approved volunteer into the team; return the membership and whether this call invited."""
    team = _managed_team(account, team_id)
    volunteer = db.session.scalar(select(Volunteer).where(Volunteer.id == volunteer_id).with_for_update())
    if volunteer is None:
        raise DomainError("volunteer_not_found", "找不到该志愿者", 422, fields={"volunteer_id": "不存在"})
    if volunteer.status is not VolunteerStatus.APPROVED:
        raise DomainError("invitee_not_approved", "只能邀请已通过审核的志愿者", 422,
                          fields={"volunteer_id": "志愿者尚未通过审核"})
    existing = _membership(team.id, volunteer.id)
    if existing is not None and existing.status is MembershipStatus.INVITED:
        return _member(existing, team, volunteer), False
    if existing is not None and existing.status is MembershipStatus.ACTIVE:
        raise Conflict("already_member", "该志愿者已是本队成员")
    if existing is not None and existing.status is MembershipStatus.REQUESTED:
        raise Conflict("already_requested", "该志愿者已申请加入本队，请直接审批")
    values = {"status": MembershipStatus.INVITED, "reason": None, "decided_by_account_id": account.id,
              "decided_at": now}
    if existing is None:
        membership, inserted = _insert(team.id, volunteer.id, MembershipStatus.INVITED, now,
                                       decided_by_account_id=account.id, decided_at=now)
        if not inserted:
            raise Conflict("already_member", "该志愿者刚刚加入或申请了本队，请刷新后再试")
    else:
        membership = existing
        if not _move(membership, existing.status, **values):
            raise Conflict("already_member", "该志愿者刚刚加入或申请了本队，请刷新后再试")
    audit.record(account.id, "team.member_invited", "team_membership", membership.id, now=now, team_id=team.id)
    return _member(membership, team, volunteer), True


def decide(account: Account, team_id: int, volunteer_id: int, *, approve: bool, reason: str | None,
           now: datetime) -> Member:
    """Approve or reject a request to join, as an organiser of the organisation or a captain of the team."""
    team = access.require_team_manager(account.id, access.team(team_id), doing="审批入队申请")
    membership = _membership(team.id, volunteer_id)
    if membership is None:
        raise NotFound("membership_not_found", "找不到该志愿者的入队申请")
    if membership.status is not MembershipStatus.REQUESTED:
        raise Conflict("already_decided", "该入队申请已处理")
    if not approve and not (reason and reason.strip()):
        raise DomainError("reason_required", "拒绝入队申请时请填写原因", 422, fields={"reason": "必填"})
    target = MembershipStatus.ACTIVE if approve else MembershipStatus.REJECTED
    # Conditional update: the organiser and a captain deciding at once land exactly one decision.
    if not _move(membership, MembershipStatus.REQUESTED, status=target, reason=None if approve else reason.strip(),
                 decided_by_account_id=account.id, decided_at=now):
        raise Conflict("already_decided", "该入队申请已处理")
    audit.record(account.id, "team.member_approved" if approve else "team.member_rejected", "team_membership",
                 membership.id, now=now, team_id=team.id, reason=membership.reason)
    return _member(membership, team, db.session.get(Volunteer, volunteer_id))


def remove_member(account: Account, team_id: int, volunteer_id: int, *, now: datetime) -> Member:
    """Remove a member (or withdraw an invitation); a removed captain loses the captain role on the team."""
    team = _managed_team(account, team_id, lock=True)
    membership = _membership(team.id, volunteer_id)
    if membership is None or membership.status not in (MembershipStatus.ACTIVE, MembershipStatus.INVITED):
        raise NotFound("membership_not_found", "该志愿者不是本队成员")
    if not _move(membership, membership.status, status=MembershipStatus.REMOVED, reason=None,
                 decided_by_account_id=account.id, decided_at=now):
        raise NotFound("membership_not_found", "该志愿者不是本队成员")
    volunteer = db.session.get(Volunteer, volunteer_id)
    dismissed = roles.revoke_captain(volunteer.account_id, team.id)
    audit.record(account.id, "team.member_removed", "team_membership", membership.id, now=now, team_id=team.id,
                 captain_dismissed=bool(dismissed))
    return _member(membership, team, volunteer)


def list_members(account: Account, team_id: int, *, status: MembershipStatus | None, page: int,
                 per_page: int) -> tuple[list[Member], int]:
    """A team's memberships, for the organisers of its organisation and its captains; oldest first."""
    team = access.require_team_manager(account.id, access.team(team_id), doing="查看本队成员")
    query = select(TeamMembership, Volunteer).join(Volunteer, Volunteer.id == TeamMembership.volunteer_id).where(
        TeamMembership.team_id == team.id)
    if status is not None:
        query = query.where(TeamMembership.status == status)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.execute(query.order_by(TeamMembership.created_at, TeamMembership.id)
                              .offset((page - 1) * per_page).limit(per_page)).tuples().all()
    captain_accounts = set(db.session.scalars(select(RoleGrant.account_id).where(
        RoleGrant.role == Role.CAPTAIN, RoleGrant.team_id == team.id)))
    return [Member(membership=m, team=team, volunteer=v, is_captain=v.account_id in captain_accounts)
            for m, v in rows], total or 0


def my_teams(account: Account, *, status: MembershipStatus | None, page: int,
             per_page: int) -> tuple[list[Member], int]:
    """The caller's memberships (invitations included), latest first."""
    volunteer = volunteers.own_archive(account)
    query = select(TeamMembership, Team).join(Team, Team.id == TeamMembership.team_id).where(
        TeamMembership.volunteer_id == volunteer.id)
    if status is not None:
        query = query.where(TeamMembership.status == status)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.execute(query.order_by(TeamMembership.created_at.desc(), TeamMembership.id.desc())
                              .offset((page - 1) * per_page).limit(per_page)).tuples().all()
    captain_teams = set(db.session.scalars(select(RoleGrant.team_id).where(
        RoleGrant.role == Role.CAPTAIN, RoleGrant.account_id == account.id)))
    return [Member(membership=m, team=t, volunteer=volunteer, is_captain=t.id in captain_teams)
            for m, t in rows], total or 0


def _managed_team(account: Account, team_id: int, *, lock: bool = False) -> Team:
    team = access.team(team_id, lock=lock)
    access.require_organizer(account.id, team.organization_id, doing="管理队伍")
    return team


def _require_free_name(organization_id: int, name: str, *, team_id: int | None) -> None:
    query = select(Team.id).where(Team.organization_id == organization_id, Team.name == name)
    if team_id is not None:
        query = query.where(Team.id != team_id)
    if db.session.scalar(query.limit(1)) is not None:
        raise Conflict("team_name_taken", "本组织已有同名队伍，请换一个名称")


def _flush_name(organization_id: int) -> None:
    # The unique (organisation, name) constraint decides between two requests naming teams at once.
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise Conflict("team_name_taken", "本组织已有同名队伍，请换一个名称") from None


def _membership(team_id: int, volunteer_id: int) -> TeamMembership | None:
    # populate_existing: statuses move through UPDATE statements, so never trust a cached copy.
    return db.session.scalar(select(TeamMembership).where(
        TeamMembership.team_id == team_id, TeamMembership.volunteer_id == volunteer_id,
    ).execution_options(populate_existing=True))


def _insert(team_id: int, volunteer_id: int, status: MembershipStatus, now: datetime,
            **fields: Any) -> tuple[TeamMembership, bool]:
    """Insert the volunteer's row for the team; if another transaction just did, return that row."""
    try:
        with db.session.begin_nested():
            membership = TeamMembership(team_id=team_id, volunteer_id=volunteer_id, status=status, created_at=now,
                                        **fields)
            db.session.add(membership)
        return membership, True
    except IntegrityError:
        return db.session.scalars(select(TeamMembership).where(
            TeamMembership.team_id == team_id, TeamMembership.volunteer_id == volunteer_id,
        ).execution_options(populate_existing=True)).one(), False


def _move(membership: TeamMembership, was: MembershipStatus, **values: Any) -> bool:
    """Change the row only if it is still in the status it was read in; refresh it either way."""
    changed = db.session.execute(
        sa.update(TeamMembership).where(TeamMembership.id == membership.id, TeamMembership.status == was)
        .values(**values).execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(membership)
    return bool(changed)


def _member(membership: TeamMembership, team: Team, volunteer: Volunteer) -> Member:
    return Member(membership=membership, team=team, volunteer=volunteer,
                  is_captain=access.is_captain(volunteer.account_id, team.id))


def end_memberships(volunteer_id: int, *, now: datetime) -> int:
    """End every membership, request and invitation of the volunteer (account deletion); return how many."""
    return db.session.execute(
        sa.update(TeamMembership).where(TeamMembership.volunteer_id == volunteer_id,
                                        TeamMembership.status.in_((*_IN_OR_WAITING, MembershipStatus.INVITED)))
        .values(status=MembershipStatus.REMOVED, reason="志愿者已注销", decided_by_account_id=None, decided_at=now)
        .execution_options(synchronize_session="fetch")
    ).rowcount
