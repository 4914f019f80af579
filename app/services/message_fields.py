"""Fit subscribe-message field values to WeChat's rules, by the type prefix of each key.

WeChat refuses a whole send (47003) for one value over its limit, so every value is made valid
before it is written to the outbox: long text is shortened with an ellipsis, a `phrase` keeps its
first five Chinese characters, times are formatted the one way WeChat always accepts. A send is
never failed for length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime

from app.timeutil import format_local

THING_MAX = 20
PHRASE_MAX = 5
NAME_MAX = 10
NAME_LETTERS_MAX = 20
CHARACTER_STRING_MAX = 32
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff]")
# Some value is required: an empty field is refused like an invalid one.
_PLACEHOLDER = {"thing": "无", "phrase": "通知", "name": "志愿者", "character_string": "-"}


def fit(text: str, limit: int) -> str:
    """Shorten text to a limit, ending with an ellipsis so a reader sees it was cut."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def field_type(key: str) -> str:
    """thing1 → thing, character_string12 → character_string."""
    return key.rstrip("0123456789")


def fit_value(key: str, value: str | int | float | datetime | date) -> str:
    """One field's value, valid for its type."""
    kind = field_type(key)
    if isinstance(value, datetime):
        return format_local(value, "%Y年%m月%d日 %H:%M") if kind == "time" else format_local(value, "%Y年%m月%d日")
    if isinstance(value, date):
        return f"{value.year}年{value.month:02d}月{value.day:02d}日"
    text = " ".join(str(value).split())
    if kind == "thing":
        text = fit(text, THING_MAX)
    elif kind == "phrase":
        # Chinese characters only, at most five: anything else makes WeChat refuse the send.
        text = "".join(_HAN.findall(text))[:PHRASE_MAX]
    elif kind == "name":
        text = _fit_name(text)
    elif kind == "character_string":
        text = "".join(c for c in text if "!" <= c <= "~")[:CHARACTER_STRING_MAX]
    return text or _PLACEHOLDER.get(kind, "-")


def _fit_name(text: str) -> str:
    """A `name` is up to 10 Chinese characters, or up to 20 letters without digits: no ellipsis fits either."""
    if _HAN.search(text):
        return "".join(c for c in text if _HAN.match(c) or c == "·")[:NAME_MAX]
    letters = "".join(c for c in text if c.isascii() and (c.isalpha() or c in " .-'"))
    return letters.strip()[:NAME_LETTERS_MAX].strip() if any(c.isalpha() for c in letters) else ""


def fit_fields(fields: Mapping[str, str | int | float | datetime | date]) -> dict[str, str]:
    """Every value of a template's data, valid for its type."""
    return {key: fit_value(key, value) for key, value in fields.items()}
