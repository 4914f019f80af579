"""How dates, times and service hours read in what people are told: one way, everywhere.

Every notification, bot reply and message text formats these values through this module, so the
bot and the inbox never disagree (a "0.1 小时" beside the API's 0.08 h) and dates read as people
write them: 「1月1日」, not 「01月01日」. Times of day keep two-digit minutes (09:05), as clocks show them.
"""

from __future__ import annotations

from datetime import date, datetime

from app.timeutil import to_local


def day_text(day: date | datetime, *, with_year: bool = False) -> str:
    """A calendar day: 1月1日, or 2027年1月1日 (a moment is taken as its Shanghai day)."""
    if isinstance(day, datetime):
        day = to_local(day).date()
    text = f"{day.month}月{day.day}日"
    return f"{day.year}年{text}" if with_year else text


def clock_text(moment: datetime) -> str:
    """The Shanghai time of day: 09:05."""
    return to_local(moment).strftime("%H:%M")


def moment_text(moment: datetime, *, with_year: bool = False) -> str:
    """A Shanghai day and time: 12月5日 09:00, or 2026年12月5日 09:00."""
    return f"{day_text(moment, with_year=with_year)} {clock_text(moment)}"


def hours_text(minutes: int) -> str:
    """Service time for people, exact to the minute: 2小时, 1小时40分钟, 5分钟."""
    hours, rest = divmod(max(int(minutes), 0), 60)
    if not hours:
        return f"{rest}分钟"
    return f"{hours}小时{rest}分钟" if rest else f"{hours}小时"


def clause(text: str | None) -> str:
    """Someone's words (a reason, a note) set inside our sentence: without their closing stop, which we add."""
    return (text or "").strip().rstrip("。.!！;；,，")
