"""Who holds which role in a scope, and appointing and removing organisers and admins.

Rules (app/services/access.py): an organisation's organisers appoint and remove its organisers
(never the last one); an admin appoints and removes the admins of regions strictly below their own
(`access.require_admin_above`). Listing: an organisation's organisers and the admins above it see its
organisers and its teams' captains; a team's managers and those admins see its captains; the admins
of a region see the admins at and below it and the organisers of the organisations there. Every
change is audited on the organisation or region it concerns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import aliased

from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.services import access, audit, regions, roles
from app.services.paging import decode_cursor, invalid_cursor
from models import (Organization, Region, Role, RoleGrant, Team, Volunteer, VolunteerStatus)


@dataclass(frozen=True)
class Holder:
    grant: RoleGrant
    real_name: str | None
    volunteer_id: int | None
    granted_by_name: str | None
    organization: Organization | None
    team: Team | None
    region: Region | None


def _eligible_volunteer(volunteer_id: int) -> Volunteer:
    volunteer = db.session.get(Volunteer, volunteer_id)
    if volunteer is None or volunteer.status is not VolunteerStatus.APPROVED:
        raise DomainError("volunteer_not_eligible", "只能任命已通过审核的志愿者", 422,
                          fields={"volunteer_id": "不是已通过审核的志愿者"})
    return volunteer


def _lock_organization(organization_id: int) -> Organization:
    # Serialises appointments and removals on one organisation, so two organisers removing each
    # other at once cannot leave it with none.
    found = db.session.scalar(select(Organization).where(Organization.id == organization_id).with_for_update())
    if found is None:
        raise access.organization_not_found()
    return found


def appoint_organizer(account_id: int, organization_id: int, volunteer_id: int, *,
                      now: datetime) -> tuple[RoleGrant, bool]:
    """Make an approved volunteer an organiser of the caller's organisation; return the grant and whether it is new."""
    organization = _lock_organization(organization_id)
    access.require_organizer(account_id, organization.id, doing="任命组织者")
    volunteer = _eligible_volunteer(volunteer_id)
    existed = access.is_organizer(volunteer.account_id, organization.id)
    grant = roles.grant(volunteer.account_id, Role.ORGANIZER, organization_id=organization.id,
                        granted_by_account_id=account_id, now=now)
    if not existed:
        audit.record(account_id, "organization.organizer_appointed", "organization", organization.id, now=now,
                     account_id=volunteer.account_id, volunteer_id=volunteer.id)
    return grant, not existed


def remove_organizer(account_id: int, organization_id: int, organizer_account_id: int, *, now: datetime) -> None:
    """Take the organiser role from one of the organisation's organisers; never the last one."""
    organization = _lock_organization(organization_id)
    # Asked under the lock: an organiser removed a moment ago by another no longer removes anyone.
    access.require_organizer(account_id, organization.id, doing="撤销组织者", approved=False)
    holders = access.organizer_account_ids(organization.id)
    if organizer_account_id not in holders:
        raise NotFound("organizer_not_found", "该账号不是本组织的组织者")
    if len(holders) == 1:
        raise Conflict("last_organizer", "这是本组织唯一的组织者，请先任命其他组织者")
    roles.revoke_organizer(organizer_account_id, organization.id)
    audit.record(account_id, "organization.organizer_removed", "organization", organization.id, now=now,
                 account_id=organizer_account_id)


def appoint_admin(account_id: int, region_id: int, volunteer_id: int, *, now: datetime) -> tuple[RoleGrant, bool]:
    """Make an approved volunteer an admin of a region strictly below the caller's own."""
    region = regions.get_region(region_id)
    access.require_admin_above(account_id, region, doing="任命管理员")
    if region.retired_at is not None:
        raise regions.region_retired()
    volunteer = _eligible_volunteer(volunteer_id)
    existed = volunteer.account_id in _admin_account_ids(region.id)
    grant = roles.grant(volunteer.account_id, Role.ADMIN, region_id=region.id, granted_by_account_id=account_id,
                        now=now)
    if not existed:
        audit.record(account_id, "region.admin_appointed", "region", region.id, now=now,
                     account_id=volunteer.account_id, volunteer_id=volunteer.id)
    return grant, not existed


def remove_admin(account_id: int, region_id: int, admin_account_id: int, *, now: datetime) -> None:
    """Take the admin role on a region strictly below the caller's own."""
    region = regions.get_region(region_id)
    access.require_admin_above(account_id, region, doing="撤销管理员")
    if not roles.revoke_admin(admin_account_id, region.id):
        raise NotFound("region_admin_not_found", "该账号不是该地区的管理员")
    audit.record(account_id, "region.admin_removed", "region", region.id, now=now, account_id=admin_account_id)


def _admin_account_ids(region_id: int) -> set[int]:
    return set(db.session.scalars(select(RoleGrant.account_id).where(RoleGrant.role == Role.ADMIN,
                                                                     RoleGrant.region_id == region_id)))


def _scope_condition(account_id: int, *, organization_id: int | None, team_id: int | None,
                     region_id: int | None) -> ColumnElement:
    """The grants the caller may list in the one scope given, after checking the caller may look there."""
    if organization_id is not None:
        organization = access.organization(organization_id)
        if not access.oversees(account_id, organization):
            raise access.organization_not_found()
        team_ids = select(Team.id).where(Team.organization_id == organization.id)
        return or_(and_(RoleGrant.role == Role.ORGANIZER, RoleGrant.organization_id == organization.id),
                   and_(RoleGrant.role == Role.CAPTAIN, RoleGrant.team_id.in_(team_ids)))
    if team_id is not None:
        team = access.team(team_id)
        organization = access.organization(team.organization_id)
        if not (access.is_captain(account_id, team.id) or access.oversees(account_id, organization)):
            raise access.team_not_found()
        return and_(RoleGrant.role == Role.CAPTAIN, RoleGrant.team_id == team.id)
    region = access.require_admin_over(account_id, regions.get_region(region_id), doing="查看地区内的角色")
    in_subtree = select(Region.id).where(Region.path.startswith(region.path))
    organizations_there = select(Organization.id).where(Organization.region_id.in_(in_subtree))
    return or_(and_(RoleGrant.role == Role.ADMIN, RoleGrant.region_id.in_(in_subtree)),
               and_(RoleGrant.role == Role.ORGANIZER, RoleGrant.organization_id.in_(organizations_there)))


def _query():
    holder, granter = aliased(Volunteer), aliased(Volunteer)
    return (select(RoleGrant, holder.real_name, holder.id, granter.real_name, Organization, Team, Region)
            .outerjoin(holder, holder.account_id == RoleGrant.account_id)
            .outerjoin(granter, granter.account_id == RoleGrant.granted_by_account_id)
            .outerjoin(Organization, Organization.id == RoleGrant.organization_id)
            .outerjoin(Team, Team.id == RoleGrant.team_id)
            .outerjoin(Region, Region.id == RoleGrant.region_id))


def _holders(query) -> list[Holder]:
    return [Holder(grant=g, real_name=name, volunteer_id=vid, granted_by_name=by, organization=o, team=t, region=r)
            for g, name, vid, by, o, t, r in db.session.execute(query).all()]


def by_ids(grant_ids: list[int]) -> list[Holder]:
    """The grants with these ids, with their holders' names and scopes (no access check: the caller did it)."""
    return _holders(_query().where(RoleGrant.id.in_(grant_ids)).order_by(RoleGrant.id))


def holders(account_id: int, *, organization_id: int | None = None, team_id: int | None = None,
            region_id: int | None = None, limit: int, cursor: str | None) -> tuple[list[Holder], int]:
    """One page (`limit + 1` rows, for the caller to cut) of the grants in a scope in grant order, and their total."""
    condition = _scope_condition(account_id, organization_id=organization_id, team_id=team_id, region_id=region_id)
    total = db.session.scalar(select(func.count()).select_from(RoleGrant).where(condition)) or 0
    query = _query().where(condition)
    if cursor is not None:
        (after,) = decode_cursor(cursor, 1)
        if not isinstance(after, int):
            raise invalid_cursor()
        query = query.where(RoleGrant.id > after)
    return _holders(query.order_by(RoleGrant.id).limit(limit + 1)), total
