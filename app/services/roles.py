"""Role grants: give and take them. Who may act where is asked in app/services/access.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from app.extensions import db
from models import Role, RoleGrant


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


def revoke_organizer(account_id: int, organization_id: int) -> int:
    """Take the organiser role on one organisation from the account; return how many grants went."""
    return _revoke(RoleGrant.account_id == account_id, RoleGrant.role == Role.ORGANIZER,
                   RoleGrant.organization_id == organization_id)


def revoke_admin(account_id: int, region_id: int) -> int:
    """Take the admin role on one region from the account; return how many grants went."""
    return _revoke(RoleGrant.account_id == account_id, RoleGrant.role == Role.ADMIN, RoleGrant.region_id == region_id)


def _revoke(*conditions) -> int:
    grants = db.session.scalars(select(RoleGrant).where(*conditions)).all()
    for row in grants:
        db.session.delete(row)
    db.session.flush()
    return len(grants)
