"""Organisations: admins review them within their region subtree; organisers see their own."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import false, func, or_, select, update

from app.errors import Conflict, DomainError, Forbidden
from app.extensions import db
from app.services import access, audit
from models import Account, Organization, OrganizationStatus, Region


def list_visible(account: Account, *, status: OrganizationStatus | None, page: int,
                 per_page: int) -> tuple[list[Organization], int]:
    """One page of the organisations in the caller's admin subtrees or organised by the caller, oldest first."""
    paths = access.admin_region_paths(account.id)
    own_ids = access.organized_organization_ids(account.id)
    if not paths and not own_ids:
        raise Forbidden("not_admin_or_organizer", "只有地区管理员或组织者可以查看组织")
    visible = or_(false(), *(Region.path.startswith(path) for path in paths),
                  Organization.id.in_(own_ids) if own_ids else false())
    base = select(Organization).join(Region, Region.id == Organization.region_id).where(visible)
    if status is not None:
        base = base.where(Organization.status == status)
    total = db.session.scalar(select(func.count()).select_from(base.subquery()))
    rows = db.session.scalars(base.order_by(Organization.created_at, Organization.id)
                              .offset((page - 1) * per_page).limit(per_page))
    return list(rows), total or 0


def review(admin: Account, organization_id: int, *, approve: bool, reason: str | None, now: datetime) -> Organization:
    """Approve or reject a pending organisation in the admin's region subtree."""
    organization = access.organization(organization_id)
    access.require_admin_over(admin.id, organization.region, doing="审核该组织")
    if not approve and not (reason and reason.strip()):
        raise DomainError("reason_required", "驳回组织申请时请填写原因", 422, fields={"reason": "必填"})
    values: dict = {"status": OrganizationStatus.APPROVED if approve else OrganizationStatus.REJECTED}
    if approve:
        values.update(approved_by_account_id=admin.id, approved_at=now)
    else:
        values.update(rejection_reason=reason.strip())
    # Conditional update: of two admins deciding at once, exactly one decision lands.
    changed = db.session.execute(
        update(Organization).where(Organization.id == organization_id,
                                   Organization.status == OrganizationStatus.PENDING)
        .values(**values).execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        raise Conflict("already_decided", "该组织已审核，无需重复操作")
    db.session.refresh(organization)
    audit.record(admin.id, "organization.approved" if approve else "organization.rejected", "organization",
                 organization.id, now=now, reason=None if approve else reason.strip())
    return organization
