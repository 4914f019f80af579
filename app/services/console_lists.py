"""The console's lists of an organisation: its activities in every state, an attendance sheet, its announcements.

Who sees an organisation's activities: its organisers (every state, drafts too), its teams'
captains (their teams' activities, no drafts) and the admins over its region (no drafts). The
status of a published activity follows the clock (`activities.effective_status`); here it is the
same rule as SQL, so filters and counts per state agree with what each item says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, literal, select

from app.extensions import db
from app.services import access, paging, regions
from models import (Account, Activity, ActivityStatus, Announcement, Checkin, CheckinMethod, Notification,
                    NotificationStatus, Organization, ServiceRecord, Signup, SignupStatus, Volunteer)

ACTIVITY_SORTS = {"starts_at": Activity.starts_at, "created_at": Activity.created_at}
DEFAULT_ACTIVITY_SORT = "-starts_at"


def effective_status(now: datetime) -> ColumnElement:
    """`activities.effective_status` as SQL: published turns ongoing at the start and finished at the end."""
    published = Activity.status == ActivityStatus.PUBLISHED
    return case(
        (and_(published, Activity.ends_at <= now), literal(ActivityStatus.FINISHED.value)),
        (and_(published, Activity.starts_at <= now), literal(ActivityStatus.ONGOING.value)),
        else_=Activity.status,
    )


@dataclass(frozen=True)
class ActivityFilters:
    status: ActivityStatus | None = None
    q: str | None = None
    starts_from: datetime | None = None
    starts_until: datetime | None = None
    team_id: int | None = None


@dataclass(frozen=True)
class Viewer:
    """What the caller may see of an organisation: all (organiser), no drafts (admin), or some teams (captain)."""

    organization: Organization
    drafts: bool
    team_ids: list[int] | None  # None: every activity of the organisation


def viewer(account_id: int, organization_id: int) -> Viewer:
    """The caller's view of the organisation's activities, or 403 for someone who has none."""
    organization = access.organization(organization_id)
    if access.is_organizer(account_id, organization.id):
        return Viewer(organization, drafts=True, team_ids=None)
    if access.is_admin_over(account_id, regions.get_region(organization.region_id)):
        return Viewer(organization, drafts=False, team_ids=None)
    captained = access.captained_team_ids(account_id, organization.id)
    if captained:
        return Viewer(organization, drafts=False, team_ids=captained)
    raise access.not_organizer_or_admin("查看本组织的活动", captains_too=True)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def organization_activities(account: Account, organization_id: int, filters: ActivityFilters, *, sort: str,
                            limit: int, cursor: str | None, now: datetime) -> tuple[list[Activity], str | None, int,
                                                                                      dict[str, int]]:
    """One page of the organisation's activities the caller may see, the next cursor, the total, and counts per state.

    The counts are over the same filters except the status (so the console's tabs show each state's number).
    """
    seen = viewer(account.id, organization_id)
    status = effective_status(now)
    where: list[ColumnElement] = [Activity.organization_id == seen.organization.id]
    if not seen.drafts:
        where.append(Activity.status != ActivityStatus.DRAFT)
    if seen.team_ids is not None:
        where.append(Activity.team_id.in_(seen.team_ids))
    if filters.q and filters.q.strip():
        where.append(Activity.title.like(_like(filters.q.strip()), escape="\\"))
    if filters.starts_from:
        where.append(Activity.starts_at >= filters.starts_from)
    if filters.starts_until:
        where.append(Activity.starts_at < filters.starts_until)
    if filters.team_id is not None:
        where.append(Activity.team_id == filters.team_id)
    counts = {state.value: 0 for state in ActivityStatus if seen.drafts or state is not ActivityStatus.DRAFT}
    for state, count in db.session.execute(select(status.label("state"), func.count()).where(*where).group_by(status)):
        counts[str(state)] = count
    if filters.status is not None:
        where.append(status == filters.status.value)
    total = sum(counts.values()) if filters.status is None else counts.get(filters.status.value, 0)
    keyset = paging.sort_keyset(sort, ACTIVITY_SORTS, Activity.id)
    rows, next_cursor = paging.keyset_page(select(Activity).where(*where), keyset, limit=limit, cursor=cursor)
    return rows, next_cursor, total, counts


def attendance_counts(activity_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per activity: sign-ups by state and check-ins (for the activity list's columns)."""
    result = {activity_id: {"signed_up": 0, "pending": 0, "waitlisted": 0, "checked_in": 0}
              for activity_id in activity_ids}
    if not activity_ids:
        return result
    for activity_id, state, count in db.session.execute(
            select(Signup.activity_id, Signup.status, func.count()).where(Signup.activity_id.in_(activity_ids))
            .group_by(Signup.activity_id, Signup.status)):
        key = {SignupStatus.APPROVED: "signed_up", SignupStatus.PENDING: "pending",
               SignupStatus.WAITLISTED: "waitlisted"}.get(state)
        if key:
            result[activity_id][key] = count
    for activity_id, count in db.session.execute(
            select(Checkin.activity_id, func.count()).where(Checkin.activity_id.in_(activity_ids))
            .group_by(Checkin.activity_id)):
        result[activity_id]["checked_in"] = count
    return result


@dataclass(frozen=True)
class SheetLine:
    signup_id: int
    volunteer_id: int
    real_name: str
    mobile: str | None
    signup_status: SignupStatus
    signed_up_at: datetime
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    checkin_method: str | None
    checkout_method: str | None
    service_minutes: int
    unconfirmed_records: int
    flags: list[str]
    record_id: int | None
    volunteer_number: str | None = None


def attendance(account: Account, activity_id: int, *, now: datetime) -> tuple[Activity, list[SheetLine]]:
    """The attendance sheet of an activity for its managers: every sign-up, its check-in and check-out, minutes, flags.

    Flags: `needs_review` (a check-out closed by the job, held until someone confirms),
    `forgotten_checkout` (closed by the job at the end), `no_show` (approved, the activity over, no
    check-in), `unconfirmed` (attendance records not yet confirmed). `record_id` is the attendance service
    record of the volunteer's check-in (what a correction names), once the check-out wrote it.
    """
    activity = access.activity(activity_id, drafts_seen_by=account.id)
    access.require_activity_manager(account.id, activity, doing="查看签到表")
    unconfirmed = (select(func.count()).where(ServiceRecord.activity_id == activity.id,
                                              ServiceRecord.volunteer_id == Signup.volunteer_id,
                                              ServiceRecord.confirmed_at.is_(None))
                   .correlate(Signup).scalar_subquery())
    rows = db.session.execute(
        select(Signup.id, Signup.volunteer_id, Volunteer.real_name, Volunteer.mobile, Volunteer.volunteer_number,
               Signup.status,
               Signup.created_at, Signup.service_minutes, Checkin.checked_in_at, Checkin.checked_out_at,
               Checkin.checkin_method, Checkin.checkout_method, Checkin.needs_review, unconfirmed.label("unconfirmed"),
               ServiceRecord.id.label("record_id"))
        .join(Volunteer, Volunteer.id == Signup.volunteer_id)
        .outerjoin(Checkin, and_(Checkin.activity_id == Signup.activity_id, Checkin.volunteer_id == Signup.volunteer_id))
        # One attendance record per check-in (unique checkin_id); corrections carry none.
        .outerjoin(ServiceRecord, ServiceRecord.checkin_id == Checkin.id)
        .where(Signup.activity_id == activity.id).order_by(Signup.created_at, Signup.id))
    over = now >= activity.ends_at
    lines = []
    for row in rows:
        flags = []
        if row.needs_review:
            flags.append("needs_review")
        if row.checkout_method is CheckinMethod.AUTO_CLOSE:
            flags.append("forgotten_checkout")
        if over and row.status is SignupStatus.APPROVED and row.checked_in_at is None:
            flags.append("no_show")
        if row.unconfirmed:
            flags.append("unconfirmed")
        lines.append(SheetLine(
            signup_id=row.id, volunteer_id=row.volunteer_id, real_name=row.real_name, mobile=row.mobile,
            signup_status=row.status, signed_up_at=row.created_at, checked_in_at=row.checked_in_at,
            checked_out_at=row.checked_out_at,
            checkin_method=row.checkin_method.value if row.checkin_method else None,
            checkout_method=row.checkout_method.value if row.checkout_method else None,
            service_minutes=row.service_minutes, unconfirmed_records=row.unconfirmed or 0, flags=flags,
            record_id=row.record_id, volunteer_number=row.volunteer_number))
    return activity, lines


def sheet_totals(lines: list[SheetLine]) -> dict[str, int]:
    totals = {state.value: 0 for state in SignupStatus}
    for line in lines:
        totals[line.signup_status.value] += 1
    return {
        "signups": len(lines), "approved": totals["approved"], "pending": totals["pending"],
        "waitlisted": totals["waitlisted"], "cancelled": totals["cancelled"], "rejected": totals["rejected"],
        "checked_in": sum(1 for line in lines if line.checked_in_at),
        "checked_out": sum(1 for line in lines if line.checked_out_at),
        "present": sum(1 for line in lines if line.checked_in_at and not line.checked_out_at),
        "needs_review": sum(1 for line in lines if "needs_review" in line.flags),
        "forgotten_checkout": sum(1 for line in lines if "forgotten_checkout" in line.flags),
        "no_show": sum(1 for line in lines if "no_show" in line.flags),
        "service_minutes": sum(line.service_minutes for line in lines),
    }


# --- an organisation's announcements ------------------------------------------------------------------

ANNOUNCEMENT_SORTS = {"created_at": Announcement.created_at}


def organization_announcements(account: Account, organization_id: int, *, limit: int, cursor: str | None,
                               ) -> tuple[list[Announcement], str | None, int]:
    """The organisation's announcements, newest first, for its organisers and the admins over it."""
    organization = access.organization(organization_id)
    access.require_overseer(account.id, organization, doing="查看公告记录")
    where = [Announcement.organization_id == organization.id]
    total = db.session.scalar(select(func.count()).select_from(Announcement).where(*where)) or 0
    keyset = paging.sort_keyset("-created_at", ANNOUNCEMENT_SORTS, Announcement.id)
    rows, next_cursor = paging.keyset_page(select(Announcement).where(*where), keyset, limit=limit, cursor=cursor)
    return rows, next_cursor, total


def announcement_progress(announcement_ids: list[int]) -> dict[int, dict[str, dict[str, int]]]:
    """`broadcasts.progress` for many announcements in one query: by announcement, channel and state."""
    result: dict[int, dict[str, dict[str, int]]] = {announcement_id: {} for announcement_id in announcement_ids}
    if not announcement_ids:
        return result
    rows = db.session.execute(
        select(Notification.announcement_id, Notification.channel, Notification.status, func.count())
        .where(Notification.announcement_id.in_(announcement_ids))
        .group_by(Notification.announcement_id, Notification.channel, Notification.status))
    for announcement_id, channel, status, count in rows:
        state = "queued" if status in (NotificationStatus.PENDING, NotificationStatus.SENDING) else status.value
        counts = result[announcement_id].setdefault(
            channel.value, {"queued": 0, "sent": 0, "failed": 0, "skipped": 0, "ambiguous": 0})
        counts[state] = counts.get(state, 0) + count
    return result
