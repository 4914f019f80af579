"""Subscribe-message data validation by the type prefix of each key (thing1, phrase2, time4 …).

The rules are WeChat's published limits. A value that breaks them gets errcode 47003 with an
errmsg naming the field, e.g. "argument invalid! data.thing1.value invalid". Keys whose type is
unknown (or `enum`, whose allowed values only the template knows) are accepted as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

HAN = "\u3400-\u4dbf\u4e00-\u9fff"
_HAN_RE = re.compile(f"[{HAN}]")
_TIME = r"(?:[01]?\d|2[0-3]):[0-5]\d"  # seconds are refused, as WeChat does ("11:50:00" → 47003)
# 2019年10月1日, 2019-10-01, 2019/10/01 or 2019.10.01; {n} numbers the groups of the two ends of a range.
_DATE = (r"(?P<y{n}>\d{{4}})(?:年(?P<m{n}a>\d{{1,2}})月(?P<d{n}a>\d{{1,2}})日"
         r"|(?P<sep{n}>[-/.])(?P<m{n}b>\d{{1,2}})(?P=sep{n})(?P<d{n}b>\d{{1,2}}))")


def _date_pattern(n: int) -> str:
    return _DATE.format(n=n)


def _range(single: Callable[[int], str]) -> re.Pattern[str]:
    """A value or a range "a~b" of two values."""
    return re.compile(rf"{single(1)}(?:\s*~\s*{single(2)})?")


_TIME_VALUE = _range(lambda n: rf"(?:{_date_pattern(n)}\s*)?{_TIME}")
_DATE_VALUE = _range(lambda n: rf"{_date_pattern(n)}(?:\s+{_TIME})?")
_AMOUNT = re.compile(r"[¥￥$€£]?\d{1,10}(?:\.\d{1,2})?元?")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_LETTER = re.compile(r"[A-Za-z]{1,32}")
_CHARACTER_STRING = re.compile(r"[\x21-\x7e]{1,32}")
_PHONE = re.compile(r"[0-9+\-() ]{1,17}")
_CAR = re.compile(rf"[{HAN}A-Za-z0-9](?:[A-Za-z0-9]*[{HAN}A-Za-z0-9])?")
_PHRASE = re.compile(rf"[{HAN}]{{1,5}}")
_NAME_HAN = re.compile(rf"[{HAN}·]{{1,10}}")


def _dates_are_real(match: re.Match[str]) -> bool:
    for n in (1, 2):
        year = match.groupdict().get(f"y{n}")
        if year is None:
            continue
        month = match.group(f"m{n}a") or match.group(f"m{n}b")
        day = match.group(f"d{n}a") or match.group(f"d{n}b")
        try:
            date(int(year), int(month), int(day))
        except ValueError:
            return False
    return True


def _time(value: str) -> bool:
    match = _TIME_VALUE.fullmatch(value)
    return bool(match) and _dates_are_real(match)


def _date(value: str) -> bool:
    match = _DATE_VALUE.fullmatch(value)
    return bool(match) and _dates_are_real(match)


def _number(value: str) -> bool:
    return bool(_NUMBER.fullmatch(value)) and sum(c.isdigit() for c in value) <= 32


def _symbol(value: str) -> bool:
    return len(value) <= 5 and all(not c.isalnum() and not c.isspace() and not _HAN_RE.match(c) for c in value)


def _name(value: str) -> bool:
    if _NAME_HAN.fullmatch(value):
        return True
    # Up to 20 letters or symbols, no Chinese and no digits.
    return (len(value) <= 20 and not _HAN_RE.search(value) and not any(c.isdigit() for c in value)
            and any(c.isalpha() for c in value))


VALIDATORS: dict[str, Callable[[str], bool]] = {
    "thing": lambda v: len(v) <= 20,
    "number": _number,
    "letter": lambda v: bool(_LETTER.fullmatch(v)),
    "symbol": _symbol,
    "character_string": lambda v: bool(_CHARACTER_STRING.fullmatch(v)),
    "time": _time,
    "date": _date,
    "amount": lambda v: bool(_AMOUNT.fullmatch(v)),
    "phone_number": lambda v: bool(_PHONE.fullmatch(v)),
    "car_number": lambda v: len(v) <= 8 and bool(_CAR.fullmatch(v)),
    "name": _name,
    "phrase": lambda v: bool(_PHRASE.fullmatch(v)),
}


def field_type(key: str) -> str:
    """thing1 → thing, character_string12 → character_string."""
    return key.rstrip("0123456789")


def validate_value(key: str, value: str) -> bool:
    validator = VALIDATORS.get(field_type(key))
    return validator is None or validator(value)


def check_data(data: Any) -> str | None:
    """Return WeChat's 47003 errmsg for the first bad field of `data`, or None if all are valid."""
    if not isinstance(data, Mapping) or not data:
        return "argument invalid! data is empty"
    for key, item in data.items():
        value = item.get("value") if isinstance(item, Mapping) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            return f"argument invalid! data.{key}.value is empty"
        if not validate_value(str(key), value):
            return f"argument invalid! data.{key}.value invalid"
    return None
