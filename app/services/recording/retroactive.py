"""补录 (retroactive entry): service held outside the system, entered by an organiser, approved a level above.

The organiser enters the past activity (title, place, beneficiary, content, times), who attended
(volunteer ids, each with their own times or the activity's) and evidence (photos, the scanned
sign-in sheet: upload tokens), within `[records] retroactive_days` of its start. An admin of a
region strictly above the organisation's approves it — separation of duties: never the account that
entered it, even if it also holds such a grant. Approval makes the held activity (status finished)
with an approved sign-up per attendee and credits each under the ledger's limits (source
RETROACTIVE); if any attendee is refused, nothing of the approval is kept and the answer says who.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update

from app.errors import DomainError, Forbidden, NotFound
from app.extensions import db, settings
from app.services import access, audit, notifications, regions, uploads
from app.services.recording import ledger
from app.services.service_records import _page
from app.texts import clause, day_text
from app.timeutil import as_utc
from models import (Account, Activity, ActivityKind, ActivityStatus, EntryStatus, RecordSource, Region, RetroactiveAttendee,
                    RetroactiveEntry, Signup, SignupMode, SignupStatus, Upload, UploadPurpose, Volunteer,
                    VolunteerStatus)

MAX_EVIDENCE = 20
MAX_ATTENDEES = 500


@dataclass
class Attendee:
    volunteer_id: int
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass
class Held:
    title: str
    place: str
    beneficiary: str
    content: str
    starts_at: datetime
    ends_at: datetime


class _Window:
    """The credit window of a retroactive activity: its own times, no margins."""

    def __init__(self, starts_at: datetime, ends_at: datetime) -> None:
        self.starts_at, self.ends_at, self.credit_margin_minutes = starts_at, ends_at, 0


def enter(account: Account, organization_id: int, held: Held, attendees: Sequence[Attendee], evidence: Sequence[str],
          *, now: datetime) -> RetroactiveEntry:
    organization = access.require_organizer(account.id, organization_id, doing="补录服务时长")
    starts_at, ends_at = as_utc(held.starts_at), as_utc(held.ends_at)
    if ends_at <= starts_at:
        raise DomainError("invalid_times", "结束时间应晚于开始时间", 422, fields={"ends_at": "应晚于开始时间"})
    days = settings()["records"]["retroactive_days"]
    if ends_at > now or starts_at < now - timedelta(days=days):
        raise DomainError("outside_retroactive_window", f"只能补录已结束、且开始于 {days} 天内的活动", 422,
                          fields={"starts_at": f"须在 {days} 天内且活动已结束"})
    if not attendees:
        raise DomainError("validation_failed", "请填写参加人员", 422, fields={"attendees": "至少一人"})
    seen: set[int] = set()
    rows = []
    window = _Window(starts_at, ends_at)
    for index, attendee in enumerate(attendees):
        field = f"attendees.{index}"
        if attendee.volunteer_id in seen:
            raise DomainError("validation_failed", "参加人员重复", 422, fields={field: "重复"})
        seen.add(attendee.volunteer_id)
        volunteer = db.session.get(Volunteer, attendee.volunteer_id)
        if volunteer is None or volunteer.status is not VolunteerStatus.APPROVED:
            raise DomainError("volunteer_not_found", "参加人员中有未注册或未通过审核的志愿者", 422,
                              fields={field: "志愿者不存在或未通过审核"})
        start, end, _ = ledger.clip(window, attendee.started_at or starts_at, attendee.ended_at or ends_at,
                                    field=f"{field}.ended_at")
        try:
            ledger.check_overlap(volunteer.id, start, end)
        except DomainError as exc:
            exc.fields = {field: exc.message}
            raise
        rows.append((volunteer.id, start, end))
    claimed = uploads.claim(account.id, evidence, [UploadPurpose.EVIDENCE, UploadPurpose.ACTIVITY_PHOTO],
                            field="evidence", limit=MAX_EVIDENCE)
    if not claimed:
        raise DomainError("evidence_required", "补录须附上证明材料（照片或签到表扫描件）", 422,
                          fields={"evidence": "至少一个文件"})
    entry = RetroactiveEntry(organization_id=organization.id, region_id=organization.region_id, title=held.title,
                             place=held.place, beneficiary=held.beneficiary, content=held.content,
                             starts_at=starts_at, ends_at=ends_at, evidence_upload_ids=[u.id for u in claimed],
                             status=EntryStatus.PENDING, created_by_account_id=account.id, created_at=now)
    db.session.add(entry)
    db.session.flush()
    db.session.add_all([RetroactiveAttendee(entry_id=entry.id, volunteer_id=v, starts_at=s, ends_at=e)
                        for v, s, e in rows])
    db.session.flush()
    audit.record(account.id, "retroactive_entry.created", "organization", organization.id, now=now, entry_id=entry.id,
                 attendees=len(rows))
    return entry


def _may_decide(account_id: int, entry: RetroactiveEntry) -> bool:
    return access.is_admin_above(account_id, regions.get_region(entry.region_id))


def get(account: Account, entry_id: int) -> RetroactiveEntry:
    """The entry, for the organisation's organisers and the admins who may decide it."""
    entry = db.session.get(RetroactiveEntry, entry_id)
    if entry is None or not (access.is_organizer(account.id, entry.organization_id) or _may_decide(account.id, entry)):
        raise NotFound("retroactive_entry_not_found", "找不到该补录申请")
    return entry


def attendees_of(entry: RetroactiveEntry) -> list[tuple[RetroactiveAttendee, Volunteer]]:
    return [tuple(r) for r in db.session.execute(
        select(RetroactiveAttendee, Volunteer).join(Volunteer, Volunteer.id == RetroactiveAttendee.volunteer_id)
        .where(RetroactiveAttendee.entry_id == entry.id).order_by(RetroactiveAttendee.id))]


def evidence_of(entry: RetroactiveEntry) -> list[Upload]:
    if not entry.evidence_upload_ids:
        return []
    found = {u.id: u for u in db.session.scalars(select(Upload).where(Upload.id.in_(entry.evidence_upload_ids)))}
    return [found[i] for i in entry.evidence_upload_ids if i in found]


def decide(account: Account, entry_id: int, *, approve: bool, reason: str | None, now: datetime) -> RetroactiveEntry:
    entry = db.session.get(RetroactiveEntry, entry_id)
    if entry is None:
        raise NotFound("retroactive_entry_not_found", "找不到该补录申请")
    if not _may_decide(account.id, entry):
        raise access.not_admin_of_region("审批补录（须为该组织所在地区的上级地区管理员）")
    if entry.created_by_account_id == account.id:
        raise Forbidden("approver_is_author", "补录须由他人审批：不能审批自己提交的补录")
    target = ledger.decide_once(RetroactiveEntry, entry.id, approve=approve, reason=reason, account_id=account.id,
                                now=now, refusing="驳回补录", what="补录申请")
    if approve:
        _credit(entry, account, now)
    db.session.refresh(entry)
    audit.record(account.id, f"retroactive_entry.{target.value}", "organization", entry.organization_id, now=now,
                 entry_id=entry.id)
    _tell_author(entry, now)
    return entry


def _tell_author(entry: RetroactiveEntry, now: datetime) -> None:
    """The organiser who entered the 补录 learns the decision (organisers get notices, as for corrections)."""
    approved = entry.status is EntryStatus.APPROVED
    result = "已通过" if approved else "未通过"
    if approved:
        people = db.session.scalar(select(func.count()).where(RetroactiveAttendee.entry_id == entry.id))
        note = f"{people}人的服务时长已计入"
    else:
        note = f"原因：{clause(entry.decision_reason)}"
    notifications.notify(entry.created_by_account_id, [("r", entry.id)], notifications.Message(
        kind=notifications.NotificationKind.RETROACTIVE_RESULT, template="correction_result",
        title=f"补录审批{result}",
        text=(f"您提交的补录「{entry.title}」（{day_text(entry.starts_at)}）审批{result}。{note}。"
              + ("" if approved else "可补充材料后重新提交。")),
        fields={"thing1": entry.title, "phrase2": result, "thing3": note},
        page=None), now=now)


def _credit(entry: RetroactiveEntry, account: Account, now: datetime) -> None:
    attendees = attendees_of(entry)
    activity = Activity(organization_id=entry.organization_id, region_id=entry.region_id, title=entry.title,
                        description=entry.content, kind=ActivityKind.SERVICE, themes=[], address=entry.place,
                        starts_at=entry.starts_at, ends_at=entry.ends_at, capacity=max(len(attendees), 1),
                        seats_taken=len(attendees), signup_mode=SignupMode.APPROVAL, required_skills=[],
                        credit_margin_minutes=0, status=ActivityStatus.FINISHED,
                        created_by_account_id=entry.created_by_account_id, published_at=now, created_at=now,
                        updated_at=now)
    db.session.add(activity)
    db.session.flush()
    db.session.add_all([Signup(activity_id=activity.id, volunteer_id=volunteer.id, status=SignupStatus.APPROVED,
                               decided_by_account_id=account.id, decided_at=now, created_at=now, updated_at=now)
                        for _, volunteer in attendees])
    db.session.flush()
    for attendee, volunteer in attendees:
        try:
            record = ledger.credit(activity, volunteer.id, attendee.starts_at, attendee.ends_at,
                                   source=RecordSource.RETROACTIVE, account_id=account.id, now=now,
                                   reason=f"补录（申请 {entry.id}）")
        except DomainError as exc:
            exc.context = {"volunteer_id": volunteer.id}
            raise
        db.session.execute(update(RetroactiveAttendee).where(RetroactiveAttendee.id == attendee.id)
                           .values(record_id=record.id).execution_options(synchronize_session=False))
    db.session.execute(update(RetroactiveEntry).where(RetroactiveEntry.id == entry.id)
                       .values(activity_id=activity.id).execution_options(synchronize_session=False))


def listing(account: Account, *, organization_id: int | None, status: EntryStatus | None, page: int,
            per_page: int) -> tuple[list[RetroactiveEntry], int]:
    """An organisation's entries for its organisers, or (without one) those the caller may decide, oldest first."""
    query = select(RetroactiveEntry)
    if organization_id is not None:
        organization = access.organization(organization_id)
        if not (access.is_organizer(account.id, organization.id)
                or access.is_admin_above(account.id, regions.get_region(organization.region_id))):
            raise access.not_organizer_or_admin("查看补录申请")
        query = query.where(RetroactiveEntry.organization_id == organization.id)
    else:
        paths = access.admin_region_paths(account.id)
        if not paths:
            raise access.not_admin_of_region("审批补录")
        below = db.session.scalars(select(Region.id).where(or_(*[
            Region.path.startswith(path) & (Region.path != path) for path in paths]))).all()
        query = query.where(RetroactiveEntry.region_id.in_(below) if below else False)
    if status is not None:
        query = query.where(RetroactiveEntry.status == status)
    rows, total = _page(query.order_by(RetroactiveEntry.created_at, RetroactiveEntry.id), page, per_page)
    return [row for (row,) in rows], total

