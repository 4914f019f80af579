"""The codes shown for check-in: the volunteer's personal code and the activity's display code.

The volunteer's phone shows a personal code (V{volunteer_id}-{TOTP}) that a captain scans; the
captain's screen shows the activity's rotating code that volunteers scan. Both change every 30 s
and are made without a WeChat call (see app/checkin_codes.py); only an activity's managers
(access.py) may show its code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from app import checkin_codes, pii
from app.errors import NotFound
from app.extensions import db
from app.services import access, activities
from models import Account, Checkin, Signup, SignupStatus, Volunteer

# How many of the latest arrivals and departures the check-in board lists.
BOARD_LATEST = 12


def display_code(account: Account, activity_id: int, *, secret_key: str, link_base_url: str,
                 now: datetime) -> dict[str, Any]:
    """The rotating code the captain's screen shows for volunteers to scan (no WeChat call)."""
    activity = access.require_activity_manager(account.id, access.activity(activity_id, hide_drafts=True),
                                               doing="展示签到码")
    token = checkin_codes.activity_code(activity.id, secret_key, now)
    link = checkin_codes.activity_link(link_base_url, activity.id, token)
    return {"token": token, "link": link, "seconds_left": checkin_codes.seconds_left(now),
            "qr_png": checkin_codes.qr_png(link)}


def checkin_board(account: Account, activity_id: int, *, now: datetime, latest: int = BOARD_LATEST) -> dict[str, Any]:
    """What the projected check-in screen shows: who is present against who signed up, and the latest scans.

    Read with three small queries (counts over the unique check-in rows, never the scan log) so the
    screen can poll it every second during a festival event without loading the database.
    """
    activity = access.require_activity_manager(account.id, access.activity(activity_id, hide_drafts=True),
                                               doing="查看签到大屏")
    signed_up = db.session.scalar(select(func.count()).select_from(Signup).where(
        Signup.activity_id == activity.id, Signup.status == SignupStatus.APPROVED)) or 0
    checked_in, checked_out = db.session.execute(select(
        func.count(Checkin.id), func.count(Checkin.checked_out_at)).where(Checkin.activity_id == activity.id)).one()
    last_moved = func.coalesce(Checkin.checked_out_at, Checkin.checked_in_at)
    rows = db.session.execute(
        select(Checkin.id, Volunteer.real_name, Checkin.checked_in_at, Checkin.checked_out_at)
        .join(Volunteer, Volunteer.id == Checkin.volunteer_id)
        .where(Checkin.activity_id == activity.id)
        .order_by(last_moved.desc(), Checkin.id.desc()).limit(latest)).all()
    return {
        "activity": {"id": activity.id, "title": activity.title, "starts_at": activity.starts_at,
                     "ends_at": activity.ends_at, "status": activities.effective_status(activity, now).value},
        "signed_up": signed_up,
        "checked_in": checked_in,
        "present": checked_in - checked_out,
        "checked_out": checked_out,
        "latest": [{"checkin_id": row.id, "name": pii.mask_name(row.real_name),
                    "checked_in_at": row.checked_in_at, "checked_out_at": row.checked_out_at} for row in rows],
        "as_of": now,
    }


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
