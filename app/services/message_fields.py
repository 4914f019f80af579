"""Fit subscribe-message field values to WeChat's rules, by the type prefix of each key.

WeChat refuses a whole send (47003) for one value over its limit, so every value is made valid
before it is written to the outbox: long text is shortened with an ellipsis (never mid-word), a
`phrase` keeps its first five Chinese characters, times read as WeChat shows them (2026年12月5日
09:00). A send is never failed for length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime

from app.texts import day_text, moment_text

THING_MAX = 20
PHRASE_MAX = 5
NAME_MAX = 10
NAME_LETTERS_MAX = 20
CHARACTER_STRING_MAX = 32
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff]")
# Some value is required: an empty field is refused like an invalid one.
_PLACEHOLDER = {"thing": "无", "phrase": "通知", "name": "志愿者", "character_string": "-"}


# Where a shortened text may end: after a space or a punctuation mark, Chinese or Western.
_BREAK_AFTER = set(" ，、。；：！？,.;:!?·/|-—)）」』》】")
# A break this close to the limit is worth the characters it drops; further back, cut where it falls.
_BREAK_LOOKBACK = 6
_LATIN_WORD = re.compile(r"[0-9A-Za-z]")


def fit(text: str, limit: int) -> str:
    """Shorten text to a limit, ending with an ellipsis so a reader sees it was cut.

    The cut never splits a Latin word or a number ("Volunteer", "2026"), and prefers a space or a
    punctuation mark within the last few characters, so a title reads "重阳节敬老活动…" rather than
    ending on half a phrase; the ellipsis counts toward the limit.
    """
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    room = max(limit - 1, 0)
    cut = room
    for end in range(room, max(room - _BREAK_LOOKBACK, 0), -1):
        if text[end - 1] in _BREAK_AFTER or text[end] == " ":
            cut = end
            break
    else:
        # Inside a Latin word or a number: back up to its start (unless it fills the whole room).
        while cut > 0 and _LATIN_WORD.match(text[cut - 1]) and _LATIN_WORD.match(text[cut]):
            cut -= 1
        if cut == 0:
            cut = room
    return text[:cut].rstrip(" ，、；：,;:-—·/|") + "…"


def field_type(key: str) -> str:
    """thing1 → thing, character_string12 → character_string."""
    return key.rstrip("0123456789")


def fit_value(key: str, value: str | int | float | datetime | date) -> str:
    """One field's value, valid for its type."""
    kind = field_type(key)
    if isinstance(value, datetime):
        return moment_text(value, with_year=True) if kind == "time" else day_text(value, with_year=True)
    if isinstance(value, date):
        return day_text(value, with_year=True)
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
