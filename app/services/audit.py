"""Write audit entries in the same transaction as the action they record, and read them by scope.

Each entry carries the materialised path of the region its target belongs to (`region_path`), so
the audit log can show a street's admin that street's entries and nothing else. Callers may pass it;
otherwise it is looked up here from the target: an organisation's own region for what an
organisation owns (its teams, memberships, activities, sign-ups, records, corrections, campaigns), a
volunteer's community, a region's own path. Targets without a region (an account without an
archive) get NULL, which only admins of a root region (the city) read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from app.extensions import db
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
