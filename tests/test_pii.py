"""Personal information: ID number rules, encryption at rest, masking."""

from __future__ import annotations

from datetime import date

import pytest

from app import pii
from app.resident_id import age_on, check_character, parse_resident_id

KEY = "ZGV2LXBpaS1rZXktY2hhbmdlLW1lLWluLXByb2QhISE="
TODAY = date(2026, 11, 23)


def valid_id(first17: str) -> str:
    return first17 + check_character(first17)


def test_valid_id_number_gives_birth_date_and_gender():
    number = valid_id("11010519491231002")
    parsed = parse_resident_id(number, today=TODAY)
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.is_male is False  # 17th digit 2 is even
    assert parse_resident_id(valid_id("11010520000101001"), today=TODAY).is_male is True


def test_known_published_example_checks_out():
    # GB 11643 example number with check character X.
    assert parse_resident_id("11010519491231002X", today=TODAY).number == "11010519491231002X"


def test_lowercase_x_is_accepted():
    assert parse_resident_id("11010519491231002x", today=TODAY).number.endswith("X")


@pytest.mark.parametrize("number, reason", [
    ("110105194912310021", "校验位"),
    (valid_id("11010519491331002"), "出生日期"),
    ("1101051949123100", "18位"),
    ("01010519491231002X", "18位"),
    (valid_id("11010520300101001"), "出生日期"),
])
def test_invalid_id_numbers_are_refused_with_a_reason(number, reason):
    with pytest.raises(ValueError, match=reason):
        parse_resident_id(number, today=TODAY)


def test_age_counts_full_years():
    assert age_on(date(2008, 11, 24), TODAY) == 17
    assert age_on(date(2008, 11, 23), TODAY) == 18


def test_encryption_round_trip_and_wrong_key():
    token = pii.encrypt("11010519491231002X", KEY)
    assert b"11010519491231002X" not in token
    assert pii.decrypt(token, KEY) == "11010519491231002X"
    other = "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXkhISE="
    with pytest.raises(ValueError):
        pii.decrypt(token, other)


def test_digest_is_stable_and_keyed():
    assert pii.digest("x", KEY) == pii.digest("x", KEY)
    assert pii.digest("x", KEY) != pii.digest("x", "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXkhISE=")


def test_masks():
    assert pii.mask_mobile("13812345678") == "138****5678"
    assert pii.mask_id_number("11010519491231002X") == "110***********002X"
    assert pii.mask_name("张三") == "张*"
    assert pii.mask_name("欧阳娜娜") == "欧**娜"
