"""Write audit entries in the same transaction as the action they record, and read them by scope.

Each entry carries the materialised path of the region its target belongs to (`region_path`), so
the audit log can show a street's admin that street's entries and nothing else. Callers may pass it;
otherwise it is looked up here from the target: an organisation's own region for what an
organisation owns (its teams, memberships, activities, sign-ups, records, corrections, campaigns), a
volunteer's community, a region's own path. Targets without a region (an account without an
archive) get NULL, which only admins of a root region (the city) read.

`entries` reads the log for admins, newest first, by that path (docs/ARCHITECTURE.md, "Audit log").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, false, func, or_, select

from app.errors import Forbidden
from app.extensions import db
from app.services import access, regions
from app.services.paging import decode_cursor, encode_cursor, invalid_cursor
from models import (Activity, AuditLog, Campaign, CorrectionRequest, LocalFestivalDay, Organization, Region,
                    ServiceRecord, Signup, Team, TeamMembership, Volunteer)


def _via_activity(model: Any) -> Select:
    return (select(Region.path).join(Organization, Organization.region_id == Region.id)
            .join(Activity, Activity.organization_id == Organization.id)
            .join(model, model.activity_id == Activity.id))


# target_type → the query of its region's path, given the target's id as `model.id`.
_REGION_PATH_OF: dict[str, tuple[Any, Select]] = {
    "organization": (Organization, select(Region.path).join(Organization, Organization.region_id == Region.id)),
    "region": (Region, select(Region.path)),
    "volunteer": (Volunteer, select(Region.path).join(Volunteer, Volunteer.region_id == Region.id)),
    "account": (Volunteer, select(Region.path).join(Volunteer, Volunteer.region_id == Region.id)),
    "team": (Team, select(Region.path).join(Organization, Organization.region_id == Region.id)
             .join(Team, Team.organization_id == Organization.id)),
    "team_membership": (TeamMembership, select(Region.path).join(Organization, Organization.region_id == Region.id)
                        .join(Team, Team.organization_id == Organization.id)
                        .join(TeamMembership, TeamMembership.team_id == Team.id)),
    "activity": (Activity, select(Region.path).join(Organization, Organization.region_id == Region.id)
                 .join(Activity, Activity.organization_id == Organization.id)),
    "signup": (Signup, _via_activity(Signup)),
    "service_record": (ServiceRecord, _via_activity(ServiceRecord)),
    "correction_request": (CorrectionRequest, _via_activity(CorrectionRequest)),
    "campaign": (Campaign, select(Region.path).join(Campaign, Campaign.region_id == Region.id)),
    "local_festival_day": (LocalFestivalDay, select(Region.path)
                           .join(LocalFestivalDay, LocalFestivalDay.region_id == Region.id)),
}


def region_path_of(target_type: str, target_id: int | None) -> str | None:
    """The region path of a target, or None when it has none (or is unknown)."""
    found = _REGION_PATH_OF.get(target_type)
    if found is None or target_id is None:
        return None
    model, query = found
    key = model.account_id if target_type == "account" else model.id
    return db.session.scalar(query.where(key == target_id).limit(1))


def record(actor_account_id: int | None, action: str, target_type: str, target_id: int | None, *,
           now: datetime, region_path: str | None = None, **detail: Any) -> AuditLog:
    """Append one entry; `detail` must hold ids, states and reasons, never personal data.

    `region_path` is the path of the region the target belongs to; looked up from the target when not given.
    """
    if region_path is None:
        region_path = region_path_of(target_type, target_id)
    entry = AuditLog(actor_account_id=actor_account_id, action=action, target_type=target_type,
                     target_id=target_id, detail=detail, created_at=now, region_path=region_path)
    db.session.add(entry)
    return entry


@dataclass(frozen=True)
class Filters:
    actor_account_id: int | None = None
    action: str | None = None
    target_type: str | None = None
    region_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Entry:
    entry: AuditLog
    actor_name: str | None
    region: Region | None


def entries(account_id: int, filters: Filters, *, limit: int, cursor: str | None) -> tuple[list[Entry], int]:
    """Admins read the audit log of their subtrees, newest first: `limit + 1` entries (for the caller to cut) and the total.

    An admin sees the entries whose region path lies in a subtree they administer; entries without a
    region only the admins of a root region (the city). `action` matches exactly, or every action
    under a prefix ending in "." ("organization.").
    """
    paths = access.admin_region_paths(account_id)
    if not paths:
        raise Forbidden("not_an_admin", "只有地区管理员可以查看操作日志")
    if filters.region_id is not None:
        region = access.require_admin_over(account_id, regions.get_region(filters.region_id), doing="查看操作日志")
        scope = AuditLog.region_path.startswith(region.path)
    else:
        roots = db.session.scalar(select(func.count()).select_from(Region).where(
            Region.path.in_(paths), Region.parent_id.is_(None)))
        scope = or_(*(AuditLog.region_path.startswith(path) for path in paths),
                    AuditLog.region_path.is_(None) if roots else false())
    query = select(AuditLog).where(scope)
    if filters.actor_account_id is not None:
        query = query.where(AuditLog.actor_account_id == filters.actor_account_id)
    if filters.action:
        query = query.where(AuditLog.action.startswith(filters.action) if filters.action.endswith(".")
                            else AuditLog.action == filters.action)
    if filters.target_type:
        query = query.where(AuditLog.target_type == filters.target_type)
    if filters.since is not None:
        query = query.where(AuditLog.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditLog.created_at < filters.until)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if cursor is not None:
        at, after_id = _cursor(cursor)
        query = query.where(or_(AuditLog.created_at < at, and_(AuditLog.created_at == at, AuditLog.id < after_id)))
    rows = db.session.scalars(query.order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(limit + 1)).all()
    names = dict(db.session.execute(select(Volunteer.account_id, Volunteer.real_name).where(
        Volunteer.account_id.in_({r.actor_account_id for r in rows if r.actor_account_id is not None}))).all())
    region_ids = {_deepest(r.region_path) for r in rows if r.region_path}
    places = {r.id: r for r in db.session.scalars(select(Region).where(Region.id.in_(region_ids)))}
    return [Entry(entry=r, actor_name=names.get(r.actor_account_id),
                  region=places.get(_deepest(r.region_path)) if r.region_path else None) for r in rows], total


def cursor_after(entry: AuditLog) -> str:
    """The cursor of the page after this entry."""
    return encode_cursor((entry.created_at, entry.id))


def _cursor(cursor: str) -> tuple[datetime, int]:
    at, after_id = decode_cursor(cursor, 2)
    if not isinstance(at, datetime) or at.tzinfo is None or not isinstance(after_id, int):
        raise invalid_cursor()
    return at, after_id


def _deepest(path: str) -> int:
    return int(path.strip("/").split("/")[-1])
