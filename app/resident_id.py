"""Mainland resident ID numbers (GB 11643-1999): checksum, birth date, gender."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_PATTERN = re.compile(r"^[1-9]\d{16}[\dX]$")


@dataclass(frozen=True)
class ResidentId:
    number: str
    birth_date: date
    is_male: bool


def check_character(first17: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character for the first 17 digits."""
    return _CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, _WEIGHTS)) % 11]


def parse_resident_id(raw: str, *, today: date) -> ResidentId:
    """Validate an 18-character ID number; raise ValueError with a Chinese reason if invalid."""
    number = raw.strip().upper()
    if not _PATTERN.match(number):
        raise ValueError("身份证号应为18位，前17位为数字，最后一位为数字或X")
    if check_character(number[:17]) != number[17]:
        raise ValueError("身份证号校验位不正确，请核对")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValueError("身份证号中的出生日期无效") from None
    if birth > today or birth.year < 1900:
        raise ValueError("身份证号中的出生日期无效")
    return ResidentId(number=number, birth_date=birth, is_male=int(number[16]) % 2 == 1)


def age_on(birth: date, day: date) -> int:
    """Full years of age on `day`."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
