"""The console's workbench (工作台): what needs attention in the caller's scope, the coming activities, trends.

A scope is an organisation (`organization_id`) or a region (`region_id`), never both:
- an organisation's organisers see all of it; the admins over its region read it too;
- its teams' captains see their teams' activities only (no registrations, no applications);
- a region's admins (or admins above it) see its subtree: a street admin stays inside the street.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select

from app.errors import DomainError
from app.extensions import db
from app.services import access, calendar, regions, trainings
from app.services.stars import flow as star_flow
from app.timeutil import to_local
from models import (Account, Activity, ActivityStatus, Campaign, Certificate, CertificateObjection, CertificateStatus,
                    Checkin, CorrectionRequest, CorrectionStatus, Declaration, EntryStatus, ObjectionStatus,
                    Organization, OrganizationStatus, Region, RetroactiveEntry, ServiceRecord, Signup, SignupStatus,
                    Transfer, TransferKind, TransferStatus, Volunteer, VolunteerStatus)

# Activities that will not take place (or are not public): not on the workbench, do not cover a festival day.
_NOT_HAPPENING = (ActivityStatus.DRAFT, ActivityStatus.WITHDRAWN, ActivityStatus.CANCELLED)
FESTIVAL_LOOKAHEAD_DAYS = 30
COMING_DAYS = 7
MAX_LISTED = 50


@dataclass(frozen=True)
class Scope:
    kind: str                       # "organization" | "teams" | "region"
    region: Region                  # the organisation's region, or the region itself
    organization: Organization | None = None
    team_ids: tuple[int, ...] | None = None
    may_review: bool = False        # pending registrations are the caller's to review
    is_admin: bool = False

    def activities(self) -> ColumnElement:
        """The activities of the scope, as a condition on Activity."""
        if self.team_ids is not None:
            return Activity.team_id.in_(self.team_ids)
        if self.organization is not None:
            return Activity.organization_id == self.organization.id
        return Activity.region_id.in_(select(Region.id).where(Region.path.startswith(self.region.path)))

    def volunteers(self) -> ColumnElement:
        return Volunteer.region_id.in_(select(Region.id).where(Region.path.startswith(self.region.path)))


def scope(account: Account, *, organization_id: int | None, region_id: int | None,
          doing: str = "查看工作台") -> Scope:
    """The caller's scope for an organisation or a region, or 403 (saying what the caller was `doing`)."""
    if (organization_id is None) == (region_id is None):
        raise DomainError("region_or_organization_required", "请指定地区或组织（二选一）", 422,
                          fields={"region_id": "地区或组织必填其一", "organization_id": "地区或组织必填其一"})
    if region_id is not None:
        region = access.require_admin_over(account.id, regions.get_region(region_id), doing=doing)
        return Scope("region", region, may_review=True, is_admin=True)
    organization = access.organization(organization_id)
    region = regions.get_region(organization.region_id)
    if access.is_organizer(account.id, organization.id):
        return Scope("organization", region, organization, may_review=organization.status is OrganizationStatus.APPROVED)
    if access.is_admin_over(account.id, region):
        return Scope("organization", region, organization, may_review=True, is_admin=True)
    captained = tuple(access.captained_team_ids(account.id, organization.id))
    if captained:
        return Scope("teams", region, organization, team_ids=captained)
    raise access.not_organizer_or_admin(doing, captains_too=True)


def _count(query: Any) -> int:
    return db.session.scalar(query) or 0


def attention(where: Scope, *, now: datetime) -> dict[str, Any]:
    """The counts of what waits for someone in the scope."""
    in_scope = where.activities()
    counts: dict[str, Any] = {
        "pending_registrations": _count(select(func.count()).select_from(Volunteer).where(
            Volunteer.status == VolunteerStatus.PENDING, where.volunteers())) if where.may_review else None,
        "pending_organizations": _count(select(func.count()).select_from(Organization).where(
            Organization.status == OrganizationStatus.PENDING,
            Organization.region_id.in_(select(Region.id).where(Region.path.startswith(where.region.path)))))
        if where.kind == "region" else None,
        "pending_signups": _count(select(func.count()).select_from(Signup).join(Activity, Activity.id == Signup.activity_id)
                                  .where(Signup.status == SignupStatus.PENDING, in_scope, Activity.ends_at > now,
                                         Activity.status.not_in(_NOT_HAPPENING))),
        "open_corrections": _count(select(func.count()).select_from(CorrectionRequest)
                                   .join(Activity, Activity.id == CorrectionRequest.activity_id)
                                   .where(CorrectionRequest.status == CorrectionStatus.PENDING, in_scope)),
        "checkouts_to_review": _count(select(func.count()).select_from(Checkin).join(Activity, Activity.id == Checkin.activity_id)
                                      .where(Checkin.needs_review.is_(True), in_scope)),
        "pending_declarations": _count(select(func.count()).select_from(Declaration)
                                       .join(Activity, Activity.id == Declaration.activity_id)
                                       .where(Declaration.status == EntryStatus.PENDING, in_scope)),
        **_records_attention(where),
        # Regions: star applications approved in the region or below (the admin's, or for an admin above, theirs too).
        "star_reviews_pending": (star_flow.pending_reviews_within([where.region.path]) if where.kind == "region"
                                 else None),
    }
    quarter = trainings.Quarter.of(now)
    if where.kind == "region":
        report = trainings.report(quarter, region=where.region)
    else:
        report = trainings.report(quarter, organization_id=where.organization.id)
    teams = [t for t in report["teams"] if where.team_ids is None or t["id"] in where.team_ids]
    counts["teams_without_training"] = sum(1 for t in teams if not t["trained"])
    counts["streets_without_training"] = (sum(1 for s in report["streets"] if not s["trained"])
                                          if where.kind == "region" else None)
    uncovered = festival_days_without_activity(where, now=now)
    counts["festival_days_without_activity"] = len(uncovered)
    return {"counts": counts, "quarter": {"year": quarter.year, "quarter": quarter.number, "label": quarter.label},
            "festival_days": uncovered}


def _records_attention(where: Scope) -> dict[str, int | None]:
    """Queues of the records half: 补录 to approve (regions: an admin approves entries below their region),
    certificates to review or with open objections and transfers to decide (the organisation or, for
    community transfers, the region that receives). None where the scope has no say."""
    if where.kind == "teams":
        return {"retroactive_to_approve": None, "certificates_to_handle": None, "pending_transfers": None}
    if where.kind == "region":
        below = select(Region.id).where(Region.path.startswith(where.region.path), Region.id != where.region.id)
        inside = select(Region.id).where(Region.path.startswith(where.region.path))
        return {
            "retroactive_to_approve": _count(select(func.count()).select_from(RetroactiveEntry).where(
                RetroactiveEntry.status == EntryStatus.PENDING, RetroactiveEntry.region_id.in_(below))),
            "certificates_to_handle": None,
            "pending_transfers": _count(select(func.count()).select_from(Transfer).where(
                Transfer.status == TransferStatus.PENDING, Transfer.kind == TransferKind.COMMUNITY,
                Transfer.to_region_id.in_(inside))),
        }
    organization_id = where.organization.id
    objected = select(CertificateObjection.certificate_id).where(CertificateObjection.status == ObjectionStatus.OPEN)
    return {
        "retroactive_to_approve": None,
        "certificates_to_handle": _count(select(func.count()).select_from(Certificate).where(
            Certificate.organization_id == organization_id,
            or_(Certificate.status == CertificateStatus.REQUESTED,
                (Certificate.status == CertificateStatus.PUBLICITY) & Certificate.id.in_(objected)))),
        "pending_transfers": _count(select(func.count()).select_from(Transfer).where(
            Transfer.status == TransferStatus.PENDING, Transfer.to_organization_id == organization_id)),
    }


def festival_days_without_activity(where: Scope, *, now: datetime) -> list[dict[str, Any]]:
    """Festival days of the next 30 days (built-in and the scope's local ones) that no activity of the scope serves.

    An activity serves a day when it is linked to a campaign of that festival and year (calendar
    page), or when it takes place on the day itself.
    """
    today = to_local(now).date()
    last = today + timedelta(days=FESTIVAL_LOOKAHEAD_DAYS)
    days = [d for year in sorted({today.year, last.year})
            for d in calendar.festival_days(year, region_id=where.region.id) if today <= d.day <= last]
    uncovered = []
    for festival in days:
        start, end = trainings.local_midnight(festival.day), trainings.local_midnight(festival.day + timedelta(days=1))
        served = db.session.scalar(select(Activity.id).outerjoin(Campaign, Campaign.id == Activity.campaign_id).where(
            where.activities(), Activity.status.not_in(_NOT_HAPPENING),
            or_((Campaign.festival_key == festival.key) & (Campaign.year == festival.day.year),
                (Activity.starts_at < end) & (Activity.ends_at > start))).limit(1))
        if served is None:
            uncovered.append({"key": festival.key, "name": festival.name, "day": festival.day, "theme": festival.theme})
    return uncovered


def coming_activities(where: Scope, *, now: datetime) -> tuple[list[Activity], list[Activity]]:
    """Today's activities (Shanghai day, or still going on) and those of the next 7 days, soonest first."""
    today = to_local(now).date()
    tomorrow = trainings.local_midnight(today + timedelta(days=1))
    until = trainings.local_midnight(today + timedelta(days=COMING_DAYS + 1))
    base = select(Activity).where(where.activities(), Activity.status.not_in(_NOT_HAPPENING))
    todays = list(db.session.scalars(base.where(Activity.starts_at < tomorrow,
                                                Activity.ends_at > trainings.local_midnight(today))
                                     .order_by(Activity.starts_at, Activity.id).limit(MAX_LISTED)))
    coming = list(db.session.scalars(base.where(Activity.starts_at >= tomorrow, Activity.starts_at < until)
                                     .order_by(Activity.starts_at, Activity.id).limit(MAX_LISTED)))
    return todays, coming


def iso_week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def trends(where: Scope, *, weeks: int, now: datetime) -> list[dict[str, Any]]:
    """Per ISO week (Shanghai), oldest first, ending with this week: sign-ups made and service minutes recorded."""
    this_week = iso_week_start(to_local(now).date())
    first = this_week - timedelta(weeks=weeks - 1)
    since = trainings.local_midnight(first)
    buckets = {first + timedelta(weeks=i): {"signups": 0, "service_minutes": 0} for i in range(weeks)}
    for (created_at,) in db.session.execute(
            select(Signup.created_at).join(Activity, Activity.id == Signup.activity_id)
            .where(where.activities(), Signup.created_at >= since)):
        week = iso_week_start(to_local(created_at).date())
        if week in buckets:
            buckets[week]["signups"] += 1
    for created_at, minutes in db.session.execute(
            select(ServiceRecord.created_at, ServiceRecord.minutes).join(Activity, Activity.id == ServiceRecord.activity_id)
            .where(where.activities(), ServiceRecord.created_at >= since)):
        week = iso_week_start(to_local(created_at).date())
        if week in buckets:
            buckets[week]["service_minutes"] += minutes
    result = []
    for week, values in buckets.items():
        year, number, _ = week.isocalendar()
        result.append({"week": f"{year}-W{number:02d}", "starts_on": week, "signups": values["signups"],
                       "service_minutes": values["service_minutes"],
                       "service_hours": round(values["service_minutes"] / 60, 1)})
    return result
