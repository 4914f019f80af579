"""The service-hour ledger: records are appended, never changed; balances move in the same transaction.

Nothing counted twice, nothing negative. Every entry (attendance at check-out or when a forgotten
check-out is closed or confirmed, an organiser's correction, an approved correction request) moves
the volunteer's balance at the activity (`signups.service_minutes`) with one conditional relative
UPDATE, `… SET service_minutes = service_minutes + :delta WHERE … AND service_minutes + :delta >= 0`,
before its record is written. The database applies UPDATEs of one row one after another and judges
each against the committed balance (PostgreSQL re-checks the WHERE of a waiting UPDATE against the
row the first one committed), so ten simultaneous "-60" corrections of a 60-minute record let one
through; a CHECK constraint refuses a negative balance whatever the code does. The volunteer's
totals move by a relative UPDATE after the balance, always in that order (no lock cycles).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, bindparam, exists, func, select, update

from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.services import access, audit, notifications
from app.texts import hours_text
from models import (Account, Activity, Checkin, CorrectionRequest, CorrectionStatus, RecordKind, RecordSource,
                    ServiceRecord, Signup, SignupStatus, Volunteer)


class CreditWindow(Protocol):
    """What crediting needs of an activity: an `Activity`, or a row of these columns."""

    starts_at: datetime
    ends_at: datetime
    credit_margin_minutes: int


def credited_minutes(activity: CreditWindow, checked_in_at: datetime, checked_out_at: datetime) -> int:
    """Whole minutes of [check-in, check-out] that fall inside [start - margin, end + margin]."""
    margin = timedelta(minutes=activity.credit_margin_minutes)
    start = max(checked_in_at, activity.starts_at - margin)
    end = min(checked_out_at, activity.ends_at + margin)
    return max(int((end - start).total_seconds() // 60), 0)


_volunteers = Volunteer.__table__
# Relative to the stored value: concurrent records of one volunteer cannot lose each other.
_signups = Signup.__table__
# The balance moves only if it stays at zero or above: rowcount 0 means the entry was refused.
_MOVE_BALANCE = (update(_signups)
                 .where(_signups.c.volunteer_id == bindparam("v_id"), _signups.c.activity_id == bindparam("a_id"),
                        _signups.c.service_minutes + bindparam("delta") >= 0)
                 .values(service_minutes=_signups.c.service_minutes + bindparam("delta")))
_ADD_TO_TOTALS = (update(_volunteers).where(_volunteers.c.id == bindparam("volunteer_id"))
                  .values(total_service_minutes=_volunteers.c.total_service_minutes + bindparam("minutes"),
                          service_record_count=_volunteers.c.service_record_count + bindparam("records")))


def confirm_activity(account: Account, activity_id: int, *, now: datetime) -> dict[str, int]:
    """A captain or organiser confirms an activity's records; check-ins held for review get theirs now."""
    activity = access.require_activity_manager(account.id, access.activity(activity_id), doing="确认时长")
    held = db.session.scalars(select(Checkin).where(
        Checkin.activity_id == activity.id, Checkin.checked_out_at.is_not(None), Checkin.needs_review.is_(True),
        ~exists().where(ServiceRecord.checkin_id == Checkin.id))).all()
    from app.services.recording import ledger

    refused: list[int] = []
    for checkin in held:
        try:
            # Under the same limits as every other way of crediting: a held check-in that overlaps
            # time credited elsewhere, or would pass the cap, stays held (and is counted) for a person
            # to sort out, rather than stopping the whole confirmation.
            with db.session.begin_nested():
                ledger.credit_checkin(activity, checkin_id=checkin.id, volunteer_id=checkin.volunteer_id,
                                      checked_in_at=checkin.checked_in_at, checked_out_at=checkin.checked_out_at,
                                      account_id=account.id, now=now)
        except DomainError:
            refused.append(checkin.id)
    db.session.execute(update(Checkin).where(Checkin.activity_id == activity.id, Checkin.needs_review.is_(True),
                                             Checkin.id.not_in(refused))
                       .values(needs_review=False).execution_options(synchronize_session=False))
    confirmed = db.session.execute(
        update(ServiceRecord).where(ServiceRecord.activity_id == activity.id, ServiceRecord.confirmed_at.is_(None))
        .values(confirmed_at=now, confirmed_by_account_id=account.id).execution_options(synchronize_session=False)
    ).rowcount
    audit.record(account.id, "service_records.confirmed", "activity", activity.id, now=now, records=confirmed)
    return {"confirmed": confirmed, "credited_after_review": len(held) - len(refused)}


def correct(account: Account, record_id: int, *, minutes_delta: int, reason: str, now: datetime) -> ServiceRecord:
    """An organiser corrects a record by appending a correction entry; the original stays as it was."""
    original = db.session.get(ServiceRecord, record_id)
    if original is None:
        raise NotFound("record_not_found", "找不到该服务记录")
    activity = db.session.get(Activity, original.activity_id)
    access.require_organizer(account.id, activity.organization_id, doing="更正服务时长")
    record = _append_correction(original.volunteer_id, activity.id, minutes_delta, reason, account.id, now,
                                corrects=original.id)
    audit.record(account.id, "service_record.corrected", "service_record", record.id, now=now, delta=minutes_delta)
    return record


def request_correction(account: Account, activity_id: int, *, requested_minutes: int, reason: str,
                       now: datetime) -> CorrectionRequest:
    """A volunteer asks for their minutes at an activity they were signed up for to be corrected."""
    volunteer = db.session.scalar(select(Volunteer).where(Volunteer.account_id == account.id))
    if volunteer is None:
        raise NotFound("volunteer_not_found", "请先注册成为志愿者")
    activity = access.activity(activity_id)
    took_part = db.session.scalar(select(Signup.id).where(
        Signup.activity_id == activity.id, Signup.volunteer_id == volunteer.id, Signup.status == SignupStatus.APPROVED))
    if took_part is None:
        raise DomainError("not_signed_up", "您未报名该活动，不能申请更正时长", 403)
    if now < activity.starts_at:
        raise Conflict("activity_not_started", "活动开始后才能申请更正时长")
    longest = longest_creditable_minutes(activity)
    if requested_minutes > longest:
        raise DomainError("requested_minutes_too_long",
                          f"申请时长不能超过活动可计入的最长时长 {longest} 分钟（含活动前后各 "
                          f"{activity.credit_margin_minutes} 分钟）", 422,
                          fields={"requested_minutes": f"不能超过 {longest}"})
    pending = db.session.scalar(select(CorrectionRequest.id).where(
        CorrectionRequest.volunteer_id == volunteer.id, CorrectionRequest.activity_id == activity.id,
        CorrectionRequest.status == CorrectionStatus.PENDING))
    if pending is not None:
        raise Conflict("correction_pending", "您已提交过更正申请，请等待组织者处理")
    row = CorrectionRequest(volunteer_id=volunteer.id, activity_id=activity.id, requested_minutes=requested_minutes,
                            reason=reason, status=CorrectionStatus.PENDING, created_at=now)
    db.session.add(row)
    db.session.flush()
    audit.record(account.id, "correction.requested", "correction_request", row.id, now=now)
    _tell_organizers(row, activity, volunteer, now)
    return row


def longest_creditable_minutes(activity: CreditWindow) -> int:
    """The most minutes one person can be credited for an activity: its length and both margins."""
    return int((activity.ends_at - activity.starts_at).total_seconds() // 60) + 2 * activity.credit_margin_minutes


def decide_correction(account: Account, request_id: int, *, approve: bool, reason: str | None,
                      now: datetime) -> CorrectionRequest:
    """The organiser approves (the difference becomes a correction entry) or rejects with a reason."""
    row = db.session.get(CorrectionRequest, request_id)
    if row is None:
        raise NotFound("correction_not_found", "找不到该更正申请")
    activity = db.session.get(Activity, row.activity_id)
    access.require_organizer(account.id, activity.organization_id, doing="审核更正申请")
    if not approve and not (reason and reason.strip()):
        raise DomainError("reason_required", "驳回更正申请时请填写原因", 422, fields={"reason": "必填"})
    target = CorrectionStatus.APPROVED if approve else CorrectionStatus.REJECTED
    decided = db.session.execute(
        update(CorrectionRequest).where(CorrectionRequest.id == row.id, CorrectionRequest.status == CorrectionStatus.PENDING)
        .values(status=target, decided_by_account_id=account.id, decided_at=now, decision_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not decided:
        raise Conflict("already_decided", "该申请已处理")
    if approve:
        # The balance row is locked (PostgreSQL; SQLite runs one writer at a time) so the difference
        # is taken from the balance it is applied to, not from one a concurrent correction changed.
        delta = row.requested_minutes - _minutes_at(row.volunteer_id, activity.id, lock=True)
        attendance = db.session.scalar(select(ServiceRecord.id).where(
            ServiceRecord.volunteer_id == row.volunteer_id, ServiceRecord.activity_id == activity.id,
            ServiceRecord.kind == RecordKind.ATTENDANCE))
        if delta:
            record = _append_correction(row.volunteer_id, activity.id, delta, f"志愿者申请更正：{row.reason}",
                                        account.id, now, corrects=attendance, counts_as_record=attendance is None)
            db.session.execute(update(CorrectionRequest).where(CorrectionRequest.id == row.id)
                               .values(correction_record_id=record.id).execution_options(synchronize_session=False))
    db.session.refresh(row)
    audit.record(account.id, f"correction.{target.value}", "correction_request", row.id, now=now)
    _tell_volunteer(row, activity, now)
    return row


def _tell_organizers(row: CorrectionRequest, activity: Activity, volunteer: Volunteer, now: datetime) -> None:
    from app import pii

    organizers = access.organizer_account_ids(activity.organization_id)
    name = pii.mask_name(volunteer.real_name) or "志愿者"
    for account_id in organizers:
        notifications.notify(account_id, [("cr", row.id), ("a", account_id)], notifications.Message(
            kind=notifications.NotificationKind.CORRECTION_REQUEST, template="correction_request",
            title="新的时长更正申请",
            text=f"{name}申请将「{activity.title}」的服务时长更正为{hours_text(row.requested_minutes)}，"
                 f"原因：{row.reason}。请及时处理。",
            fields={"thing1": activity.title, "thing2": name, "number3": row.requested_minutes, "thing4": row.reason},
            page=f"pages/corrections/index?organization_id={activity.organization_id}",
        ), now=now, activity_id=activity.id)


def _tell_volunteer(row: CorrectionRequest, activity: Activity, now: datetime) -> None:
    approved = row.status is CorrectionStatus.APPROVED
    result = "已通过" if approved else "未通过"
    note = f"已按{hours_text(row.requested_minutes)}计入" if approved else (row.decision_reason or "")
    account_id = db.session.scalar(select(Volunteer.account_id).where(Volunteer.id == row.volunteer_id))
    notifications.notify(account_id, [("cr", row.id)], notifications.Message(
        kind=notifications.NotificationKind.CORRECTION_RESULT, template="correction_result", title=f"时长更正申请{result}",
        text=f"您对「{activity.title}」的时长更正申请{result}。{note}",
        fields={"thing1": activity.title, "phrase2": result, "thing3": note or result},
        page="pages/me/records",
    ), now=now, activity_id=activity.id)


def organization_requests(account: Account, organization_id: int, *, status: CorrectionStatus | None,
                          activity_id: int | None, page: int,
                          per_page: int) -> tuple[list[tuple[CorrectionRequest, Activity, Volunteer, int]], int]:
    """An organisation's correction requests for its organisers, oldest first (a queue), with each balance."""
    access.require_organizer(account.id, organization_id, doing="查看更正申请")
    query = (select(CorrectionRequest, Activity, Volunteer, func.coalesce(Signup.service_minutes, 0))
             .join(Activity, Activity.id == CorrectionRequest.activity_id)
             .join(Volunteer, Volunteer.id == CorrectionRequest.volunteer_id)
             .outerjoin(Signup, (Signup.activity_id == CorrectionRequest.activity_id)
                        & (Signup.volunteer_id == CorrectionRequest.volunteer_id))
             .where(Activity.organization_id == organization_id))
    if status is not None:
        query = query.where(CorrectionRequest.status == status)
    if activity_id is not None:
        query = query.where(CorrectionRequest.activity_id == activity_id)
    return _page(query.order_by(CorrectionRequest.created_at, CorrectionRequest.id), page, per_page)


def my_requests(account: Account, *, status: CorrectionStatus | None, page: int,
                per_page: int) -> tuple[list[tuple[CorrectionRequest, Activity, Volunteer, int]], int]:
    """The caller's own correction requests and their decisions, newest first."""
    volunteer = db.session.scalar(select(Volunteer).where(Volunteer.account_id == account.id))
    if volunteer is None:
        raise NotFound("volunteer_not_found", "请先注册成为志愿者")
    query = (select(CorrectionRequest, Activity, Volunteer, func.coalesce(Signup.service_minutes, 0))
             .join(Activity, Activity.id == CorrectionRequest.activity_id)
             .join(Volunteer, Volunteer.id == CorrectionRequest.volunteer_id)
             .outerjoin(Signup, (Signup.activity_id == CorrectionRequest.activity_id)
                        & (Signup.volunteer_id == CorrectionRequest.volunteer_id))
             .where(CorrectionRequest.volunteer_id == volunteer.id))
    if status is not None:
        query = query.where(CorrectionRequest.status == status)
    return _page(query.order_by(CorrectionRequest.created_at.desc(), CorrectionRequest.id.desc()), page, per_page)


def _page(query, page: int, per_page: int) -> tuple[list, int]:
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.execute(query.offset((page - 1) * per_page).limit(per_page)).all()
    return [tuple(row) for row in rows], total


def _minutes_at(volunteer_id: int, activity_id: int, *, lock: bool = False) -> int:
    """The volunteer's balance at the activity (the sum of their records there)."""
    query = select(Signup.service_minutes).where(Signup.volunteer_id == volunteer_id, Signup.activity_id == activity_id)
    return db.session.scalar(query.with_for_update() if lock else query) or 0


def _move_balance(volunteer_id: int, activity_id: int, delta: int) -> bool:
    """Move the balance by `delta` unless it would fall below zero; False if refused."""
    db.session.flush()
    return db.session.connection().execute(_MOVE_BALANCE, {"v_id": volunteer_id, "a_id": activity_id,
                                                           "delta": delta}).rowcount == 1


def _append_correction(volunteer_id: int, activity_id: int, minutes: int, reason: str, account_id: int,
                       now: datetime, *, corrects: int | None, counts_as_record: bool = False) -> ServiceRecord:
    if not _move_balance(volunteer_id, activity_id, minutes):
        current = _minutes_at(volunteer_id, activity_id)
        raise DomainError("negative_minutes", f"更正后时长不能为负（当前 {current} 分钟）", 422,
                          fields={"minutes_delta": f"不能小于 -{current}"})
    record = ServiceRecord(volunteer_id=volunteer_id, activity_id=activity_id, kind=RecordKind.CORRECTION,
                           source=RecordSource.MANUAL, minutes=minutes, corrects_record_id=corrects, reason=reason,
                           created_by_account_id=account_id, created_at=now, confirmed_at=now,
                           confirmed_by_account_id=account_id)
    db.session.add(record)
    db.session.flush()
    _add_to_totals(volunteer_id, minutes, records=1 if counts_as_record else 0)
    return record


def _add_to_totals(volunteer_id: int, minutes: int, *, records: int = 1, connection: Connection | None = None) -> None:
    (connection or db.session.connection()).execute(_ADD_TO_TOTALS, {"volunteer_id": volunteer_id, "minutes": minutes,
                                                                      "records": records})


def records_of(account_id: int, *, page: int, per_page: int) -> tuple[Volunteer, list[ServiceRecord], int, dict[int, dict[str, int]]]:
    """A volunteer's records, newest first, with the count and minutes per year (Shanghai time)."""
    from app.timeutil import to_local

    volunteer = db.session.scalar(select(Volunteer).where(Volunteer.account_id == account_id))
    if volunteer is None:
        raise NotFound("volunteer_not_found", "请先注册成为志愿者")
    query = select(ServiceRecord).where(ServiceRecord.volunteer_id == volunteer.id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(ServiceRecord.created_at.desc(), ServiceRecord.id.desc())
                              .offset((page - 1) * per_page).limit(per_page)).all()
    by_year: dict[int, dict[str, int]] = {}
    # Per volunteer this is a few hundred rows at most: summing here keeps the year rule (the
    # activity's start, in Shanghai) in one place for every backend.
    for minutes, kind, starts_at in db.session.execute(
        select(ServiceRecord.minutes, ServiceRecord.kind, Activity.starts_at)
        .join(Activity, Activity.id == ServiceRecord.activity_id).where(ServiceRecord.volunteer_id == volunteer.id)
    ):
        year = by_year.setdefault(to_local(starts_at).year, {"minutes": 0, "records": 0})
        year["minutes"] += minutes
        if kind is RecordKind.ATTENDANCE:
            year["records"] += 1
    return volunteer, list(rows), total, by_year


def record_imported(activity_id: int, volunteer_id: int, minutes: int, *, account_id: int, reason: str,
                    now: datetime) -> int:
    """Write one attendance record imported from another system's spreadsheet (source IMPORT); its id.

    The volunteer's sign-up of the (imported, past) activity carries the balance, as for scanned
    records: it is created approved on the first record and moved by each.
    """
    if db.session.scalar(select(Signup.id).where(Signup.activity_id == activity_id,
                                                 Signup.volunteer_id == volunteer_id)) is None:
        db.session.add(Signup(activity_id=activity_id, volunteer_id=volunteer_id, status=SignupStatus.APPROVED,
                              created_at=now, updated_at=now, service_minutes=0))
    if not _move_balance(volunteer_id, activity_id, minutes):
        raise DomainError("negative_minutes", "时长不能为负", 422)
    record = ServiceRecord(volunteer_id=volunteer_id, activity_id=activity_id, kind=RecordKind.ATTENDANCE,
                           source=RecordSource.IMPORT, minutes=minutes, reason=reason, created_by_account_id=account_id,
                           created_at=now, confirmed_by_account_id=account_id, confirmed_at=now)
    db.session.add(record)
    db.session.flush()
    _add_to_totals(volunteer_id, minutes)
    return record.id
