"""Where an organisation may hold activities: its own region's subtree, and regions an admin permitted.

Trainings and festival campaigns are counted by where activities take place: an organisation of
one street holding a training in another street's community would make that street "trained". So
an activity's community must lie in its organisation's region subtree. An admin of a region that
covers both the organisation's region and another region may permit the organisation to hold
activities in that other region's subtree (a permit per organisation and region, with a reason);
revoking the permit stops new activities there, activities already placed stay where they are.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.errors import DomainError, Forbidden, NotFound
from app.extensions import db
from app.services import access, audit, regions
from models import Organization, Region, RegionPermit


def may_hold_in(organization: Organization, region: Region) -> bool:
    """Whether the organisation may place an activity in the region."""
    home = regions.get_region(organization.region_id)
    if regions.is_within(region, home.path):
        return True
    permitted = db.session.scalars(select(Region.path).join(RegionPermit, RegionPermit.region_id == Region.id)
                                   .where(RegionPermit.organization_id == organization.id)).all()
    return any(regions.is_within(region, path) for path in permitted)


def require_inside(organization: Organization, region: Region) -> None:
    """Refuse an activity placed outside the organisation's region subtree and its permits."""
    if not may_hold_in(organization, region):
        raise DomainError("region_outside_organization",
                          "活动地点不在本组织所在地区内；如需到其他地区开展活动，请联系上级地区的管理员开通", 422,
                          fields={"region_id": "需在本组织所在地区内"})


def grant(account_id: int, organization_id: int, *, region_id: int, reason: str, now: datetime) -> RegionPermit:
    """An admin of a region covering both lets the organisation hold activities in another region."""
    organization, region = _covered(account_id, organization_id, region_id)
    home = regions.get_region(organization.region_id)
    if regions.is_within(region, home.path):
        raise DomainError("region_already_covered", "该地区已在本组织所在地区内，无需开通", 422,
                          fields={"region_id": "已在本组织所在地区内"})
    existing = _find(organization.id, region.id)
    if existing is not None:
        return existing
    permit = RegionPermit(organization_id=organization.id, region_id=region.id, reason=reason,
                          granted_by_account_id=account_id, created_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(permit)
    except IntegrityError:
        # A concurrent grant of the same permit got there first.
        return _find(organization.id, region.id)
    audit.record(account_id, "organization.region_permitted", "organization", organization.id, now=now,
                 region_id=region.id)
    return permit


def revoke(account_id: int, organization_id: int, *, region_id: int, now: datetime) -> RegionPermit:
    """Take a permit back and return it; activities already placed there stay."""
    organization, region = _covered(account_id, organization_id, region_id)
    permit = _find(organization.id, region.id)
    if permit is None:
        raise NotFound("region_permit_not_found", "该组织在这个地区没有跨区开展活动的许可")
    db.session.delete(permit)
    db.session.flush()
    audit.record(account_id, "organization.region_permit_revoked", "organization", organization.id, now=now,
                 region_id=region.id)
    return permit


def permits_of(account_id: int, organization_id: int) -> list[RegionPermit]:
    """An organisation's permits, for its organisers and the admins above it."""
    organization = access.require_overseer(account_id, access.organization(organization_id), doing="查看跨区许可")
    return list(db.session.scalars(select(RegionPermit).where(RegionPermit.organization_id == organization.id)
                                   .order_by(RegionPermit.id)))


def _covered(account_id: int, organization_id: int, region_id: int) -> tuple[Organization, Region]:
    organization = access.organization(organization_id)
    region = regions.get_region(region_id)
    home = regions.get_region(organization.region_id)
    if not any(regions.is_within(home, path) and regions.is_within(region, path)
               for path in access.admin_region_paths(account_id)):
        raise Forbidden("not_admin_of_both_regions", "只有同时管辖本组织所在地区和该地区的管理员可以开通或取消跨区许可")
    return organization, region


def _find(organization_id: int, region_id: int) -> RegionPermit | None:
    return db.session.scalar(select(RegionPermit).where(RegionPermit.organization_id == organization_id,
                                                        RegionPermit.region_id == region_id))
