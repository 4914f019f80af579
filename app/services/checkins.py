"""Check-in and check-out: one rule set for every way in, each scan answered once by its nonce.

pretix's check-in is the model: a scan is redeemed with a client nonce, and a repeated nonce gets
the first answer instead of a second effect; refusals carry stable reason codes. What makes hours
impossible to lose or double is in the database, not in `if`s: one check-in per volunteer and
activity (unique), a check-out is a conditional UPDATE on `checked_out_at IS NULL`, one attendance
record per check-in (unique), and one scan row per (activity, nonce) (unique), written last with
the answer: a repeat that raced the first one cannot commit, and answers with the first answer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Executable, Result, Row, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from app import checkin_codes, pii
from app.db import insert_unless_present
from app.errors import DomainError, NotFound
from app.extensions import db
from app.services import service_records, signups
from app.texts import clock_text, hours_text, moment_text
from app.timeutil import local_day_bounds, to_local
from app.wechat.errors import WeChatError
from app.wechat.gateway import QRTicket, WeChatGateway
from models import (Account, Activity, ActivityQrCode, ActivityStatus, Checkin, CheckinMethod, CheckinScan, Signup,
                    SignupStatus, Volunteer)

# How far back a personal code is still recognised as "expired" rather than "invalid" (10 minutes).
_EXPIRED_LOOKBACK_STEPS = 20


class CheckinError(DomainError):
    """A scan was refused; `code` is the reason (already_checked_in, not_signed_up, …)."""

    def __init__(self, code: str, message: str, status: int = 409, context: dict[str, Any] | None = None):
        super().__init__(code, message, status, context=context)


# The same refusals as a volunteer who scanned by themselves reads them (the captain reads "该志愿者…").
_TO_THE_VOLUNTEER = {
    "not_signed_up": "您未报名本活动",
    "signup_not_approved": "您的报名尚未通过审核",
    "already_checked_in": "您已签到",
    "already_checked_out": "您已签退",
}


def _to_the_volunteer(error: CheckinError) -> CheckinError:
    return CheckinError(error.code, _TO_THE_VOLUNTEER.get(error.code, error.message), error.status,
                        context=error.context)


def _addressed_to_the_volunteer(scan: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """A scan the volunteer made themselves: its refusals say 您, not 该志愿者."""
    @functools.wraps(scan)
    def addressed(*args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return scan(*args, **kwargs)
        except CheckinError as refusal:
            raise _to_the_volunteer(refusal) from None
    return addressed


class AnsweredMeanwhile(Exception):
    """The scan's nonce was answered by a concurrent request: roll this one back, answer `answer`."""

    def __init__(self, answer: dict[str, Any]):
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


def captain_scan(account_id: int, activity_id: int, *, code: str, nonce: str, rules: Rules, now: datetime,
                 scanned_at: datetime | None = None) -> dict[str, Any]:
    """A captain scanned a volunteer's personal code: the first scan checks in, a later one checks out.

    `scanned_at` is the phone's clock for scans made offline; the rules then apply at that moment.
    Returns the answer for the captain's screen; a repeated nonce returns the first answer.
    """
    try:
        volunteer_id, digits = checkin_codes.parse_personal_code(code)
        unreadable = None
    except checkin_codes.CodeError as exc:
        # Judged after access and the nonce, like every other reason: a stranger learns nothing.
        volunteer_id, digits, unreadable = 0, "", exc
    found = _managed_scan(account_id, activity_id, volunteer_id, nonce, doing="扫码签到")
    if found.earlier_answer is not None:
        return _replayed(found.earlier_answer)
    with _answered_once(found.id, nonce):
        _require_not_cancelled(found)
        if unreadable is not None:
            raise CheckinError(unreadable.code, unreadable.message, 422)
        if found.volunteer_id is None or not found.checkin_secret:
            raise CheckinError("invalid_code", "无法识别的签到码", 422)
        at = _moment(scanned_at, now)
        step = _verify_personal_code(found, digits, at)
        answer = _enter_or_leave(found, found, step=step, method=CheckinMethod.CAPTAIN_SCAN, account_id=account_id,
                                 at=at, rules=rules, now=now)
    _record_scan(found.id, nonce, account_id, volunteer_id, answer, scanned_at, now)
    return answer


@_addressed_to_the_volunteer
def self_scan(account_id: int, activity_id: int, *, code: str, nonce: str, rules: Rules, now: datetime,
              secret_key: str, latitude: float | None = None, longitude: float | None = None) -> dict[str, Any]:
    """A volunteer scanned the activity's rotating display code: check in, or later check out.

    The position is used for the geofence check only and never stored (PIPL: minimum necessary).
    """
    activity = _activity_facts(activity_id, account_id, nonce)
    volunteer_id = db.session.scalar(select(Volunteer.id).where(Volunteer.account_id == account_id))
    if volunteer_id is None:
        raise CheckinError("not_signed_up", "请先注册成为志愿者并报名本活动")
    if activity.earlier_answer is not None:
        return _replayed(activity.earlier_answer)
    with _answered_once(activity.id, nonce):
        _require_not_cancelled(activity)
        try:
            step = checkin_codes.verify_activity_code(code, activity.id, secret_key, now)
        except checkin_codes.CodeError as exc:
            raise CheckinError(exc.code, exc.message, 422) from None
        _require_inside_geofence(activity, latitude, longitude)
        answer = _enter_or_leave(activity, _door(activity.id, volunteer_id), step=step, method=CheckinMethod.SELF_SCAN,
                                 account_id=account_id, at=now, rules=rules, now=now)
    _record_scan(activity.id, nonce, account_id, volunteer_id, answer, None, now)
    return answer


def display_code(account: Account, activity_id: int, *, secret_key: str, link_base_url: str,
                 now: datetime) -> dict[str, Any]:
    """The rotating code the captain's screen shows for volunteers to scan (no WeChat call)."""
    activity = _activity(activity_id)
    if not signups.can_manage_attendance(account.id, activity):
        raise CheckinError("not_your_team", "只有本活动的组织者或所属队伍的队长可以展示签到码", 403)
    token = checkin_codes.activity_code(activity.id, secret_key, now)
    link = checkin_codes.activity_link(link_base_url, activity.id, token)
    return {"token": token, "link": link, "seconds_left": checkin_codes.seconds_left(now),
            "qr_png": checkin_codes.qr_png(link)}


def manual_entry(account_id: int, activity_id: int, *, volunteer_id: int, reason: str, nonce: str, rules: Rules,
                 now: datetime, at: datetime | None = None) -> dict[str, Any]:
    """A captain checks someone in (or out) by hand, e.g. a volunteer without a phone; audited."""
    from app.services import audit

    found = _managed_scan(account_id, activity_id, volunteer_id, nonce, doing="代为签到")
    if found.earlier_answer is not None:
        return _replayed(found.earlier_answer)
    with _answered_once(found.id, nonce):
        _require_not_cancelled(found)
        if found.volunteer_id is None:
            raise CheckinError("not_signed_up", "该志愿者未报名本活动")
        answer = _enter_or_leave(found, found, step=None, method=CheckinMethod.MANUAL, account_id=account_id,
                                 at=_moment(at, now), rules=rules, now=now, manual_reason=reason)
    _record_scan(found.id, nonce, account_id, volunteer_id, answer, at, now)
    audit.record(account_id, f"checkin.manual_{answer['result']}", "activity", found.id, now=now,
                 volunteer_id=volunteer_id, reason=reason)
    return answer


def captain_scan_batch(account_id: int, activity_id: int, scans: list[dict[str, Any]], *, rules: Rules,
                       now: datetime) -> list[dict[str, Any]]:
    """Replay scans a captain's phone made offline, in the order they were made, one result each.

    Each scan runs in its own savepoint: a refused scan changes nothing and does not stop the rest.
    """
    results: dict[int, dict[str, Any]] = {}
    ordered = sorted(enumerate(scans), key=lambda item: (item[1].get("scanned_at") or now, item[0]))
    for index, item in ordered:
        try:
            with db.session.begin_nested():
                answer = captain_scan(account_id, activity_id, code=item["code"], nonce=item["nonce"], rules=rules,
                                      now=now, scanned_at=item.get("scanned_at"))
            results[index] = {"nonce": item["nonce"], "ok": True, **answer}
        except AnsweredMeanwhile as first:
            results[index] = {"nonce": item["nonce"], "ok": True, **first.answer}
        except CheckinError as exc:
            results[index] = {"nonce": item["nonce"], "ok": False, "code": exc.code, "message": exc.message,
                              **(exc.context or {})}
            if exc.code == "not_your_team":
                raise
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
# for a check-in: the activity, the caller's right to manage it, the nonce's earlier answer and the
# volunteer's sign-up and check-in in one; the check-in; the scan with its answer.

# The columns of an activity that check-in rules and answers use, and the caller's right to manage it.
_ACTIVITY_COLUMNS = (
    Activity.id, Activity.status, Activity.title, Activity.starts_at, Activity.ends_at, Activity.credit_margin_minutes,
    Activity.latitude, Activity.longitude, Activity.checkin_radius_m,
    signups.manages_attendance(bindparam("account_id")).label("may_manage"),
)
# One volunteer at one activity's door: who they are, their sign-up, their check-in if any.
_DOOR_COLUMNS = (
    Volunteer.id.label("volunteer_id"), Volunteer.real_name, Volunteer.checkin_secret, Signup.id.label("signup_id"),
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

# The check-out: only an open check-in is closed, so two scans at once close it once.
_CLOSE_CHECKIN = (
    update(_checkins)
    .where(_checkins.c.id == bindparam("checkin_id"), _checkins.c.checked_out_at.is_(None))
    .values(checked_out_at=bindparam("at"), checkout_method=bindparam("method"),
            checked_out_by_account_id=bindparam("account_id"))
    .returning(_checkins.c.checked_in_at, _checkins.c.checked_out_at)
)


def _execute(statement: Executable, params: dict[str, Any]) -> Result:
    # Core statements skip the ORM's autoflush; flushing first keeps them seeing the session's own
    # pending changes, as ORM queries do (a no-op when nothing is pending, as on the scan path).
    db.session.flush()
    return db.session.connection().execute(statement, params)


def _activity_facts(activity_id: int, account_id: int | None, nonce: str | None = None) -> Row:
    activity = _execute(_ACTIVITY_FACTS, {"activity_id": activity_id, "account_id": account_id, "nonce": nonce}).first()
    if activity is None or activity.status is ActivityStatus.DRAFT:
        raise NotFound("activity_not_found", "找不到该活动")
    return activity


def _door(activity_id: int, volunteer_id: int) -> Row | None:
    return _execute(_DOOR, {"activity_id": activity_id, "volunteer_id": volunteer_id}).first()


def _managed_scan(account_id: int, activity_id: int, volunteer_id: int, nonce: str, *, doing: str) -> Row:
    """The start of every scan by a captain or organiser: the activity, access, and an earlier answer.

    Returns one row that is the activity's facts, the nonce's earlier answer and the volunteer's
    door (see `_MANAGED_DOOR`).
    """
    found = _execute(_MANAGED_DOOR, {"activity_id": activity_id, "account_id": account_id, "nonce": nonce,
                                     "volunteer_id": volunteer_id}).first()
    if found is None or found.status is ActivityStatus.DRAFT:
        raise NotFound("activity_not_found", "找不到该活动")
    if not found.may_manage:
        raise CheckinError("not_your_team", f"只有本活动的组织者或所属队伍的队长可以{doing}", 403)
    return found


def _require_not_cancelled(activity: Row) -> None:
    if activity.status in (ActivityStatus.CANCELLED, ActivityStatus.WITHDRAWN):
        raise CheckinError("activity_cancelled", "活动已取消")


def _activity(activity_id: int) -> Activity:
    activity = db.session.get(Activity, activity_id)
    if activity is None or activity.status is ActivityStatus.DRAFT:
        raise NotFound("activity_not_found", "找不到该活动")
    return activity


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
            raise AnsweredMeanwhile(_replayed(earlier)) from None
        raise


def _record_scan(activity_id: int, nonce: str, account_id: int, volunteer_id: int, answer: dict[str, Any],
                 client_time: datetime | None, now: datetime) -> None:
    """Keep the scan and its answer; if a concurrent scan with this nonce got there first, its answer wins.

    The unique (activity, nonce) is what makes a nonce take effect once: this transaction's check-in
    or check-out cannot commit beside the first one's, so AnsweredMeanwhile rolls it back.
    """
    scan_id = insert_unless_present(CheckinScan, {
        "activity_id": activity_id, "nonce": nonce, "account_id": account_id, "volunteer_id": volunteer_id,
        "result": answer["result"], "answer": answer, "client_scanned_at": client_time, "created_at": now})
    if scan_id is None:
        earlier = _execute(_EARLIER_ANSWER, {"activity_id": activity_id, "nonce": nonce}).scalar()
        raise AnsweredMeanwhile(_replayed(earlier))


def _replayed(answer: dict[str, Any]) -> dict[str, Any]:
    return {**answer, "replayed": True}


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


def _enter_or_leave(activity: Row, door: Row, *, step: int | None, method: CheckinMethod, account_id: int | None,
                    at: datetime, rules: Rules, now: datetime, manual_reason: str | None = None) -> dict[str, Any]:
    """Check the volunteer in, or out if they are in: the rules every way of checking in shares."""
    if door.signup_id is None or door.signup_status is SignupStatus.CANCELLED:
        raise CheckinError("not_signed_up", "该志愿者未报名本活动", context=_who(door))
    if door.signup_status is not SignupStatus.APPROVED:
        raise CheckinError("signup_not_approved", "该志愿者的报名尚未通过", context=_who(door))
    if door.checkin_id is None:
        _require_window(activity.starts_at - timedelta(minutes=rules.opens_minutes_before_start), activity.ends_at, at,
                        door)
        inserted = insert_unless_present(Checkin, {
            "activity_id": activity.id, "volunteer_id": door.volunteer_id, "signup_id": door.signup_id,
            "checked_in_at": at, "checkin_method": method, "checked_in_by_account_id": account_id,
            "checkin_code_step": step, "manual_reason": manual_reason, "needs_review": False})
        if inserted is not None:
            return _answer("checked_in", activity, door, at, None, at)
        # A concurrent scan checked the volunteer in a moment ago: this one is judged against it.
        door = _door(activity.id, door.volunteer_id)
    return _checkout(activity, door, step=step, method=method, account_id=account_id, at=at, rules=rules, now=now)


def _checkout(activity: Row, door: Row, *, step: int | None, method: CheckinMethod, account_id: int | None,
              at: datetime, rules: Rules, now: datetime) -> dict[str, Any]:
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
    closed = _execute(_CLOSE_CHECKIN, {
        "checkin_id": door.checkin_id, "at": at, "method": method, "account_id": account_id}).first()
    if closed is None:
        # Another scan closed it a moment ago: one check-out, one record.
        raise CheckinError("already_checked_out", "该志愿者已签退",
                           context=_context(activity, _door(activity.id, door.volunteer_id), at))
    minutes = service_records.record_attendance(activity, checkin_id=door.checkin_id, volunteer_id=door.volunteer_id,
                                                checked_in_at=closed.checked_in_at,
                                                checked_out_at=closed.checked_out_at, account_id=account_id, now=now)
    answer = _answer("checked_out", activity, door, closed.checked_in_at, closed.checked_out_at, at)
    answer["minutes"] = minutes
    return answer


def _require_window(opens: datetime, closes: datetime, at: datetime, door: Row) -> None:
    if not opens <= at <= closes:
        raise CheckinError("outside_checkin_window",
                           f"不在签到时间内（{moment_text(opens)} 至 {moment_text(closes)}）",
                           context=_who(door))


def _who(door: Row) -> dict[str, Any]:
    return {"volunteer": {"id": door.volunteer_id, "name": pii.mask_name(door.real_name)}}


def _context(activity: Row, door: Row, at: datetime) -> dict[str, Any]:
    return _answer(None, activity, door, door.checked_in_at, door.checked_out_at, at)


def _answer(result: str | None, activity: Row, door: Row, checked_in_at: datetime,
            checked_out_at: datetime | None, at: datetime) -> dict[str, Any]:
    """What the captain's screen shows: who, when, and the minutes that count so far."""
    answer: dict[str, Any] = {
        **_who(door),
        "checked_in_at": checked_in_at.isoformat(),
        "checked_out_at": checked_out_at.isoformat() if checked_out_at else None,
        "minutes": service_records.credited_minutes(activity, checked_in_at, checked_out_at or at),
    }
    if result is not None:
        answer["result"] = result
    return answer


def personal_code(account: Account, *, now: datetime, rotate: bool = False) -> dict[str, Any]:
    """The volunteer's check-in secret and current code; the secret is made on first use or on request.

    The mini-program keeps the secret so the phone shows valid codes without signal; rotating it
    makes every copy of the old one (a lost phone, a shared screenshot of the secret) useless.
    """
    volunteer = db.session.scalar(select(Volunteer).where(Volunteer.account_id == account.id))
    if volunteer is None:
        raise NotFound("volunteer_not_found", "请先注册成为志愿者")
    if rotate or not volunteer.checkin_secret:
        volunteer.checkin_secret = checkin_codes.new_secret()
        volunteer.updated_at = now
        db.session.flush()
    return {
        "volunteer_id": volunteer.id,
        "code": checkin_codes.personal_code(volunteer.id, volunteer.checkin_secret, now),
        "seconds_left": checkin_codes.seconds_left(now),
        "secret": volunteer.checkin_secret,
        "step_seconds": checkin_codes.STEP_SECONDS,
        "digits": checkin_codes.TOTP_DIGITS,
        "algorithm": "SHA1",
        "format": "V{volunteer_id}-{totp}",
    }


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
            service_records.record_attendance(db.session.get(Activity, changed.activity_id), checkin_id=checkin_id,
                                              volunteer_id=changed.volunteer_id, checked_in_at=changed.checked_in_at,
                                              checked_out_at=changed.checked_out_at, account_id=None, now=now)
    return closed


# --- the official account's parametric QR ----------------------------------------------------------

QR_SCENE_PREFIX = "checkin:"


def official_qr_scene(activity_id: int, day: date) -> str:
    """The scene string the QR carries, e.g. checkin:42:20261201 (WeChat allows 64 characters)."""
    return f"{QR_SCENE_PREFIX}{activity_id}:{day:%Y%m%d}"


def todays_official_qr(account: Account, activity_id: int, *, now: datetime) -> tuple[Activity, ActivityQrCode | None]:
    """Check the caller may show it; return today's QR if it was already made and is still valid."""
    activity = _activity(activity_id)
    if not signups.can_manage_attendance(account.id, activity):
        raise CheckinError("not_your_team", "只有本活动的组织者或所属队伍的队长可以展示签到二维码", 403)
    if activity.status in (ActivityStatus.CANCELLED, ActivityStatus.WITHDRAWN):
        raise CheckinError("activity_cancelled", "活动已取消")
    day = to_local(now).date()
    row = db.session.scalar(select(ActivityQrCode).where(ActivityQrCode.activity_id == activity.id,
                                                         ActivityQrCode.day == day))
    return activity, row if row is not None and row.expires_at > now else None


def qr_lifetime_seconds(now: datetime) -> int:
    """Seconds until the end of the Shanghai day: the QR serves one activity day."""
    _, day_end = local_day_bounds(to_local(now).date())
    return max(int((day_end - now).total_seconds()), 60)


def make_official_qr(gateway: WeChatGateway, activity_id: int, *, now: datetime) -> QRTicket:
    """Ask WeChat for today's QR of the activity; call with no transaction open (it is a network call)."""
    lifetime = qr_lifetime_seconds(now)
    try:
        made = gateway.create_temporary_qrcode(official_qr_scene(activity_id, to_local(now).date()), lifetime)
    except WeChatError:
        raise DomainError("wechat_unavailable", "微信服务暂时不可用，请稍后再试", 503) from None
    return QRTicket(made.ticket, made.url, made.expire_seconds or lifetime)


def save_official_qr(activity_id: int, made: QRTicket, *, now: datetime) -> ActivityQrCode:
    """Keep the QR WeChat made for today; if another request saved one meanwhile, that one stands."""
    day = to_local(now).date()
    try:
        with db.session.begin_nested():
            row = ActivityQrCode(activity_id=activity_id, day=day, scene=official_qr_scene(activity_id, day),
                                 ticket=made.ticket, url=made.url,
                                 expires_at=now + timedelta(seconds=made.expire_seconds or qr_lifetime_seconds(now)),
                                 created_at=now)
            db.session.add(row)
        return row
    except IntegrityError:
        return db.session.scalar(select(ActivityQrCode).where(ActivityQrCode.activity_id == activity_id,
                                                              ActivityQrCode.day == day))


def official_scan(oa_openid: str, scene: str, *, rules: Rules, now: datetime) -> str:
    """A follower scanned an activity's official-account QR (SCAN event): the reply text."""
    try:
        activity_id_text, day_text = scene[len(QR_SCENE_PREFIX):].split(":")
        activity_id = int(activity_id_text)
    except ValueError:
        return "无法识别的签到二维码"
    if day_text != f"{to_local(now).date():%Y%m%d}":
        return "签到未成功：这是其他日期的签到二维码，请扫描现场当天的二维码"
    volunteer = db.session.execute(select(Volunteer.id, Volunteer.account_id)
                                   .join(Account, Account.id == Volunteer.account_id)
                                   .where(Account.oa_openid == oa_openid)).first()
    if volunteer is None:
        return "签到未成功：暂未找到您的志愿者信息，请先在小程序中注册；刚关注的话，请稍等一分钟后再扫一次。"
    activity = _execute(_ACTIVITY_FACTS, {"activity_id": activity_id, "account_id": None, "nonce": None}).first()
    if activity is None or activity.status is ActivityStatus.DRAFT:
        return "无法识别的签到二维码"
    if activity.status in (ActivityStatus.CANCELLED, ActivityStatus.WITHDRAWN):
        return "签到未成功：活动已取消"
    try:
        with db.session.begin_nested():
            answer = _enter_or_leave(activity, _door(activity.id, volunteer.id), step=None,
                                     method=CheckinMethod.OFFICIAL_QR, account_id=volunteer.account_id, at=now, rules=rules,
                                     now=now)
    except CheckinError as exc:
        return f"签到未成功：{_to_the_volunteer(exc).message}"
    when = clock_text(now)
    if answer["result"] == "checked_in":
        return f"签到成功：{activity.title}，{when} 已签到。活动结束时请再扫一次签退。"
    return f"签退成功：{activity.title}，{when} 已签退，本次计入服务时长 {hours_text(answer['minutes'])}。感谢您的服务！"
