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
from functools import lru_cache
from typing import Any

from sqlalchemy import (Integer, TextClause, bindparam, cast, exists, func, insert, literal, literal_column, select,
                        text, union_all, update)
from sqlalchemy.dialects import postgresql

from app.db import insert_unless_present, unit_connection
from app.direct_statements import first_row
from app.errors import Conflict, DomainError
from app.extensions import db
from app.services.service_records import (CreditWindow, _add_to_totals, credited_minutes,
                                          longest_creditable_minutes)
from app.timeutil import as_utc, format_local
from models import Activity, Checkin, EntryStatus, RecordKind, RecordSource, ServicePeriod, ServiceRecord, Signup

# The first key of the advisory lock: this module's lock space (the second is the volunteer id).
LOCK_SPACE = 1812
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
                           {"space": LOCK_SPACE, "volunteer": volunteer_id})


# Every credited span of a volunteer near [starts_at, ends_at), in one statement: the entered ones
# (`service_periods`, stored clipped, so they carry their own span as their window and no margin) and
# the scanned ones (a closed check-in with its record, clipped here to its activity's window). One
# round trip, which is all a check-out pays when the volunteer has nothing else recorded.
_ENTERED_SPANS = (select(Activity.title, ServicePeriod.starts_at.label("span_start"),
                         ServicePeriod.ends_at.label("span_end"), ServicePeriod.starts_at.label("window_start"),
                         ServicePeriod.ends_at.label("window_end"), literal(0, Integer).label("margin"))
                  .join(Activity, Activity.id == ServicePeriod.activity_id)
                  .where(ServicePeriod.volunteer_id == bindparam("v_id"), ServicePeriod.starts_at < bindparam("until"),
                         ServicePeriod.ends_at > bindparam("since")))
_SCANNED_SPANS = (select(Activity.title, Checkin.checked_in_at, Checkin.checked_out_at, Activity.starts_at,
                         Activity.ends_at, Activity.credit_margin_minutes)
                  .join(Activity, Activity.id == Checkin.activity_id)
                  .where(Checkin.volunteer_id == bindparam("v_id"), Checkin.checked_out_at.is_not(None),
                         Checkin.checked_in_at < bindparam("until"), Checkin.checked_out_at > bindparam("since"),
                         exists().where(ServiceRecord.checkin_id == Checkin.id)))
_CREDITED_SPANS = union_all(_ENTERED_SPANS, _SCANNED_SPANS)


def overlapping(volunteer_id: int, starts_at: datetime, ends_at: datetime) -> tuple[str, datetime, datetime] | None:
    """The title and span of a credited service of the volunteer that overlaps [starts_at, ends_at), if any."""
    rows = unit_connection().execute(_CREDITED_SPANS, {"v_id": volunteer_id, "since": starts_at, "until": ends_at})
    for title, span_start, span_end, window_start, window_end, margin in rows:
        slack = timedelta(minutes=margin)
        start = max(as_utc(span_start), as_utc(window_start) - slack)
        end = min(as_utc(span_end), as_utc(window_end) + slack)
        if start < ends_at and end > starts_at and end > start:
            return title, start, end
    return None


# `overlapping`'s rule as one query, for PostgreSQL, where a check-out checks it inside its one crediting
# statement: the first credited span, clipped as `overlapping` clips it, that overlaps [:since, :until).
# tests/services/test_ledger_overlap.py holds the two to the same answers.
_SPANS = _CREDITED_SPANS.subquery("spans")
_SLACK = _SPANS.c.margin * literal_column("interval '1 minute'")
_CLIPPED_START = func.greatest(_SPANS.c.span_start, _SPANS.c.window_start - _SLACK)
_CLIPPED_END = func.least(_SPANS.c.span_end, _SPANS.c.window_end + _SLACK)
FIRST_OVERLAP = (select(_SPANS.c.title, _CLIPPED_START.label("starts"), _CLIPPED_END.label("ends"))
                 .where(_CLIPPED_START < bindparam("until"), _CLIPPED_END > bindparam("since"),
                        _CLIPPED_END > _CLIPPED_START)
                 .limit(1))


def check_overlap(volunteer_id: int, starts_at: datetime, ends_at: datetime) -> None:
    found = overlapping(volunteer_id, starts_at, ends_at)
    if found is not None:
        raise overlap_refusal(*found)


def overlap_refusal(title: str, start: datetime, end: datetime) -> DomainError:
    return DomainError("overlapping_service",
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


def lock_expression(volunteer_id):
    """This volunteer's crediting lock as an SQL expression, to take it inside another statement.

    The check-out puts it in the RETURNING of the UPDATE that closes the check-in, so the scan pays
    no round trip for it. The statements that check overlap and cap come after it, so under READ
    COMMITTED they see whatever an earlier holder committed.
    """
    return func.pg_advisory_xact_lock(LOCK_SPACE, cast(volunteer_id, Integer))


_records = ServiceRecord.__table__
_INSERT_SCANNED = insert(_records).values(kind=RecordKind.ATTENDANCE, source=RecordSource.SCAN)


class RowPresent(Exception):
    """`credit_checkin`'s `then_insert` row met its unique key taken: the caller rolls back."""


def credit_checkin(activity: CreditWindow, *, checkin_id: int, volunteer_id: int, checked_in_at: datetime,
                   checked_out_at: datetime, account_id: int | None, now: datetime, lock_held: bool = False,
                   then_insert: tuple[type, dict[str, Any]] | None = None) -> int:
    """Write the attendance record of a just-closed check-in under the two limits; its minutes.

    The same rules as `credit`: the span as credited (clipped to the activity's window) must not
    overlap another credited span of the volunteer (`overlapping_service`), and the balance at the
    activity must stay within its cap (`minutes_exceed_activity`); refused, nothing is written and
    the caller rolls back the check-out. `lock_held`: the caller took the volunteer's lock already
    (the scan path, inside its closing UPDATE). Runs once per check-in: the caller closed it with a
    conditional UPDATE, and the unique checkin_id would refuse a second record all the same.

    `then_insert` (model, values): a row the caller's unit writes last (the scan's), `INSERT … ON
    CONFLICT DO NOTHING` after the totals; RowPresent if its unique key is taken. On PostgreSQL the
    balance, the record, the totals and that row are one statement (data-modifying CTEs, each
    reading the one before, so rows are locked in the usual order: balance, then totals): one round
    trip for four, with the same effects and the same refusals as the statements one by one.
    """
    minutes = credited_minutes(activity, checked_in_at, checked_out_at)
    if not lock_held:
        lock_volunteer(volunteer_id)
    low, high = window(activity)
    since, until = max(as_utc(checked_in_at), low), min(as_utc(checked_out_at), high)
    cap = longest_creditable_minutes(activity)
    connection = unit_connection()
    if then_insert is not None and connection.dialect.name == "postgresql":
        model, values = then_insert
        outcome = first_row(connection, _credit_scan_then(model, tuple(sorted(values))), {
            "v_id": volunteer_id, "a_id": activity.id, "delta": minutes, "cap": cap, "checkin_id": checkin_id,
            "account_id": account_id, "now": now, "since": since, "until": until,
            **{f"r_{key}": value for key, value in values.items()}})
        if outcome.overlap_title is not None:
            raise overlap_refusal(outcome.overlap_title, outcome.overlap_starts, outcome.overlap_ends)
        if not outcome.moved:
            _refuse_credit(activity, volunteer_id, cap)
        if not outcome.written:
            raise RowPresent()
        return minutes
    if minutes > 0:
        check_overlap(volunteer_id, since, until)
    moved = connection.execute(_CREDIT_WITHIN_CAP, {
        "v_id": volunteer_id, "a_id": activity.id, "delta": minutes, "cap": cap}).rowcount
    if moved != 1:
        _refuse_credit(activity, volunteer_id, cap)
    connection.execute(_INSERT_SCANNED, {
        "volunteer_id": volunteer_id, "activity_id": activity.id, "checkin_id": checkin_id, "minutes": minutes,
        "created_by_account_id": account_id, "created_at": now})
    _add_to_totals(volunteer_id, minutes, connection=connection)
    if then_insert is not None and insert_unless_present(*then_insert) is None:
        raise RowPresent()
    return minutes


def _refuse_credit(activity: CreditWindow, volunteer_id: int, cap: int) -> None:
    """The balance did not move: no sign-up, or the minutes would pass the activity's cap."""
    balance = unit_connection().execute(select(Signup.service_minutes).where(
        Signup.volunteer_id == volunteer_id, Signup.activity_id == activity.id)).scalar()
    if balance is None:
        # A check-in needs an approved sign-up, so its row is there; refuse loudly if it is not.
        raise DomainError("not_signed_up", "该志愿者未报名本活动，不能记录时长", 409)
    raise exceeds(cap, balance)


@lru_cache(maxsize=4)
def _credit_scan_then(model: type, keys: tuple[str, ...]) -> TextClause:
    """PostgreSQL: `check_overlap` (`FIRST_OVERLAP`, when there are minutes), `_CREDIT_WITHIN_CAP`,
    `_INSERT_SCANNED`, `_ADD_TO_TOTALS` and the caller's row, as one text statement compiled once; the
    balance moves only without an overlap, and each later step selects FROM the one before, so nothing
    follows a balance that did not move. The caller holds the volunteer's lock, taken by an earlier
    statement, so this one sees every span credited before it. Answers (moved, written, and the
    overlapping span's title, start and end, or NULLs)."""
    records, row = ServiceRecord.__table__, model.__table__
    overlap = FIRST_OVERLAP.compile(dialect=postgresql.dialect(paramstyle="named"))
    sql = (
        f"WITH overlap AS ({overlap.string}), "
        "moved AS (UPDATE signups SET service_minutes = service_minutes + :delta WHERE volunteer_id = :v_id "
        "AND activity_id = :a_id AND service_minutes + :delta >= 0 AND service_minutes + :delta <= :cap "
        "AND (:delta <= 0 OR NOT EXISTS (SELECT FROM overlap)) RETURNING 1), "
        "record AS (INSERT INTO service_records (volunteer_id, activity_id, checkin_id, kind, source, minutes, "
        "created_by_account_id, created_at) SELECT :v_id, :a_id, :checkin_id, :kind, :source, :delta, :account_id, "
        ":now FROM moved RETURNING 1), "
        "totals AS (UPDATE volunteers SET total_service_minutes = total_service_minutes + :delta, "
        "service_record_count = service_record_count + 1 WHERE id = :v_id AND EXISTS (SELECT FROM record) RETURNING 1), "
        f"written AS (INSERT INTO {row.name} ({', '.join(keys)}) SELECT {', '.join(f':r_{key}' for key in keys)} "
        "FROM totals ON CONFLICT DO NOTHING RETURNING 1) "
        "SELECT EXISTS (SELECT FROM moved) AS moved, EXISTS (SELECT FROM written) AS written, "
        "overlap.title AS overlap_title, overlap.starts AS overlap_starts, overlap.ends AS overlap_ends "
        "FROM (SELECT 1) AS one LEFT JOIN overlap ON :delta > 0")
    # The overlap query's own constants (its margin of 0, its LIMIT), with their values and types.
    constants = [(name, bind) for bind, name in overlap.bind_names.items() if name not in ("v_id", "since", "until")]
    return text(sql).bindparams(
        *(bindparam(name, type_=Integer()) for name in ("delta", "v_id", "a_id", "cap", "checkin_id", "account_id")),
        *(bindparam(name, bind.effective_value, type_=bind.type) for name, bind in constants),
        bindparam("since", type_=Checkin.checked_in_at.type), bindparam("until", type_=Checkin.checked_in_at.type),
        bindparam("kind", RecordKind.ATTENDANCE, type_=records.c.kind.type),
        bindparam("source", RecordSource.SCAN, type_=records.c.source.type),
        bindparam("now", type_=records.c.created_at.type),
        *(bindparam(f"r_{key}", type_=row.c[key].type) for key in keys))


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
