"""The volunteer directory for organisers and admins: search, filter, keyset pages, detail, export.

Scope is `access.review_scope_paths`: an organiser sees the volunteers of their organisation's
region subtree, an admin those of theirs. A volunteer's detail is also open, narrowed to what that
organisation recorded, to the overseers of an organisation that recorded their service
(`access.recorder_ids_overseen`): after a transfer moved the volunteer's home community out of the
releasing organisation's region, it still reads the records it made (`record_scope`). Everything answered here is masked (names 李*丽, mobiles
135****2222); the full number is `volunteers.reveal_mobile`, audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select

from app.db import JsonArrayHolds
from app.errors import DomainError, Forbidden, NotFound
from app.extensions import db
from app.services import access, audit, paging, regions
from models import (Account, Activity, RecordKind, Region, ServiceRecord, Signup, Team, TeamMembership, Volunteer,
                    VolunteerStatus)
from models.teams import MembershipStatus

# The fields `?sort=` accepts, and the column each orders by (id breaks ties).
SORTS = {"created_at": Volunteer.created_at, "real_name": Volunteer.real_name,
         "total_service_minutes": Volunteer.total_service_minutes}
DEFAULT_SORT = "-created_at"
# An export holds at most this many rows; a larger result asks for a narrower filter.
EXPORT_LIMIT = 10_000


@dataclass(frozen=True)
class Filters:
    status: VolunteerStatus | None = None
    q: str | None = None
    category: str | None = None
    skill: str | None = None
    team_id: int | None = None
    region_id: int | None = None


def out_of_scope() -> NotFound:
    """The one refusal for a volunteer outside the caller's regions: not found, so ids reveal nothing."""
    return NotFound("volunteer_not_found", "找不到该志愿者")


def scope_region_ids(account_id: int, region_id: int | None = None) -> list[int]:
    """Ids of the regions whose volunteers the caller may see (narrowed to `region_id`'s subtree)."""
    paths = access.require_reviewer(account_id)
    if region_id is not None:
        region = db.session.get(Region, region_id)
        if region is None or not any(regions.is_within(region, path) for path in paths):
            raise Forbidden("region_out_of_scope", "所选地区不在您管理的范围内")
        paths = [region.path]
    return list(db.session.scalars(select(Region.id).where(or_(*(Region.path.startswith(p) for p in paths)))))


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def conditions(account_id: int, filters: Filters) -> list[ColumnElement]:
    """The WHERE of a directory query: the caller's scope and the filters."""
    where: list[ColumnElement] = [Volunteer.region_id.in_(scope_region_ids(account_id, filters.region_id))]
    if filters.status is not None:
        where.append(Volunteer.status == filters.status)
    else:
        where.append(Volunteer.status != VolunteerStatus.DELETED)
    q = (filters.q or "").strip()
    if q:
        if len(q) == 4 and q.isascii() and q.isdigit():
            where.append(Volunteer.mobile_last4 == q)
        else:
            where.append(Volunteer.real_name.like(f"%{_like_escaped(q)}%", escape="\\"))
    if filters.category:
        where.append(JsonArrayHolds(Volunteer.categories, filters.category))
    if filters.skill:
        where.append(JsonArrayHolds(Volunteer.skills, filters.skill))
    if filters.team_id is not None:
        where.append(Volunteer.id.in_(select(TeamMembership.volunteer_id).where(
            TeamMembership.team_id == filters.team_id, TeamMembership.status == MembershipStatus.ACTIVE)))
    return where


def _query(account_id: int, filters: Filters) -> tuple[Select, list[ColumnElement]]:
    where = conditions(account_id, filters)
    return select(Volunteer).where(*where), where


def search(account: Account, filters: Filters, *, sort: str, limit: int, cursor: str | None,
           page: int | None = None) -> tuple[list[Volunteer], str | None, int]:
    """One page of the directory, the next page's cursor and the total matching.

    The total is counted on the first page and carried in the cursor (a keyset walk is a snapshot
    of the order; counting 100,000 rows again on every page would cost more than the page).
    `page` is the older numbered paging (pending registrations in the mini-program): OFFSET, kept
    for those callers; every other caller pages by cursor.
    """
    # By reference: a cursor must not carry a name the items show masked (the key is read back by id).
    keyset = paging.sort_keyset(sort, SORTS, Volunteer.id, by_reference=True)
    query, where = _query(account.id, filters)
    if page is not None and cursor is None:
        total = _count(where)
        rows = list(db.session.scalars(query.order_by(*keyset.order_by()).offset((page - 1) * limit).limit(limit)))
        return rows, None, total
    if cursor is None:
        total = _count(where)
    else:
        carried = paging.decode_cursor(cursor)[-1]
        if not isinstance(carried, int) or isinstance(carried, bool) or not 0 <= carried < 2**31:
            raise paging.invalid_cursor()
        total = carried
    rows, next_cursor, _ = paging.keyset_page_carrying(query, keyset, limit=limit, cursor=cursor, carry=(total,))
    return rows, next_cursor, total


def _count(where: list[ColumnElement]) -> int:
    return db.session.scalar(select(func.count()).select_from(Volunteer).where(*where)) or 0


def region_names(rows: list[Volunteer]) -> dict[int, str]:
    ids = {v.region_id for v in rows}
    if not ids:
        return {}
    return {row.id: row.name for row in db.session.execute(select(Region.id, Region.name).where(Region.id.in_(ids)))}


def export_rows(account: Account, filters: Filters, *, sort: str, now: datetime) -> list[Volunteer]:
    """Every volunteer the filters match, for the spreadsheet; more than EXPORT_LIMIT is refused. Audited
    (the filters, with a name searched for only as "given": the log holds no personal data)."""
    keyset = paging.sort_keyset(sort, SORTS, Volunteer.id)
    query, where = _query(account.id, filters)
    total = _count(where)
    if total > EXPORT_LIMIT:
        raise DomainError("export_too_large", f"符合条件的志愿者有 {total} 人，超过导出上限 {EXPORT_LIMIT} 人，请缩小筛选范围",
                          422, context={"total": total, "limit": EXPORT_LIMIT})
    rows = list(db.session.scalars(query.order_by(*keyset.order_by())))
    shown = {name: value for name, value in vars(filters).items() if value is not None and name != "q"}
    audit.record(account.id, "volunteer.exported", "volunteer", None, now=now, rows=len(rows),
                 filters={**shown, **({"q": "given"} if filters.q else {})})
    return rows


def in_scope(account_id: int, volunteer_id: int) -> Volunteer:
    """The volunteer if the caller may see them (organiser or admin over their region), else not found."""
    paths = access.require_reviewer(account_id)
    volunteer = db.session.get(Volunteer, volunteer_id)
    if volunteer is None or volunteer.status is VolunteerStatus.DELETED \
            or not any(regions.is_within(volunteer.region, path) for path in paths):
        raise out_of_scope()
    return volunteer


@dataclass(frozen=True)
class Detail:
    volunteer: Volunteer
    signups: list[Any]        # rows: signup id, activity id, title, starts_at, ends_at, status, minutes
    signup_count: int
    records: list[Any]        # rows: record id, activity id, title, kind, minutes, created_at
    teams: list[Any]          # rows: team id, name, organization id, status, since
    total_minutes: int = 0    # the volunteer's minutes (only those the caller's organisations recorded, if narrowed)
    record_count: int = 0
    organizations: list[int] | None = None   # narrowed to these recorders; None: everything


def record_scope(account_id: int, volunteer_id: int) -> tuple[Volunteer, list[int] | None]:
    """The volunteer and what of theirs the caller reads: everything (None) in region scope, else the
    ids of the organisations whose records the caller reads as their recorder; not found otherwise."""
    try:
        return in_scope(account_id, volunteer_id), None
    except NotFound:
        volunteer = db.session.get(Volunteer, volunteer_id)
        if volunteer is None or volunteer.status is VolunteerStatus.DELETED:
            raise
        recorders = access.recorder_ids_overseen(account_id, volunteer.id)
        if not recorders:
            raise
        return volunteer, recorders


def detail(account: Account, volunteer_id: int, *, recent: int = 20) -> Detail:
    """A volunteer's archive with their latest sign-ups, latest service records and teams.

    A recorder outside the volunteer's region scope sees only its own organisations' part.
    """
    volunteer, organizations = record_scope(account.id, volunteer_id)
    own = (lambda column: column.in_(organizations)) if organizations is not None else (lambda column: True)
    signups = list(db.session.execute(
        select(Signup.id, Activity.id.label("activity_id"), Activity.title, Activity.starts_at, Activity.ends_at,
               Signup.status, Signup.service_minutes, Signup.created_at)
        .join(Activity, Activity.id == Signup.activity_id)
        .where(Signup.volunteer_id == volunteer.id, own(Activity.organization_id))
        .order_by(Activity.starts_at.desc(), Signup.id.desc()).limit(recent)))
    signup_count = db.session.scalar(select(func.count()).select_from(Signup).join(
        Activity, Activity.id == Signup.activity_id).where(
        Signup.volunteer_id == volunteer.id, own(Activity.organization_id))) or 0
    records = list(db.session.execute(
        select(ServiceRecord.id, Activity.id.label("activity_id"), Activity.title, ServiceRecord.kind,
               ServiceRecord.minutes, ServiceRecord.created_at)
        .join(Activity, Activity.id == ServiceRecord.activity_id)
        .where(ServiceRecord.volunteer_id == volunteer.id, own(Activity.organization_id))
        .order_by(ServiceRecord.created_at.desc(), ServiceRecord.id.desc()).limit(recent)))
    teams = list(db.session.execute(
        select(Team.id, Team.name, Team.organization_id, TeamMembership.status, TeamMembership.created_at)
        .join(TeamMembership, and_(TeamMembership.team_id == Team.id, TeamMembership.volunteer_id == volunteer.id))
        .where(TeamMembership.status == MembershipStatus.ACTIVE, own(Team.organization_id)).order_by(Team.id)))
    if organizations is None:
        total_minutes, record_count = volunteer.total_service_minutes, volunteer.service_record_count
    else:
        total_minutes, record_count = db.session.execute(
            select(func.coalesce(func.sum(ServiceRecord.minutes), 0),
                   func.count(ServiceRecord.id).filter(ServiceRecord.kind == RecordKind.ATTENDANCE))
            .join(Activity, Activity.id == ServiceRecord.activity_id)
            .where(ServiceRecord.volunteer_id == volunteer.id, own(Activity.organization_id))).one()
    return Detail(volunteer=volunteer, signups=signups, signup_count=signup_count, records=records, teams=teams,
                  total_minutes=total_minutes, record_count=record_count, organizations=organizations)


def last_activity_at(volunteer_id: int) -> datetime | None:
    return db.session.scalar(select(func.max(ServiceRecord.created_at)).where(ServiceRecord.volunteer_id == volunteer_id))
