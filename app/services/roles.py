"""Who may act where: role grants and the region scopes they cover."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from app.errors import Forbidden
from app.extensions import db
from app.services import regions
from models import Organization, OrganizationStatus, Region, Role, RoleGrant


def grant(account_id: int, role: Role, *, now: datetime, team_id: int | None = None,
          organization_id: int | None = None, region_id: int | None = None,
          granted_by_account_id: int | None = None) -> RoleGrant:
    """Give a role on one scope; granting the same role twice returns the existing grant."""
    existing = db.session.scalar(select(RoleGrant).where(
        RoleGrant.account_id == account_id, RoleGrant.role == role, RoleGrant.team_id.is_(team_id) if team_id is None
        else RoleGrant.team_id == team_id,
        RoleGrant.organization_id.is_(None) if organization_id is None else RoleGrant.organization_id == organization_id,
        RoleGrant.region_id.is_(None) if region_id is None else RoleGrant.region_id == region_id,
    ))
    if existing:
        return existing
    row = RoleGrant(account_id=account_id, role=role, team_id=team_id, organization_id=organization_id,
                    region_id=region_id, granted_by_account_id=granted_by_account_id, created_at=now)
    db.session.add(row)
    db.session.flush()
    return row


def roles_of(account_id: int) -> list[RoleGrant]:
    """Return every grant an account holds."""
    return list(db.session.scalars(select(RoleGrant).where(RoleGrant.account_id == account_id).order_by(RoleGrant.id)))


def review_scope_paths(account_id: int) -> list[str]:
    """Region paths whose volunteers the account may review: organisers' and admins' regions."""
    organizer_paths = select(Region.path).join(Organization, Organization.region_id == Region.id).join(
        RoleGrant, RoleGrant.organization_id == Organization.id,
    ).where(RoleGrant.account_id == account_id, RoleGrant.role == Role.ORGANIZER,
            Organization.status == OrganizationStatus.APPROVED)
    admin_paths = select(Region.path).join(RoleGrant, RoleGrant.region_id == Region.id).where(
        RoleGrant.account_id == account_id, RoleGrant.role == Role.ADMIN,
    )
    return sorted(set(db.session.scalars(organizer_paths)) | set(db.session.scalars(admin_paths)))


def require_reviewer(account_id: int) -> list[str]:
    """Return the account's review scopes; refuse accounts that have none."""
    paths = review_scope_paths(account_id)
    if not paths:
        raise Forbidden("not_a_reviewer", "只有组织者或地区管理员可以审核志愿者注册")
    return paths


def admin_region_paths(account_id: int) -> list[str]:
    """Region paths of the subtrees the account administers (admin grants only)."""
    return sorted(set(db.session.scalars(select(Region.path).join(RoleGrant, RoleGrant.region_id == Region.id).where(
        RoleGrant.account_id == account_id, RoleGrant.role == Role.ADMIN))))


def administers(account_id: int, region: Region) -> bool:
    """Whether the account is an admin of the region or of a region above it."""
    return any(regions.is_within(region, path) for path in admin_region_paths(account_id))


def organized_organization_ids(account_id: int) -> list[int]:
    """Ids of the organisations the account organises, whatever their review state."""
    return sorted(set(db.session.scalars(select(RoleGrant.organization_id).where(
        RoleGrant.account_id == account_id, RoleGrant.role == Role.ORGANIZER))))


def is_organizer(account_id: int, organization_id: int) -> bool:
    """Tell whether the account organises the organisation."""
    return db.session.scalar(select(RoleGrant.id).where(
        RoleGrant.account_id == account_id, RoleGrant.role == Role.ORGANIZER,
        RoleGrant.organization_id == organization_id).limit(1)) is not None


def is_captain(account_id: int, team_id: int) -> bool:
    """Tell whether the account is a captain of the team."""
    return db.session.scalar(select(RoleGrant.id).where(
        RoleGrant.account_id == account_id, RoleGrant.role == Role.CAPTAIN,
        RoleGrant.team_id == team_id).limit(1)) is not None


def revoke_captain(account_id: int, team_id: int) -> int:
    """Take the captain role on one team from the account; return how many grants went."""
    grants = db.session.scalars(select(RoleGrant).where(
        RoleGrant.account_id == account_id, RoleGrant.role == Role.CAPTAIN, RoleGrant.team_id == team_id)).all()
    for row in grants:
        db.session.delete(row)
    db.session.flush()
    return len(grants)


def revoke_all(account_id: int) -> int:
    """Take every role from the account (account deletion); return how many grants went."""
    return db.session.execute(delete(RoleGrant).where(RoleGrant.account_id == account_id)
                              .execution_options(synchronize_session="fetch")).rowcount
