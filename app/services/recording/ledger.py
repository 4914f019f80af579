"""Crediting an entered span of time: the two limits, kept under concurrency.

One volunteer's credits are taken one at a time: on PostgreSQL a transaction-scoped advisory lock
keyed by the volunteer is held from the overlap check to the commit (SQLite runs one writer at a
time already). Under it, the span is checked against the volunteer's other credited spans (entered
ones in `service_periods`, scanned ones in `checkins`), then the balance at the activity moves by
the ledger's conditional relative UPDATE, bounded above by the activity's longest creditable time
as well as below by zero: `service_minutes + :m <= :cap` holds whatever else credits the activity
meanwhile (corrections take no advisory lock; the bound is judged against the committed balance).
Locks are taken in one order: advisory lock, then the sign-up's balance, then the volunteer's
totals (as every ledger entry does), so no cycle can form with the scan and correction paths.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, exists, select, text, update

from app.errors import Conflict, DomainError
from app.extensions import db
from app.services.service_records import CreditWindow, _add_to_totals, longest_creditable_minutes
from app.timeutil import as_utc, format_local
from models import Activity, Checkin, EntryStatus, RecordKind, RecordSource, ServicePeriod, ServiceRecord, Signup

# The first key of the advisory lock: this module's lock space (the second is the volunteer id).
_LOCK_SPACE = 1812
_signups = Signup.__table__
_CREDIT_WITHIN_CAP = (update(_signups)
                      .where(_signups.c.volunteer_id == bindparam("v_id"), _signups.c.activity_id == bindparam("a_id"),
                             _signups.c.service_minutes + bindparam("delta") >= 0,
                             _signups.c.service_minutes + bindparam("delta") <= bindparam("cap"))
                      .values(service_minutes=_signups.c.service_minutes + bindparam("delta")))


def window(activity: CreditWindow) -> tuple[datetime, datetime]:
    """[start - margin, end + margin]: where an activity's service time can fall."""
    margin = timedelta(minutes=activity.credit_margin_minutes)
    return as_utc(activity.starts_at) - margin, as_utc(activity.ends_at) + margin


def clip(activity: CreditWindow, starts_at: datetime, ends_at: datetime, *, field: str = "ended_at") -> tuple[datetime, datetime, int]:
    """The span inside the activity's window and its whole minutes; 422 if nothing of it is inside."""
    if ends_at <= starts_at:
        raise DomainError("invalid_times", "签退时间应晚于签到时间", 422, fields={field: "应晚于签到时间"})
    low, high = window(activity)
    start, end = max(as_utc(starts_at), low), min(as_utc(ends_at), high)
    minutes = int((end - start).total_seconds() // 60) if end > start else 0
    if minutes <= 0:
        raise DomainError("times_outside_activity",
                          f"时间不在活动时间内（{format_local(low)} 至 {format_local(high)}，含前后余量）", 422,
                          fields={field: "不在活动时间内"})
    return start, end, minutes


def lock_volunteer(volunteer_id: int) -> None:
    """Take this volunteer's crediting lock until the transaction ends (PostgreSQL; SQLite has one writer)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:space, :volunteer)"),
                           {"space": _LOCK_SPACE, "volunteer": volunteer_id})


def overlapping(volunteer_id: int, starts_at: datetime, ends_at: datetime) -> tuple[str, datetime, datetime] | None:
    """The title and span of a credited service of the volunteer that overlaps [starts_at, ends_at), if any."""
    entered = db.session.execute(
        select(Activity.title, ServicePeriod.starts_at, ServicePeriod.ends_at)
        .join(Activity, Activity.id == ServicePeriod.activity_id)
        .where(ServicePeriod.volunteer_id == volunteer_id, ServicePeriod.starts_at < ends_at,
               ServicePeriod.ends_at > starts_at).limit(1)).first()
    if entered is not None:
        return entered.title, as_utc(entered.starts_at), as_utc(entered.ends_at)
    # Scanned attendance: the check-in's span as credited (clipped to its activity's window).
    scanned = db.session.execute(
        select(Activity, Checkin.checked_in_at, Checkin.checked_out_at)
        .join(Activity, Activity.id == Checkin.activity_id)
        .where(Checkin.volunteer_id == volunteer_id, Checkin.checked_out_at.is_not(None),
               Checkin.checked_in_at < ends_at, Checkin.checked_out_at > starts_at,
               exists().where(ServiceRecord.checkin_id == Checkin.id)))
    for activity, checked_in_at, checked_out_at in scanned:
        low, high = window(activity)
        start, end = max(as_utc(checked_in_at), low), min(as_utc(checked_out_at), high)
        if start < ends_at and end > starts_at and end > start:
            return activity.title, start, end
    return None


def check_overlap(volunteer_id: int, starts_at: datetime, ends_at: datetime) -> None:
    found = overlapping(volunteer_id, starts_at, ends_at)
    if found is not None:
        title, start, end = found
        raise DomainError("overlapping_service",
                          f"该志愿者在 {format_local(start)} 至 {format_local(end, '%H:%M')} 已在「{title}」计入服务时长，"
                          "同一时间不能重复记录", 409)


def check_room(activity: Activity, volunteer_id: int, minutes: int) -> None:
    """Refuse early (a preview, a new request) when the minutes would pass the activity's cap now."""
    balance = db.session.scalar(select(Signup.service_minutes).where(
        Signup.volunteer_id == volunteer_id, Signup.activity_id == activity.id)) or 0
    cap = longest_creditable_minutes(activity)
    if balance + minutes > cap:
        raise exceeds(cap, balance)


def exceeds(cap: int, balance: int) -> DomainError:
    return DomainError("minutes_exceed_activity",
                       f"本活动每人最多计入 {cap} 分钟（含前后余量），该志愿者已计入 {balance} 分钟", 409)


def credit(activity: Activity, volunteer_id: int, starts_at: datetime, ends_at: datetime, *, source: RecordSource,
           account_id: int | None, now: datetime, reason: str | None = None) -> ServiceRecord:
    """Write an attendance record of `source` for the span (clipped to the activity's window).

    The volunteer needs an approved sign-up at the activity (its row holds the balance). Refused,
    nothing is written: `times_outside_activity`, `overlapping_service`, `minutes_exceed_activity`.
    """
    start, end, minutes = clip(activity, starts_at, ends_at)
    lock_volunteer(volunteer_id)
    check_overlap(volunteer_id, start, end)
    db.session.flush()
    cap = longest_creditable_minutes(activity)
    moved = db.session.connection().execute(_CREDIT_WITHIN_CAP, {
        "v_id": volunteer_id, "a_id": activity.id, "delta": minutes, "cap": cap}).rowcount
    if moved != 1:
        signup = db.session.execute(select(Signup.status, Signup.service_minutes).where(
            Signup.volunteer_id == volunteer_id, Signup.activity_id == activity.id)).first()
        if signup is None:
            raise DomainError("not_signed_up", "该志愿者未报名本活动，不能记录时长", 409)
        raise exceeds(cap, signup.service_minutes)
    record = ServiceRecord(volunteer_id=volunteer_id, activity_id=activity.id, kind=RecordKind.ATTENDANCE,
                           source=source, minutes=minutes, reason=reason, created_by_account_id=account_id,
                           created_at=now, confirmed_at=now, confirmed_by_account_id=account_id)
    db.session.add(record)
    db.session.flush()
    db.session.add(ServicePeriod(record_id=record.id, volunteer_id=volunteer_id, activity_id=activity.id,
                                 starts_at=start, ends_at=end))
    db.session.flush()
    _add_to_totals(volunteer_id, minutes)
    return record


def decide_once(model: type, row_id: int, *, approve: bool, reason: str | None, account_id: int, now: datetime,
                refusing: str, what: str) -> EntryStatus:
    """Move a pending request (a declaration, a 补录) to its decision once; a refusal needs a reason.

    A conditional UPDATE from pending: of simultaneous decisions one goes through, the others are
    `already_decided`. The caller credits after it, in the same transaction.
    """
    if not approve and not (reason and reason.strip()):
        raise DomainError("reason_required", f"{refusing}时请填写原因", 422, fields={"reason": "必填"})
    target = EntryStatus.APPROVED if approve else EntryStatus.REJECTED
    decided = db.session.execute(
        update(model).where(model.id == row_id, model.status == EntryStatus.PENDING)
        .values(status=target, decided_by_account_id=account_id, decided_at=now, decision_reason=reason)
        .execution_options(synchronize_session=False)).rowcount
    if not decided:
        raise Conflict("already_decided", f"该{what}已处理")
    return target
