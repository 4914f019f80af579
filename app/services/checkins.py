"""Check-in and check-out: one rule set for every way in, each scan answered once by its nonce.

pretix's check-in is the model: a scan is redeemed with a client nonce, and a repeated nonce gets
the first answer instead of a second effect; refusals carry stable reason codes. What makes hours
impossible to lose or double is in the database, not in `if`s: one check-in per volunteer and
activity (unique), a check-out is a conditional UPDATE on `checked_out_at IS NULL`, one attendance
record per check-in (unique), and one scan row per (activity, nonce) (unique), inserted first so a
concurrent repeat waits for the first answer and returns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from app import checkin_codes, pii
from app.errors import DomainError, NotFound
from app.extensions import db
from app.services import service_records, signups
from app.timeutil import format_local, local_day_bounds, to_local
from models import (Account, Activity, ActivityQrCode, ActivityStatus, Checkin, CheckinMethod, CheckinScan, Signup,
                    SignupStatus, Volunteer)

# How far back a personal code is still recognised as "expired" rather than "invalid" (10 minutes).
_EXPIRED_LOOKBACK_STEPS = 20


class CheckinError(DomainError):
    """A scan was refused; `code` is the reason (already_checked_in, not_signed_up, …)."""

    def __init__(self, code: str, message: str, status: int = 409, context: dict[str, Any] | None = None):
        super().__init__(code, message, status, context=context)


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


def captain_scan(account: Account, activity_id: int, *, code: str, nonce: str, rules: Rules, now: datetime,
                 scanned_at: datetime | None = None) -> dict[str, Any]:
    """A captain scanned a volunteer's personal code: the first scan checks in, a later one checks out.

    `scanned_at` is the phone's clock for scans made offline; the rules then apply at that moment.
    Returns the answer for the captain's screen; a repeated nonce returns the first answer.
    """
    activity, scan_id, replay = _managed_scan(account, activity_id, nonce, scanned_at, now, doing="扫码签到")
    if replay is not None:
        return replay
    at = _moment(scanned_at, now)
    volunteer, step = _volunteer_from_code(code, at)
    answer = _checkin_or_checkout(activity, volunteer, step=step, method=CheckinMethod.CAPTAIN_SCAN,
                                  account_id=account.id, at=at, rules=rules, now=now)
    _settle(scan_id, volunteer, answer)
    return answer


def self_scan(account: Account, activity_id: int, *, code: str, nonce: str, rules: Rules, now: datetime,
              secret_key: str, latitude: float | None = None, longitude: float | None = None) -> dict[str, Any]:
    """A volunteer scanned the activity's rotating display code: check in, or later check out.

    The position is used for the geofence check only and never stored (PIPL: minimum necessary).
    """
    activity = _activity(activity_id)
    volunteer = db.session.scalar(select(Volunteer).where(Volunteer.account_id == account.id))
    if volunteer is None:
        raise CheckinError("not_signed_up", "请先注册成为志愿者并报名本活动")
    scan_id, replay = _claim_nonce(activity, nonce, account, None, now)
    if replay is not None:
        return replay
    if activity.status in (ActivityStatus.CANCELLED, ActivityStatus.WITHDRAWN):
        raise CheckinError("activity_cancelled", "活动已取消")
    try:
        step = checkin_codes.verify_activity_code(code, activity.id, secret_key, now)
    except checkin_codes.CodeError as exc:
        raise CheckinError(exc.code, exc.message, 422) from None
    _require_inside_geofence(activity, latitude, longitude)
    answer = _checkin_or_checkout(activity, volunteer, step=step, method=CheckinMethod.SELF_SCAN, account_id=account.id,
                                  at=now, rules=rules, now=now)
    _settle(scan_id, volunteer, answer)
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


def manual_entry(account: Account, activity_id: int, *, volunteer_id: int, reason: str, nonce: str, rules: Rules,
                 now: datetime, at: datetime | None = None) -> dict[str, Any]:
    """A captain checks someone in (or out) by hand, e.g. a volunteer without a phone; audited."""
    from app.services import audit

    activity, scan_id, replay = _managed_scan(account, activity_id, nonce, at, now, doing="代为签到")
    if replay is not None:
        return replay
    when = _moment(at, now)
    volunteer = db.session.get(Volunteer, volunteer_id)
    if volunteer is None:
        raise CheckinError("not_signed_up", "该志愿者未报名本活动")
    answer = _checkin_or_checkout(activity, volunteer, step=None, method=CheckinMethod.MANUAL, account_id=account.id,
                                  at=when, rules=rules, now=now, manual_reason=reason)
    _settle(scan_id, volunteer, answer)
    audit.record(account.id, f"checkin.manual_{answer['result']}", "activity", activity.id, now=now,
                 volunteer_id=volunteer.id, reason=reason)
    return answer


def captain_scan_batch(account: Account, activity_id: int, scans: list[dict[str, Any]], *, rules: Rules,
                       now: datetime) -> list[dict[str, Any]]:
    """Replay scans a captain's phone made offline, in the order they were made, one result each.

    Each scan runs in its own savepoint: a refused scan changes nothing and does not stop the rest.
    """
    results: dict[int, dict[str, Any]] = {}
    ordered = sorted(enumerate(scans), key=lambda item: (item[1].get("scanned_at") or now, item[0]))
    for index, item in ordered:
        try:
            with db.session.begin_nested():
                answer = captain_scan(account, activity_id, code=item["code"], nonce=item["nonce"], rules=rules,
                                      now=now, scanned_at=item.get("scanned_at"))
            results[index] = {"nonce": item["nonce"], "ok": True, **answer}
        except CheckinError as exc:
            results[index] = {"nonce": item["nonce"], "ok": False, "code": exc.code, "message": exc.message,
                              **(exc.context or {})}
            if exc.code == "not_your_team":
                raise
    return [results[index] for index in range(len(scans))]


def _require_inside_geofence(activity: Activity, latitude: float | None, longitude: float | None) -> None:
    if activity.checkin_radius_m is None or activity.latitude is None or activity.longitude is None:
        return
    if latitude is None or longitude is None:
        raise CheckinError("location_required", "本活动需在现场签到，请允许小程序获取位置后重试", 422)
    from app.services.activities import haversine_km

    distance_m = haversine_km(latitude, longitude, activity.latitude, activity.longitude) * 1000
    if distance_m > activity.checkin_radius_m:
        raise CheckinError("outside_geofence", f"距离活动地点约 {int(distance_m)} 米，超出 {activity.checkin_radius_m} 米签到范围")


def _managed_scan(account: Account, activity_id: int, nonce: str, client_time: datetime | None, now: datetime, *,
                  doing: str) -> tuple[Activity, int | None, dict[str, Any] | None]:
    """The start of every scan by a captain or organiser: access, the nonce, and a cancelled activity."""
    # The activity and the caller's right to manage it in one query: this runs for every scan.
    found = db.session.execute(
        select(Activity, signups.manages_attendance(account.id)).where(Activity.id == activity_id)
    ).first()
    if found is None or found[0].status is ActivityStatus.DRAFT:
        raise NotFound("activity_not_found", "找不到该活动")
    activity, may_manage = found
    if not may_manage:
        raise CheckinError("not_your_team", f"只有本活动的组织者或所属队伍的队长可以{doing}", 403)
    scan_id, replay = _claim_nonce(activity, nonce, account, client_time, now)
    if replay is None and activity.status in (ActivityStatus.CANCELLED, ActivityStatus.WITHDRAWN):
        raise CheckinError("activity_cancelled", "活动已取消")
    return activity, scan_id, replay


def _activity(activity_id: int) -> Activity:
    activity = db.session.get(Activity, activity_id)
    if activity is None or activity.status is ActivityStatus.DRAFT:
        raise NotFound("activity_not_found", "找不到该活动")
    return activity


def _moment(scanned_at: datetime | None, now: datetime) -> datetime:
    # A phone clock ahead of ours is not trusted beyond a minute: nobody checks in from the future.
    if scanned_at is None or scanned_at > now + timedelta(minutes=1):
        return now
    return scanned_at


def _claim_nonce(activity: Activity, nonce: str, account: Account, scanned_at: datetime | None,
                 now: datetime) -> tuple[int | None, dict[str, Any] | None]:
    """Insert the scan's row first; if the nonce was seen, return the answer it got.

    A concurrent insert of the same nonce waits for the first transaction (unique index), so the
    answer read here is the first one's, committed.
    """
    scan_id = _insert_unless_present(CheckinScan, activity_id=activity.id, nonce=nonce, account_id=account.id,
                                     result="pending", answer={}, client_scanned_at=scanned_at, created_at=now)
    if scan_id is not None:
        return scan_id, None
    earlier = db.session.scalar(select(CheckinScan.answer).where(CheckinScan.activity_id == activity.id,
                                                                 CheckinScan.nonce == nonce))
    return None, {**earlier, "replayed": True}


def _insert_unless_present(model: type, **values: Any) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: the new row's id, or None if a unique key existed.

    One round trip where a savepoint around a plain INSERT takes three.
    """
    connection = db.session.connection()
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    # Values go as parameters, not into the statement: the compiled statement is then cached.
    statement = insert(model).on_conflict_do_nothing().returning(model.id)
    return connection.execute(statement, values).scalar()


def _settle(scan_id: int, volunteer: Volunteer, answer: dict[str, Any]) -> None:
    db.session.execute(update(CheckinScan).where(CheckinScan.id == scan_id)
                       .values(volunteer_id=volunteer.id, result=answer["result"], answer=answer)
                       .execution_options(synchronize_session=False))


def _volunteer_from_code(code: str, at: datetime) -> tuple[Volunteer, int]:
    try:
        volunteer_id, digits = checkin_codes.parse_personal_code(code)
    except checkin_codes.CodeError as exc:
        raise CheckinError(exc.code, exc.message, 422) from None
    volunteer = db.session.get(Volunteer, volunteer_id)
    if volunteer is None or not volunteer.checkin_secret:
        raise CheckinError("invalid_code", "无法识别的签到码", 422)
    step = checkin_codes.verify_personal_totp(volunteer.checkin_secret, digits, at)
    if step is None:
        for back in range(2, _EXPIRED_LOOKBACK_STEPS + 1, 2):
            earlier = at - timedelta(seconds=checkin_codes.STEP_SECONDS * back)
            if checkin_codes.verify_personal_totp(volunteer.checkin_secret, digits, earlier) is not None:
                raise CheckinError("expired_code", "签到码已过期，请志愿者刷新后重试", 422,
                                   context=_who(volunteer))
        raise CheckinError("invalid_code", "无法识别的签到码", 422)
    return volunteer, step


def _checkin_or_checkout(activity: Activity, volunteer: Volunteer, *, step: int | None, method: CheckinMethod,
                         account_id: int | None, at: datetime, rules: Rules, now: datetime,
                         manual_reason: str | None = None) -> dict[str, Any]:
    # The sign-up and any check-in in one query: this runs for every scan at the door.
    found = db.session.execute(
        select(Signup, Checkin).outerjoin(Checkin, (Checkin.activity_id == Signup.activity_id)
                                          & (Checkin.volunteer_id == Signup.volunteer_id))
        .where(Signup.activity_id == activity.id, Signup.volunteer_id == volunteer.id)
        .execution_options(populate_existing=True)
    ).first()
    signup, checkin = found if found is not None else (None, None)
    if signup is None or signup.status is SignupStatus.CANCELLED:
        raise CheckinError("not_signed_up", "该志愿者未报名本活动", context=_who(volunteer))
    if signup.status is not SignupStatus.APPROVED:
        raise CheckinError("signup_not_approved", "该志愿者的报名尚未通过", context=_who(volunteer))
    if checkin is None:
        _require_window(activity.starts_at - timedelta(minutes=rules.opens_minutes_before_start), activity.ends_at, at,
                        volunteer)
        inserted = _insert_unless_present(Checkin, activity_id=activity.id, volunteer_id=volunteer.id,
                                          signup_id=signup.id, checked_in_at=at, checkin_method=method,
                                          checked_in_by_account_id=account_id, checkin_code_step=step,
                                          manual_reason=manual_reason, needs_review=False)
        if inserted is not None:
            return _answer("checked_in", activity, volunteer, at, None, at)
        # A concurrent scan checked the volunteer in a moment ago: this one is judged against it.
        checkin = db.session.scalar(select(Checkin).where(Checkin.activity_id == activity.id,
                                                          Checkin.volunteer_id == volunteer.id))
    return _checkout(activity, volunteer, checkin, step=step, method=method, account_id=account_id, at=at,
                     rules=rules, now=now)


def _checkout(activity: Activity, volunteer: Volunteer, checkin: Checkin, *, step: int | None, method: CheckinMethod,
              account_id: int | None, at: datetime, rules: Rules, now: datetime) -> dict[str, Any]:
    if checkin.checked_out_at is not None:
        raise CheckinError("already_checked_out", "该志愿者已签退", context=_context(activity, volunteer, checkin, at))
    if step is not None and step == checkin.checkin_code_step:
        raise CheckinError("already_checked_in", "该志愿者已签到", context=_context(activity, volunteer, checkin, at))
    if at < checkin.checked_in_at + timedelta(minutes=rules.min_minutes_before_checkout):
        raise CheckinError("too_soon_to_check_out", f"签到后 {rules.min_minutes_before_checkout} 分钟内不能签退",
                           context=_context(activity, volunteer, checkin, at))
    _require_window(checkin.checked_in_at, activity.ends_at + timedelta(minutes=rules.checkout_grace_minutes), at,
                    volunteer)
    closed = db.session.execute(
        update(Checkin).where(Checkin.id == checkin.id, Checkin.checked_out_at.is_(None))
        .values(checked_out_at=at, checkout_method=method, checked_out_by_account_id=account_id)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(checkin)
    if not closed:
        # Another scan closed it a moment ago: one check-out, one record.
        raise CheckinError("already_checked_out", "该志愿者已签退", context=_context(activity, volunteer, checkin, at))
    record = service_records.record_attendance(checkin, activity, account_id=account_id, now=now)
    answer = _answer("checked_out", activity, volunteer, checkin.checked_in_at, checkin.checked_out_at, at)
    answer["minutes"] = record.minutes
    return answer


def _require_window(opens: datetime, closes: datetime, at: datetime, volunteer: Volunteer) -> None:
    if not opens <= at <= closes:
        raise CheckinError("outside_checkin_window",
                           f"不在签到时间内（{format_local(opens, '%m-%d %H:%M')} 至 {format_local(closes, '%m-%d %H:%M')}）",
                           context=_who(volunteer))


def _who(volunteer: Volunteer) -> dict[str, Any]:
    return {"volunteer": {"id": volunteer.id, "name": pii.mask_name(volunteer.real_name)}}


def _context(activity: Activity, volunteer: Volunteer, checkin: Checkin, at: datetime) -> dict[str, Any]:
    return _answer(None, activity, volunteer, checkin.checked_in_at, checkin.checked_out_at, at)


def _answer(result: str | None, activity: Activity, volunteer: Volunteer, checked_in_at: datetime,
            checked_out_at: datetime | None, at: datetime) -> dict[str, Any]:
    """What the captain's screen shows: who, when, and the minutes that count so far."""
    answer: dict[str, Any] = {
        **_who(volunteer),
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
            .execution_options(synchronize_session=False)
        ).rowcount
        if not changed:
            continue
        closed += 1
        if policy == "close_at_end":
            checkin = db.session.get(Checkin, checkin_id)
            db.session.refresh(checkin)
            service_records.record_attendance(checkin, db.session.get(Activity, checkin.activity_id),
                                              account_id=None, now=now)
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


def save_official_qr(activity: Activity, *, ticket: str, url: str, expire_seconds: int, now: datetime) -> ActivityQrCode:
    """Keep the QR WeChat made for today; if another request saved one meanwhile, that one stands."""
    day = to_local(now).date()
    try:
        with db.session.begin_nested():
            row = ActivityQrCode(activity_id=activity.id, day=day, scene=official_qr_scene(activity.id, day),
                                 ticket=ticket, url=url, expires_at=now + timedelta(seconds=expire_seconds),
                                 created_at=now)
            db.session.add(row)
        return row
    except IntegrityError:
        return db.session.scalar(select(ActivityQrCode).where(ActivityQrCode.activity_id == activity.id,
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
    volunteer = db.session.scalar(select(Volunteer).join(Account, Account.id == Volunteer.account_id)
                                  .where(Account.oa_openid == oa_openid))
    if volunteer is None:
        return "签到未成功：暂未找到您的志愿者信息，请先在小程序中注册；刚关注的话，请稍等一分钟后再扫一次。"
    activity = db.session.get(Activity, activity_id)
    if activity is None or activity.status is ActivityStatus.DRAFT:
        return "无法识别的签到二维码"
    if activity.status in (ActivityStatus.CANCELLED, ActivityStatus.WITHDRAWN):
        return "签到未成功：活动已取消"
    try:
        with db.session.begin_nested():
            answer = _checkin_or_checkout(activity, volunteer, step=None, method=CheckinMethod.OFFICIAL_QR,
                                          account_id=volunteer.account_id, at=now, rules=rules, now=now)
    except CheckinError as exc:
        return f"签到未成功：{exc.message}"
    when = format_local(now, "%H:%M")
    if answer["result"] == "checked_in":
        return f"签到成功：{activity.title}，{when} 已签到。活动结束时请再扫一次签退。"
    return f"签退成功：{activity.title}，{when} 已签退，本次计入 {answer['minutes']} 分钟。感谢您的服务！"
