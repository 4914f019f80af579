"""Time helpers: aware UTC inside, Asia/Shanghai at the edges."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def now_utc() -> datetime:
    """Return the current time as an aware UTC datetime; the one clock of the code base."""
    return datetime.now(timezone.utc)


def current_time() -> datetime:
    """The service's clock for business timestamps: `now_utc`, unless the app was given another.

    `app.extensions["clock"]` lets a test pin the time the handlers see; protocol checks such as
    callback signature ages keep using the real clock.
    """
    from flask import current_app, has_app_context

    clock = current_app.extensions.get("clock") if has_app_context() else None
    return clock() if clock else now_utc()


def as_utc(value: datetime) -> datetime:
    """Return an aware UTC datetime; naive values (SQLite gives them back) are taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def to_local(value: datetime) -> datetime:
    """Return the moment in Asia/Shanghai."""
    return as_utc(value).astimezone(SHANGHAI)


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """Return [start, end) of a Shanghai calendar day, in UTC."""
    start = datetime.combine(day, time.min, tzinfo=SHANGHAI)
    return start.astimezone(timezone.utc), (start + timedelta(days=1)).astimezone(timezone.utc)


def format_local(value: datetime, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """Format a moment for people, in Asia/Shanghai."""
    return to_local(value).strftime(pattern)
