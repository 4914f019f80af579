"""The cast of the recording tests: a held activity with alice and bob signed up, and helpers."""

from __future__ import annotations

import base64
import io
from datetime import datetime, timedelta

from sqlalchemy import func, select

from app.extensions import db
from models import Activity, ServiceRecord, Signup, SignupStatus, Volunteer
from tests import factories as f

# The activity ran from four hours before `now` for three hours; margins 30 minutes: at most 240 minutes each.
STARTS_BEFORE = timedelta(hours=4)
DURATION = timedelta(hours=3)


def sign_up(activity: Activity, volunteer: Volunteer, now: datetime) -> None:
    db.session.add(Signup(activity_id=activity.id, volunteer_id=volunteer.id, status=SignupStatus.APPROVED,
                          created_at=now, updated_at=now))
    db.session.flush()


def held_activity(w: f.World, now: datetime, *, attendees: tuple[Volunteer, ...], **fields) -> Activity:
    activity = w.add_activity(starts_in=-STARTS_BEFORE, duration=DURATION, **fields)
    for volunteer in attendees:
        sign_up(activity, volunteer, now)
    return activity


def ledger(app, volunteer_id: int) -> dict[str, int]:
    """The volunteer's balances, records and totals: they always agree."""
    with app.app_context():
        return {
            "balances": db.session.scalar(select(func.coalesce(func.sum(Signup.service_minutes), 0))
                                          .where(Signup.volunteer_id == volunteer_id)),
            "summed": db.session.scalar(select(func.coalesce(func.sum(ServiceRecord.minutes), 0))
                                        .where(ServiceRecord.volunteer_id == volunteer_id)),
            "total": db.session.get(Volunteer, volunteer_id).total_service_minutes,
        }


def xlsx(rows: list[list[object]]) -> str:
    """A sign-in sheet as base64: a title line, then the given rows (the first of them the header)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["敬老院陪伴服务签到表"])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return base64.b64encode(buffer.getvalue()).decode()


def jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "JPEG")
    return buffer.getvalue()
