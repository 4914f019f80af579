"""Check-in and check-out: one rule set for every way in, each scan answered once by its nonce.

pretix's check-in is the model: a scan is redeemed with a client nonce, and a repeated nonce gets
the first answer instead of a second effect; refusals carry stable reason codes. What makes hours
impossible to lose or double is in the database, not in `if`s: one check-in per volunteer and
activity (unique), a check-out is a conditional UPDATE on `checked_out_at IS NULL`, one attendance
record per check-in (unique), and one scan row per (activity, nonce) (unique), written last with
the answer: a repeat that raced the first one cannot commit, and answers with the first answer.

Who may scan is app/services/access.py's rule, embedded in the scan's first query. The codes the
volunteer's phone shows are in checkin_displays.py, the official account's QR in official_qr.py,
the texts a volunteer reads in checkin_texts.py. A refused scan is logged with its reason code and
the activity id only (no names, codes, openids).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Executable, Result, Row, bindparam, select, update
from sqlalchemy.orm import aliased

from app import checkin_codes, pii
from app.db import (SecondRowPresent, begin_transaction, first_row_of_first, insert_both_unless_present,
                    insert_unless_present, unit_connection)
from app.direct_statements import first_row
from app.errors import DomainError
from app.extensions import db
from app.services import access, accounts, checkin_texts, service_records
from app.services.recording import ledger
from app.texts import moment_text
from models import (Account, Activity, ActivityStatus, Checkin, CheckinMethod, CheckinScan, Signup, SignupStatus,
                    Volunteer, VolunteerStatus)

logger = logging.getLogger(__name__)

# How far back a personal code is still recognised as "expired" rather than "invalid" (10 minutes).
_EXPIRED_LOOKBACK_STEPS = 20


class CheckinError(DomainError):
    """A scan was refused; `code` is the reason (already_checked_in, not_signed_up, …)."""

    def __init__(self, code: str, message: str, status: int = 409, context: dict[str, Any] | None = None):
        super().__init__(code, message, status, context=context)


@dataclass(frozen=True)
class ScanAnswer:
    """What a scan's screen shows: the result, who, when, and the minutes that count so far.

    Stored with the scan (as `as_dict()`) and replayed from there for a repeated nonce.
    """

    result: str  # checked_in / checked_out
    volunteer: dict[str, Any]  # {"id", "name"}, the name masked
    checked_in_at: str
    checked_out_at: str | None
    minutes: int
    replayed: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: stored with the scan, sent to the client."""
        answer = {"result": self.result, "volunteer": self.volunteer, "checked_in_at": self.checked_in_at,
                  "checked_out_at": self.checked_out_at, "minutes": self.minutes}
        return {**answer, "replayed": True} if self.replayed else answer

    @classmethod
    def replayed_from(cls, stored: dict[str, Any]) -> ScanAnswer:
        """The first answer of a nonce, as its repeat gets it."""
        return cls(result=stored["result"], volunteer=stored["volunteer"], checked_in_at=stored["checked_in_at"],
                   checked_out_at=stored["checked_out_at"], minutes=stored["minutes"], replayed=True)


@dataclass(frozen=True)
class ScanRow:
    """Where a scan's answer is kept: its row, unique per (activity, nonce), written with the effect."""

    activity_id: int
    nonce: str
    account_id: int | None
    volunteer_id: int
    client_scanned_at: datetime | None
    created_at: datetime

    def values(self, answer: ScanAnswer) -> dict[str, Any]:
        return {"activity_id": self.activity_id, "nonce": self.nonce, "account_id": self.account_id,
                "volunteer_id": self.volunteer_id, "result": answer.result, "answer": answer.as_dict(),
                "client_scanned_at": self.client_scanned_at, "created_at": self.created_at}


class AnsweredMeanwhile(Exception):
    """The scan's nonce was answered by a concurrent request: roll this one back, answer `answer`."""

    def __init__(self, answer: ScanAnswer):
        super().__init__("nonce answered meanwhile")
        self.answer = answer


@dataclass(frozen=True)
class Rules:
    """The time rules of check-in, from configuration."""

    opens_minutes_before_start: int
    checkout_grace_minutes: int
    min_minutes_before_checkout: int

    @classmethod
    def from_settings(cls, checkin: dict[str, Any]) -> Rules:
        return cls(checkin["opens_minutes_before_start"], checkin["checkout_grace_minutes"],
                   checkin["min_minutes_before_checkout"])


def log_refusal(kind: str, activity_id: int, refusal: DomainError) -> None:
    """Log a refused scan with its reason code: no names, codes, openids or phone numbers.

    WARNING when the caller may not scan there (someone tried another team's activity), else INFO.
    """
    level = logging.WARNING if refusal.status in (401, 403) else logging.INFO
    logger.log(level, "scan refused: activity=%s kind=%s code=%s", activity_id, kind, refusal.code)


@contextmanager
def _logged_refusal(kind: str, activity_id: int) -> Iterator[None]:
    try:
        yield
    except DomainError as refusal:
        log_refusal(kind, activity_id, refusal)
        raise


def captain_scan(account_id: int, activity_id: int, *, code: str, nonce: str, rules: Rules, now: datetime,
                 scanned_at: datetime | None = None, token: accounts.TokenClaims | None = None) -> ScanAnswer:
    """A captain scanned a volunteer's personal code: the first scan checks in, a later one checks out.

    `scanned_at` is the phone's clock for scans made offline; the rules then apply at that moment.
    Returns the answer for the captain's screen; a repeated nonce returns the first answer. With
    `token` (the claims of the caller's bearer token, not yet checked against the account), the
    scan's first query also reads the caller's account and refuses the token as
    `accounts.authenticate` would, first: one round trip less for the request.
    """
    with _logged_refusal("captain_scan", activity_id):
        try:
            volunteer_id, digits = checkin_codes.parse_personal_code(code)
            unreadable = None
        except checkin_codes.CodeError as exc:
            # Judged after access and the nonce, like every other reason: a stranger learns nothing.
            volunteer_id, digits, unreadable = 0, "", exc
        found = _managed_scan(account_id, activity_id, volunteer_id, nonce, doing="扫码签到", token=token)
        if found.earlier_answer is not None:
            return ScanAnswer.replayed_from(found.earlier_answer)
        with _answered_once(found.id, nonce):
            _require_not_cancelled(found)
            if unreadable is not None:
                raise CheckinError(unreadable.code, unreadable.message, 422)
            if found.volunteer_id is None or not found.checkin_secret:
                raise CheckinError("invalid_code", "无法识别的签到码", 422)
            at = _moment(scanned_at, now)
            step = _verify_personal_code(found, digits, at)
            return enter_or_leave(found, found, step=step, method=CheckinMethod.CAPTAIN_SCAN, account_id=account_id,
                                  at=at, rules=rules, now=now,
                                  scan=ScanRow(found.id, nonce, account_id, volunteer_id, scanned_at, now))


def self_scan(account_id: int, activity_id: int, *, code: str, nonce: str, rules: Rules, now: datetime,
              secret_key: str, latitude: float | None = None, longitude: float | None = None) -> ScanAnswer:
    """A volunteer scanned the activity's rotating display code: check in, or later check out.

    The position is used for the geofence check only and never stored (PIPL: minimum necessary).
    Refusals are addressed to the volunteer (您, not 该志愿者).
    """
    with _logged_refusal("self_scan", activity_id), checkin_texts.addressed_to_the_volunteer():
        activity = activity_facts(activity_id, account_id, nonce)
        volunteer_id = db.session.scalar(select(Volunteer.id).where(Volunteer.account_id == account_id))
        if volunteer_id is None:
            raise CheckinError("not_signed_up", "请先注册成为志愿者并报名本活动")
        if activity.earlier_answer is not None:
            return ScanAnswer.replayed_from(activity.earlier_answer)
        with _answered_once(activity.id, nonce):
            _require_not_cancelled(activity)
            try:
                step = checkin_codes.verify_activity_code(code, activity.id, secret_key, now)
            except checkin_codes.CodeError as exc:
                raise CheckinError(exc.code, exc.message, 422) from None
            _require_inside_geofence(activity, latitude, longitude)
            return enter_or_leave(activity, door_of(activity.id, volunteer_id), step=step,
                                  method=CheckinMethod.SELF_SCAN, account_id=account_id, at=now, rules=rules, now=now,
                                  scan=ScanRow(activity.id, nonce, account_id, volunteer_id, None, now))


def manual_entry(account_id: int, activity_id: int, *, volunteer_id: int, reason: str, nonce: str, rules: Rules,
                 now: datetime, at: datetime | None = None) -> ScanAnswer:
    """A captain checks someone in (or out) by hand, e.g. a volunteer without a phone; audited."""
    from app.services import audit

    with _logged_refusal("manual_entry", activity_id):
        found = _managed_scan(account_id, activity_id, volunteer_id, nonce, doing="代为签到")
        if found.earlier_answer is not None:
            return ScanAnswer.replayed_from(found.earlier_answer)
        with _answered_once(found.id, nonce):
            _require_not_cancelled(found)
            if found.volunteer_id is None:
                raise CheckinError("not_signed_up", "该志愿者未报名本活动")
            answer = enter_or_leave(found, found, step=None, method=CheckinMethod.MANUAL, account_id=account_id,
                                    at=_moment(at, now), rules=rules, now=now, manual_reason=reason,
                                    scan=ScanRow(found.id, nonce, account_id, volunteer_id, at, now))
    audit.record(account_id, f"checkin.manual_{answer.result}", "activity", found.id, now=now,
                 volunteer_id=volunteer_id, reason=reason)
    return answer


def captain_scan_batch(account_id: int, activity_id: int, scans: list[dict[str, Any]], *, rules: Rules,
                       now: datetime) -> list[dict[str, Any]]:
    """Replay scans a captain's phone made offline, in the order they were made, one result each.

    Each scan runs in its own savepoint: a refused scan changes nothing and does not stop the rest.
    A caller who may not scan here is refused as a whole (not_activity_manager).
    """
    results: dict[int, dict[str, Any]] = {}
    ordered = sorted(enumerate(scans), key=lambda item: (item[1].get("scanned_at") or now, item[0]))
    for index, item in ordered:
        try:
            with db.session.begin_nested():
                answer = captain_scan(account_id, activity_id, code=item["code"], nonce=item["nonce"], rules=rules,
                                      now=now, scanned_at=item.get("scanned_at"))
            results[index] = {"nonce": item["nonce"], "ok": True, **answer.as_dict()}
        except AnsweredMeanwhile as first:
            results[index] = {"nonce": item["nonce"], "ok": True, **first.answer.as_dict()}
        except CheckinError as exc:
            results[index] = {"nonce": item["nonce"], "ok": False, "code": exc.code, "message": exc.message,
                              **(exc.context or {})}
    return [results[index] for index in range(len(scans))]


def _require_inside_geofence(activity: Row, latitude: float | None, longitude: float | None) -> None:
    if activity.checkin_radius_m is None or activity.latitude is None or activity.longitude is None:
        return
    if latitude is None or longitude is None:
        raise CheckinError("location_required", "本活动需在现场签到，请允许小程序获取位置后重试", 422)
    from app.services.activities import haversine_km

    distance_m = haversine_km(latitude, longitude, activity.latitude, activity.longitude) * 1000
    if distance_m > activity.checkin_radius_m:
        raise CheckinError("outside_geofence", f"距离活动地点约 {int(distance_m)} 米，超出 {activity.checkin_radius_m} 米签到范围")


# --- the door: every scan runs these few statements, built once and compiled once -------------------
#
# A captain scans 300 volunteers in ten minutes, and a festival has many captains: the scan path
# reads plain rows through Core (no ORM identity map, no unit-of-work flush) in three statements
# for a check-in: the activity, the caller's right to manage it (access.py's rule, embedded as SQL),
# the nonce's earlier answer and the volunteer's sign-up and check-in in one; the check-in; the
# scan with its answer.

# The columns of an activity that check-in rules and answers use, and the caller's right to manage it.
_ACTIVITY_COLUMNS = (
    Activity.id, Activity.status, Activity.title, Activity.starts_at, Activity.ends_at, Activity.credit_margin_minutes,
    Activity.latitude, Activity.longitude, Activity.checkin_radius_m,
    access.activity_manager_condition(bindparam("account_id")).label("may_manage"),
)
# One volunteer at one activity's door: who they are, their sign-up, their check-in if any.
_DOOR_COLUMNS = (
    Volunteer.id.label("volunteer_id"), Volunteer.real_name, Volunteer.checkin_secret,
    Volunteer.status.label("volunteer_status"), Signup.id.label("signup_id"),
    Signup.status.label("signup_status"), Checkin.id.label("checkin_id"), Checkin.checked_in_at,
    Checkin.checked_out_at, Checkin.checkin_code_step,
)
_checkins = Checkin.__table__
_scans = CheckinScan.__table__
# The answer a scan with this nonce already got, if any: a repeat is answered from it.
_EARLIER_ANSWER = select(_scans.c.answer).where(_scans.c.activity_id == bindparam("activity_id"),
                                                _scans.c.nonce == bindparam("nonce"))
_EARLIER_ANSWER_HERE = (select(_scans.c.answer).where(_scans.c.activity_id == Activity.id, _scans.c.nonce == bindparam("nonce"))
                        .scalar_subquery().label("earlier_answer"))
_ACTIVITY_FACTS = select(*_ACTIVITY_COLUMNS, _EARLIER_ANSWER_HERE).where(Activity.id == bindparam("activity_id"))
_SIGNUP_HERE = (Signup.volunteer_id == Volunteer.id) & (Signup.activity_id == bindparam("activity_id"))
_CHECKIN_HERE = (Checkin.volunteer_id == Volunteer.id) & (Checkin.activity_id == bindparam("activity_id"))
_DOOR = (select(*_DOOR_COLUMNS).select_from(Volunteer).outerjoin(Signup, _SIGNUP_HERE)
         .outerjoin(Checkin, _CHECKIN_HERE).where(Volunteer.id == bindparam("volunteer_id")))
# Both at once for a captain's scan, where the code or the form names the volunteer: the first
# query of every scan at the door. Its door columns are NULL when there is no such volunteer.
_MANAGED_DOOR = (select(*_ACTIVITY_COLUMNS, _EARLIER_ANSWER_HERE, *_DOOR_COLUMNS).select_from(Activity)
                 .outerjoin(Volunteer, Volunteer.id == bindparam("volunteer_id")).outerjoin(Signup, _SIGNUP_HERE)
                 .outerjoin(Checkin, _CHECKIN_HERE).where(Activity.id == bindparam("activity_id")))
# The same, read from the caller's account: a row whenever the account exists (the activity's and
# door's columns NULL if there is no such activity), with what decides whether its token counts.
_CALLER = aliased(Account, name="caller")
_AUTHENTICATED_DOOR = (
    select(*accounts.token_state_columns(_CALLER), *_ACTIVITY_COLUMNS, _EARLIER_ANSWER_HERE, *_DOOR_COLUMNS)
    .select_from(_CALLER).outerjoin(Activity, Activity.id == bindparam("activity_id"))
    .outerjoin(Volunteer, Volunteer.id == bindparam("volunteer_id")).outerjoin(Signup, _SIGNUP_HERE)
    .outerjoin(Checkin, _CHECKIN_HERE).where(_CALLER.id == bindparam("account_id")))

# The check-out: only an open check-in is closed, so two scans at once close it once.
_CLOSE_CHECKIN = (
    update(_checkins)
    .where(_checkins.c.id == bindparam("checkin_id"), _checkins.c.checked_out_at.is_(None))
    .values(checked_out_at=bindparam("at"), checkout_method=bindparam("method"),
            checked_out_by_account_id=bindparam("account_id"))
    .returning(_checkins.c.checked_in_at, _checkins.c.checked_out_at)
)
# The same on PostgreSQL, also taking the volunteer's crediting lock (ledger.py) for the record that
# follows, at no extra round trip; only the closer of the check-in takes it.
_CLOSE_CHECKIN_LOCKING = _CLOSE_CHECKIN.returning(ledger.lock_expression(_checkins.c.volunteer_id).label("locked"))


def _execute(statement: Executable, params: dict[str, Any]) -> Result:
    return unit_connection().execute(statement, params)


def activity_facts(activity_id: int, account_id: int | None, nonce: str | None = None) -> Row:
    """The activity's columns that check-in uses, and the nonce's earlier answer; drafts are not found."""
    activity = _execute(_ACTIVITY_FACTS, {"activity_id": activity_id, "account_id": account_id, "nonce": nonce}).first()
    if activity is None or activity.status is ActivityStatus.DRAFT:
        raise access.activity_not_found()
    return activity


def door_of(activity_id: int, volunteer_id: int) -> Row | None:
    """One volunteer at one activity's door: their sign-up and check-in, if any."""
    return _execute(_DOOR, {"activity_id": activity_id, "volunteer_id": volunteer_id}).first()


def _managed_scan(account_id: int, activity_id: int, volunteer_id: int, nonce: str, *, doing: str,
                  token: accounts.TokenClaims | None = None) -> Row:
    """The start of every scan by a captain or organiser: the activity, access, and an earlier answer.

    Returns one row that is the activity's facts, the nonce's earlier answer and the volunteer's
    door (see `_MANAGED_DOOR`); access is access.py's rule and refusal, judged in the same query.
    With `token`, the query is the request's first and also reads the caller's account
    (`_AUTHENTICATED_DOOR`), whose refusal comes before any other; and the unit runs in autocommit
    (`app.db.first_row_of_first`): a check-in is then its one writing statement with no BEGIN or COMMIT
    round trip, and a check-out begins its transaction before it closes the check-in (`_checkout`).
    """
    params = {"activity_id": activity_id, "account_id": account_id, "nonce": nonce, "volunteer_id": volunteer_id}
    if token is None:
        found = _execute(_MANAGED_DOOR, params).first()
    else:
        found = first_row_of_first(_AUTHENTICATED_DOOR, params, autocommit=True)
        accounts.require_token_counts(token, found)
    if found is None or found.id is None or found.status is ActivityStatus.DRAFT:
        raise access.activity_not_found()
    if not found.may_manage:
        raise access.not_activity_manager(doing)
    return found


def _require_not_cancelled(activity: Row) -> None:
    if activity.status in (ActivityStatus.CANCELLED, ActivityStatus.WITHDRAWN):
        raise CheckinError("activity_cancelled", "活动已取消")


# How far a phone's clock may run ahead of ours; a later time is refused, never quietly replaced.
_CLOCK_AHEAD_TOLERANCE = timedelta(minutes=1)


def _moment(scanned_at: datetime | None, now: datetime) -> datetime:
    """The time a scan (or a manual entry) took place: the phone's, unless it lies in our future."""
    if scanned_at is None:
        return now
    if scanned_at > now + _CLOCK_AHEAD_TOLERANCE:
        # Nobody checks in from the future; the captain's screen must say why, so the time gets fixed.
        ahead = int((scanned_at - now).total_seconds() // 60)
        raise CheckinError("clock_ahead", f"扫码时间比服务器时间快约 {ahead} 分钟，请校准手机时间后重新扫码", 422,
                           context={"scanned_at": scanned_at.isoformat(), "server_time": now.isoformat()})
    return scanned_at


@contextmanager
def _answered_once(activity_id: int, nonce: str) -> Iterator[None]:
    """A refusal of a scan whose nonce a concurrent request answered meanwhile gives that answer.

    The repeat waited for the first at a unique key (the check-in, or its row for the check-out)
    and was then judged against it, e.g. "already checked in"; the phone that sent the nonce twice
    must see one answer.
    """
    try:
        yield
    except CheckinError:
        earlier = _execute(_EARLIER_ANSWER, {"activity_id": activity_id, "nonce": nonce}).scalar()
        if earlier is not None:
            raise AnsweredMeanwhile(ScanAnswer.replayed_from(earlier)) from None
        raise


def _answered_meanwhile(scan: ScanRow) -> AnsweredMeanwhile:
    """A concurrent scan with this nonce got there first: its answer wins.

    The unique (activity, nonce) of the scan's row, written last with the answer, is what makes a
    nonce take effect once: this transaction's check-in or check-out cannot commit beside the first
    one's, so AnsweredMeanwhile rolls it back.
    """
    earlier = _execute(_EARLIER_ANSWER, {"activity_id": scan.activity_id, "nonce": scan.nonce}).scalar()
    return AnsweredMeanwhile(ScanAnswer.replayed_from(earlier))


def _verify_personal_code(door: Row, digits: str, at: datetime) -> int:
    """The code step the digits match (current or previous), or the reason they do not."""
    step = checkin_codes.verify_personal_totp(door.checkin_secret, digits, at)
    if step is not None:
        return step
    for back in range(2, _EXPIRED_LOOKBACK_STEPS + 1, 2):
        earlier = at - timedelta(seconds=checkin_codes.STEP_SECONDS * back)
        if checkin_codes.verify_personal_totp(door.checkin_secret, digits, earlier) is not None:
            raise CheckinError("expired_code", "签到码已过期，请志愿者刷新后重试", 422, context=_who(door))
    raise CheckinError("invalid_code", "无法识别的签到码", 422)


def enter_or_leave(activity: Row, door: Row, *, step: int | None, method: CheckinMethod, account_id: int | None,
                    at: datetime, rules: Rules, now: datetime, manual_reason: str | None = None,
                    scan: ScanRow | None = None) -> ScanAnswer:
    """Check the volunteer in, or out if they are in: the rules every way of checking in shares.

    With `scan`, the scan's row is written with its answer in the same transaction, last; a check-in
    writes both rows in one statement (the scan's only if the check-in went in), so it costs one round
    trip. Either way a nonce answered meanwhile by a concurrent request raises AnsweredMeanwhile.
    """
    if door.signup_id is None or door.signup_status is SignupStatus.CANCELLED:
        raise CheckinError("not_signed_up", "该志愿者未报名本活动", context=_who(door))
    if door.signup_status is not SignupStatus.APPROVED:
        raise CheckinError("signup_not_approved", "该志愿者的报名尚未通过", context=_who(door))
    if door.checkin_id is None:
        if door.volunteer_status is VolunteerStatus.SUSPENDED:
            raise CheckinError("volunteer_suspended", "该志愿者的资格已被暂停，不能签到", 403, context=_who(door))
        _require_window(activity.starts_at - timedelta(minutes=rules.opens_minutes_before_start), activity.ends_at, at,
                        door)
        checkin = {
            "activity_id": activity.id, "volunteer_id": door.volunteer_id, "signup_id": door.signup_id,
            "checked_in_at": at, "checkin_method": method, "checked_in_by_account_id": account_id,
            "checkin_code_step": step, "manual_reason": manual_reason, "needs_review": False}
        answer = ScanAnswer(result="checked_in", **_who(door), **_times(activity, at, None, at))
        if scan is None:
            inserted, recorded = insert_unless_present(Checkin, checkin), None
        else:
            try:
                inserted, recorded = insert_both_unless_present(Checkin, checkin, CheckinScan, scan.values(answer))
            except SecondRowPresent:
                raise _answered_meanwhile(scan) from None
        if inserted is not None:
            if scan is not None and recorded is None:
                raise _answered_meanwhile(scan)
            return answer
        # A concurrent scan checked the volunteer in a moment ago: this one is judged against it.
        door = door_of(activity.id, door.volunteer_id)
    return _checkout(activity, door, step=step, method=method, account_id=account_id, at=at, rules=rules, now=now,
                     scan=scan)


def _checkout(activity: Row, door: Row, *, step: int | None, method: CheckinMethod, account_id: int | None,
              at: datetime, rules: Rules, now: datetime, scan: ScanRow | None = None) -> ScanAnswer:
    if door.checked_out_at is not None:
        raise CheckinError("already_checked_out", "该志愿者已签退", context=_context(activity, door, at))
    if step is not None and step == door.checkin_code_step:
        raise CheckinError("already_checked_in", "该志愿者已签到", context=_context(activity, door, at))
    if at < door.checked_in_at:
        raise CheckinError("checkout_before_checkin",
                           f"签退时间不能早于签到时间（{moment_text(door.checked_in_at)}）", 422,
                           context=_context(activity, door, door.checked_in_at))
    if at < door.checked_in_at + timedelta(minutes=rules.min_minutes_before_checkout):
        raise CheckinError("too_soon_to_check_out", f"签到后 {rules.min_minutes_before_checkout} 分钟内不能签退",
                           context=_context(activity, door, at))
    _require_window(door.checked_in_at, activity.ends_at + timedelta(minutes=rules.checkout_grace_minutes), at, door)
    # The closing UPDATE and the record stand or fall together (an overlap refuses the record and
    # leaves the volunteer checked in), and the record must see every span credited before the
    # lock that the UPDATE takes: one transaction, even in a unit that began in autocommit.
    begin_transaction()
    connection = unit_connection()
    locking = connection.dialect.name == "postgresql"
    closed = first_row(connection, _CLOSE_CHECKIN_LOCKING if locking else _CLOSE_CHECKIN, {
        "checkin_id": door.checkin_id, "at": at, "method": method, "account_id": account_id})
    if closed is None:
        # Another scan closed it a moment ago: one check-out, one record.
        raise CheckinError("already_checked_out", "该志愿者已签退",
                           context=_context(activity, door_of(activity.id, door.volunteer_id), at))
    # The answer is known before the record is written (the minutes are those the ledger credits), so
    # the scan's row, which keeps it, goes into the ledger's statement (one round trip on PostgreSQL).
    answer = ScanAnswer(result="checked_out", **_who(door), checked_in_at=closed.checked_in_at.isoformat(),
                        checked_out_at=closed.checked_out_at.isoformat(),
                        minutes=service_records.credited_minutes(activity, closed.checked_in_at, closed.checked_out_at))
    try:
        ledger.credit_checkin(activity, checkin_id=door.checkin_id, volunteer_id=door.volunteer_id,
                              checked_in_at=closed.checked_in_at, checked_out_at=closed.checked_out_at,
                              account_id=account_id, now=now, lock_held=True,
                              then_insert=None if scan is None else (CheckinScan, scan.values(answer)))
    except ledger.RowPresent:
        raise _answered_meanwhile(scan) from None
    except DomainError as refusal:
        # Time credited another way (bulk, a declaration, 补录) overlaps this stay or fills the
        # activity's cap: the check-out is refused and rolled back, the volunteer stays checked in.
        raise CheckinError(refusal.code, refusal.message, refusal.status,
                           context=_context(activity, door, at)) from None
    return answer


def _require_window(opens: datetime, closes: datetime, at: datetime, door: Row) -> None:
    if not opens <= at <= closes:
        raise CheckinError("outside_checkin_window",
                           f"不在签到时间内（{moment_text(opens)} 至 {moment_text(closes)}）",
                           context=_who(door))


def _who(door: Row) -> dict[str, Any]:
    return {"volunteer": {"id": door.volunteer_id, "name": pii.mask_name(door.real_name)}}


def _context(activity: Row, door: Row, at: datetime) -> dict[str, Any]:
    """What a refusal shows beside its reason: who, when, and the minutes that count so far."""
    return {**_who(door), **_times(activity, door.checked_in_at, door.checked_out_at, at)}


def _times(activity: Row, checked_in_at: datetime, checked_out_at: datetime | None, at: datetime) -> dict[str, Any]:
    return {"checked_in_at": checked_in_at.isoformat(),
            "checked_out_at": checked_out_at.isoformat() if checked_out_at else None,
            "minutes": service_records.credited_minutes(activity, checked_in_at, checked_out_at or at)}


def close_forgotten_checkouts(*, rules: Rules, policy: str, now: datetime, limit: int = 500) -> int:
    """Close check-ins still open at end + grace: out at the activity's end, flagged for review.

    With policy "close_at_end" the time up to the end is credited at once; with "hold_for_review"
    nothing is credited until a captain or organiser confirms. Safe to run twice, or in two
    processes at once: each check-in is closed by a conditional UPDATE, and only the closer writes.
    """
    deadline = now - timedelta(minutes=rules.checkout_grace_minutes)
    rows = db.session.execute(
        select(Checkin.id, Activity.ends_at).join(Activity, Activity.id == Checkin.activity_id)
        .where(Checkin.checked_out_at.is_(None), Activity.ends_at < deadline).order_by(Checkin.id).limit(limit)
    ).all()
    closed = 0
    for checkin_id, ends_at in rows:
        changed = db.session.execute(
            update(Checkin).where(Checkin.id == checkin_id, Checkin.checked_out_at.is_(None))
            .values(checked_out_at=ends_at, checkout_method=CheckinMethod.AUTO_CLOSE, needs_review=True)
            .returning(Checkin.activity_id, Checkin.volunteer_id, Checkin.checked_in_at, Checkin.checked_out_at)
            .execution_options(synchronize_session=False)
        ).first()
        if changed is None:
            continue
        closed += 1
        if policy == "close_at_end":
            try:
                with db.session.begin_nested():
                    ledger.credit_checkin(db.session.get(Activity, changed.activity_id), checkin_id=checkin_id,
                                          volunteer_id=changed.volunteer_id, checked_in_at=changed.checked_in_at,
                                          checked_out_at=changed.checked_out_at, account_id=None, now=now)
            except DomainError as refusal:
                # Overlapping or over the cap: closed and held for review (needs_review) uncredited.
                logger.info("forgotten check-out held uncredited: checkin=%s code=%s", checkin_id, refusal.code)
    return closed
