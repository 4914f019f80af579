"""The official account's check-in QR: one temporary parametric QR per activity and day.

A follower who uses only the official account scans it; WeChat sends a SCAN event with the scene
(checkin:{activity_id}:{yyyymmdd}) and the callback answers in the chat. The QR is made through
WeChat outside any transaction (make), then kept (save); the check-in
itself follows the same rules as every other way in (checkins.enter_or_leave).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.errors import DomainError
from app.extensions import db
from app.services import access, checkin_texts
from app.services.checkins import CheckinError, Rules, activity_facts, door_of, enter_or_leave, log_refusal
from app.timeutil import local_day_bounds, to_local
from app.wechat.errors import WeChatError
from app.wechat.gateway import QRTicket, WeChatGateway
from models import Account, Activity, ActivityQrCode, ActivityStatus, CheckinMethod, Volunteer

SCENE_PREFIX = "checkin:"


def scene(activity_id: int, day: date) -> str:
    """The scene string the QR carries, e.g. checkin:42:20261201 (WeChat allows 64 characters)."""
    return f"{SCENE_PREFIX}{activity_id}:{day:%Y%m%d}"


def todays(account: Account, activity_id: int, *, now: datetime) -> tuple[Activity, ActivityQrCode | None]:
    """Check the caller may show it; return today's QR if it was already made and is still valid."""
    activity = access.require_activity_manager(account.id, access.activity(activity_id, hide_drafts=True),
                                               doing="展示签到二维码")
    if activity.status in (ActivityStatus.CANCELLED, ActivityStatus.WITHDRAWN):
        raise CheckinError("activity_cancelled", "活动已取消")
    day = to_local(now).date()
    row = db.session.scalar(select(ActivityQrCode).where(ActivityQrCode.activity_id == activity.id,
                                                         ActivityQrCode.day == day))
    return activity, row if row is not None and row.expires_at > now else None


def lifetime_seconds(now: datetime) -> int:
    """Seconds until the end of the Shanghai day: the QR serves one activity day."""
    _, day_end = local_day_bounds(to_local(now).date())
    return max(int((day_end - now).total_seconds()), 60)


def make(gateway: WeChatGateway, activity_id: int, *, now: datetime) -> QRTicket:
    """Ask WeChat for today's QR of the activity; call with no transaction open (it is a network call)."""
    lifetime = lifetime_seconds(now)
    try:
        made = gateway.create_temporary_qrcode(scene(activity_id, to_local(now).date()), lifetime)
    except WeChatError:
        raise DomainError("wechat_unavailable", "微信服务暂时不可用，请稍后再试", 503) from None
    return QRTicket(made.ticket, made.url, made.expire_seconds or lifetime)


def save(activity_id: int, made: QRTicket, *, now: datetime) -> ActivityQrCode:
    """Keep the QR WeChat made for today; if another request saved one meanwhile, that one stands."""
    day = to_local(now).date()
    try:
        with db.session.begin_nested():
            row = ActivityQrCode(activity_id=activity_id, day=day, scene=scene(activity_id, day),
                                 ticket=made.ticket, url=made.url,
                                 expires_at=now + timedelta(seconds=made.expire_seconds or lifetime_seconds(now)),
                                 created_at=now)
            db.session.add(row)
        return row
    except IntegrityError:
        return db.session.scalar(select(ActivityQrCode).where(ActivityQrCode.activity_id == activity_id,
                                                              ActivityQrCode.day == day))


def scan(oa_openid: str, scene: str, *, rules: Rules, now: datetime) -> str:
    """A follower scanned an activity's official-account QR (SCAN event): the reply text."""
    try:
        activity_id_text, day_text = scene[len(SCENE_PREFIX):].split(":")
        activity_id = int(activity_id_text)
    except ValueError:
        return checkin_texts.UNREADABLE_QR
    if day_text != f"{to_local(now).date():%Y%m%d}":
        return checkin_texts.OTHER_DAY
    volunteer = db.session.execute(select(Volunteer.id, Volunteer.account_id)
                                   .join(Account, Account.id == Volunteer.account_id)
                                   .where(Account.oa_openid == oa_openid)).first()
    if volunteer is None:
        return checkin_texts.NOT_A_VOLUNTEER
    try:
        activity = activity_facts(activity_id, None)
    except DomainError:
        return checkin_texts.UNREADABLE_QR
    if activity.status in (ActivityStatus.CANCELLED, ActivityStatus.WITHDRAWN):
        return checkin_texts.CANCELLED
    try:
        with db.session.begin_nested():
            answer = enter_or_leave(activity, door_of(activity.id, volunteer.id), step=None,
                                    method=CheckinMethod.OFFICIAL_QR, account_id=volunteer.account_id, at=now,
                                    rules=rules, now=now)
    except CheckinError as refusal:
        log_refusal("official_qr", activity.id, refusal)
        return checkin_texts.refused(refusal)
    if answer.result == "checked_in":
        return checkin_texts.checked_in(activity.title, now)
    return checkin_texts.checked_out(activity.title, answer.minutes, now)
