"""Self-declaration: a volunteer says when they served at an activity; its captain or organiser decides.

A declaration is checked when made (signed up and approved, the activity started, times inside its
window, no other pending declaration there, nothing credited at that time) and credited only when
confirmed, under the ledger's limits then (`ledger.credit`, source DECLARATION). A refusal needs a
reason; either decision is written once (a conditional UPDATE from pending).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update

from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.services import access, audit, notifications, uploads
from app.services.recording import bulk, ledger
from app.services.service_records import _page
from app.texts import clause, clock_text, hours_text, moment_text
from models import (Account, Activity, Declaration, EntryStatus, RecordSource, Signup, SignupStatus, Upload,
                    UploadPurpose, Volunteer)

MAX_PHOTOS = 9


def _volunteer_of(account: Account) -> Volunteer:
    volunteer = db.session.scalar(select(Volunteer).where(Volunteer.account_id == account.id))
    if volunteer is None:
        raise NotFound("volunteer_not_found", "请先注册成为志愿者")
    return volunteer


def declare(account: Account, activity_id: int, *, started_at: datetime, ended_at: datetime, note: str,
            photos: Sequence[str], now: datetime) -> Declaration:
    volunteer = _volunteer_of(account)
    activity = access.activity(activity_id, hide_drafts=True)
    took_part = db.session.scalar(select(Signup.id).where(
        Signup.activity_id == activity.id, Signup.volunteer_id == volunteer.id, Signup.status == SignupStatus.APPROVED))
    if took_part is None:
        raise DomainError("not_signed_up", "您未通过本活动的报名，不能申报时长", 403)
    bulk.require_held(activity, now)
    if ended_at > now:
        raise DomainError("invalid_times", "签退时间不能晚于现在", 422, fields={"ended_at": "不能晚于现在"})
    start, end, minutes = ledger.clip(activity, started_at, ended_at)
    pending = db.session.scalar(select(Declaration.id).where(
        Declaration.volunteer_id == volunteer.id, Declaration.activity_id == activity.id,
        Declaration.status == EntryStatus.PENDING))
    if pending is not None:
        raise Conflict("declaration_pending", "您已申报过本活动的时长，请等待队长或组织者确认")
    ledger.check_overlap(volunteer.id, start, end)
    ledger.check_room(activity, volunteer.id, minutes)
    claimed = uploads.claim(account.id, photos, [UploadPurpose.DECLARATION_PHOTO], field="photos", limit=MAX_PHOTOS)
    row = Declaration(volunteer_id=volunteer.id, activity_id=activity.id, starts_at=start, ends_at=end,
                      minutes=minutes, note=note, photo_upload_ids=[upload.id for upload in claimed],
                      status=EntryStatus.PENDING, created_at=now)
    db.session.add(row)
    db.session.flush()
    audit.record(account.id, "declaration.created", "activity", activity.id, now=now, declaration_id=row.id)
    return row


def get(account: Account, declaration_id: int) -> tuple[Declaration, Activity]:
    """The declaration, for its volunteer or the activity's captains and organisers."""
    row = db.session.get(Declaration, declaration_id)
    if row is None:
        raise NotFound("declaration_not_found", "找不到该时长申报")
    activity = db.session.get(Activity, row.activity_id)
    own = db.session.scalar(select(Volunteer.account_id).where(Volunteer.id == row.volunteer_id)) == account.id
    if not own and not access.is_activity_manager(account.id, activity):
        raise NotFound("declaration_not_found", "找不到该时长申报")
    return row, activity


def decide(account: Account, declaration_id: int, *, confirm: bool, reason: str | None,
           now: datetime) -> Declaration:
    """Confirm (credited now, under the limits) or refuse with a reason; once."""
    row = db.session.get(Declaration, declaration_id)
    if row is None:
        raise NotFound("declaration_not_found", "找不到该时长申报")
    activity = access.require_activity_manager(account.id, db.session.get(Activity, row.activity_id),
                                               doing="确认时长申报")
    target = ledger.decide_once(Declaration, row.id, approve=confirm, reason=reason, account_id=account.id, now=now,
                                refusing="不予确认", what="申报")
    if confirm:
        record = ledger.credit(activity, row.volunteer_id, row.starts_at, row.ends_at, source=RecordSource.DECLARATION,
                               account_id=account.id, now=now, reason=f"志愿者申报：{row.note}" if row.note else "志愿者申报")
        db.session.execute(update(Declaration).where(Declaration.id == row.id).values(record_id=record.id)
                           .execution_options(synchronize_session=False))
    db.session.refresh(row)
    audit.record(account.id, f"declaration.{target.value}", "activity", activity.id, now=now, declaration_id=row.id)
    _tell_volunteer(row, activity, now)
    return row


def _tell_volunteer(row: Declaration, activity: Activity, now: datetime) -> None:
    """The volunteer learns the decision on their declaration, in the transaction that made it."""
    confirmed = row.status is EntryStatus.APPROVED
    result = "已确认" if confirmed else "未确认"
    note = f"已计入{hours_text(row.minutes)}" if confirmed else f"原因：{clause(row.decision_reason)}"
    account_id = db.session.scalar(select(Volunteer.account_id).where(Volunteer.id == row.volunteer_id))
    notifications.notify(account_id, [("d", row.id)], notifications.Message(
        kind=notifications.NotificationKind.DECLARATION_RESULT, template="correction_result",
        title=f"时长申报{result}",
        text=(f"您申报的「{activity.title}」服务时长（{moment_text(row.starts_at)} 至 {clock_text(row.ends_at)}）"
              + ("已确认，" + note + "。" if confirmed else f"未被确认。{note}。如有疑问，可联系活动队长或组织者。")),
        fields={"thing1": activity.title, "phrase2": result, "thing3": note},
        page="pages/me/records"), now=now, activity_id=activity.id)


def photos_of(row: Declaration) -> list[Upload]:
    if not row.photo_upload_ids:
        return []
    found = {u.id: u for u in db.session.scalars(select(Upload).where(Upload.id.in_(row.photo_upload_ids)))}
    return [found[i] for i in row.photo_upload_ids if i in found]


def of_activity(account: Account, activity_id: int, *, status: EntryStatus | None, page: int,
                per_page: int) -> tuple[list[tuple[Declaration, Volunteer]], int]:
    """An activity's declarations for its captains and organisers, oldest first (a queue)."""
    activity = access.require_activity_manager(account.id, access.activity(activity_id), doing="查看时长申报")
    query = (select(Declaration, Volunteer).join(Volunteer, Volunteer.id == Declaration.volunteer_id)
             .where(Declaration.activity_id == activity.id))
    if status is not None:
        query = query.where(Declaration.status == status)
    return _page(query.order_by(Declaration.created_at, Declaration.id), page, per_page)


def in_scope(account: Account, *, status: EntryStatus | None, organization_id: int | None, team_id: int | None,
             page: int, per_page: int) -> tuple[list[tuple[Declaration, Volunteer, Activity]], int]:
    """Declarations at every activity the caller manages (the per-activity list's rule, as SQL), oldest first.

    `organization_id` / `team_id` only narrow that set (the console's chosen scope); naming an
    organisation or team the caller does not manage gives an empty page, never someone else's queue.
    """
    query = (select(Declaration, Volunteer, Activity).join(Volunteer, Volunteer.id == Declaration.volunteer_id)
             .join(Activity, Activity.id == Declaration.activity_id)
             .where(access.activity_manager_condition(account.id)))
    if status is not None:
        query = query.where(Declaration.status == status)
    if organization_id is not None:
        query = query.where(Activity.organization_id == organization_id)
    if team_id is not None:
        query = query.where(Activity.team_id == team_id)
    return _page(query.order_by(Declaration.created_at, Declaration.id), page, per_page)


def mine(account: Account, *, page: int, per_page: int) -> tuple[list[tuple[Declaration, Volunteer]], int]:
    volunteer = _volunteer_of(account)
    query = (select(Declaration, Volunteer).join(Volunteer, Volunteer.id == Declaration.volunteer_id)
             .where(Declaration.volunteer_id == volunteer.id))
    return _page(query.order_by(Declaration.created_at.desc(), Declaration.id.desc()), page, per_page)
