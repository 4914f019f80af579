"""Rotating check-in codes: personal TOTP codes, activity display tokens, QR images."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pyotp
import pytest

from app.checkin_codes import (
    CodeError,
    activity_code,
    activity_link,
    new_secret,
    parse_personal_code,
    personal_code,
    qr_png,
    seconds_left,
    verify_activity_code,
    verify_personal_totp,
)

AT = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)  # on a step boundary
STEP = int(AT.timestamp()) // 30
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
KEY = "test-activity-display-key"
STEP_LENGTH = timedelta(seconds=30)
# RFC 6238 appendix B: the ASCII secret "12345678901234567890" for SHA-1.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


def utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


# Personal codes


def test_new_secret_is_32_base32_characters_and_fresh_each_time():
    secret = new_secret()
    assert len(secret) == 32
    base64.b32decode(secret)
    assert new_secret() != secret


def test_personal_code_round_trip():
    text = personal_code(1234, SECRET, AT)
    volunteer_id, digits = parse_personal_code(text)
    assert volunteer_id == 1234
    assert text == f"V1234-{digits}"
    assert verify_personal_totp(SECRET, digits, AT) == STEP


def test_personal_code_equals_pyotp_totp_with_8_digits():
    digits = parse_personal_code(personal_code(7, SECRET, AT))[1]
    assert digits == pyotp.TOTP(SECRET, digits=8).at(AT)
    assert len(digits) == 8


@pytest.mark.parametrize("unix_seconds, expected", [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
])
def test_rfc_6238_sha1_test_vectors(unix_seconds, expected):
    at = utc(unix_seconds)
    assert personal_code(1, RFC_SECRET, at) == f"V1-{expected}"
    assert verify_personal_totp(RFC_SECRET, expected, at) == unix_seconds // 30


def test_personal_code_accepted_at_current_and_previous_step_only():
    digits = parse_personal_code(personal_code(1, SECRET, AT))[1]
    assert verify_personal_totp(SECRET, digits, AT + timedelta(seconds=29)) == STEP
    assert verify_personal_totp(SECRET, digits, AT + STEP_LENGTH) == STEP
    assert verify_personal_totp(SECRET, digits, AT + 2 * STEP_LENGTH) is None
    assert verify_personal_totp(SECRET, digits, AT - STEP_LENGTH) is None


def test_returned_step_tells_a_fresh_code_from_the_previous_one():
    later = AT + STEP_LENGTH
    previous = parse_personal_code(personal_code(1, SECRET, AT))[1]
    fresh = parse_personal_code(personal_code(1, SECRET, later))[1]
    assert verify_personal_totp(SECRET, fresh, later) == STEP + 1
    assert verify_personal_totp(SECRET, previous, later) == STEP


def test_personal_code_for_another_secret_is_refused():
    digits = parse_personal_code(personal_code(1, SECRET, AT))[1]
    assert verify_personal_totp(new_secret(), digits, AT) is None


@pytest.mark.parametrize("digits", ["", "1234567", "123456789", "１２３４５６７８", "abcdefgh"])
def test_malformed_totp_digits_are_refused(digits):
    assert verify_personal_totp(SECRET, digits, AT) is None


def test_parse_accepts_lowercase_v_and_surrounding_whitespace():
    assert parse_personal_code("  v42-01234567\n") == (42, "01234567")


@pytest.mark.parametrize("text", [
    "",
    "V-123",
    "X12-12345678",
    "V12-1234567",
    "V12-123456789",
    "V１２-１２３４５６７８",
    "V1234567890123-12345678",
    "V12 -12345678",
    "V12-12345678x",
    "V" + "1" * 10_000 + "-12345678",
])
def test_malformed_personal_codes_are_invalid(text):
    with pytest.raises(CodeError) as caught:
        parse_personal_code(text)
    assert caught.value.code == "invalid_code"
    assert caught.value.message == "无法识别的签到码"


def test_naive_datetime_is_refused():
    naive = datetime(2026, 11, 23, 2, 0)
    with pytest.raises(ValueError):
        personal_code(1, SECRET, naive)
    with pytest.raises(ValueError):
        verify_personal_totp(SECRET, "12345678", naive)
    with pytest.raises(ValueError):
        activity_code(1, KEY, naive)
    with pytest.raises(ValueError):
        seconds_left(naive)


def test_any_timezone_gives_the_same_code():
    shanghai = AT.astimezone(timezone(timedelta(hours=8)))
    assert personal_code(1, SECRET, shanghai) == personal_code(1, SECRET, AT)
    assert activity_code(1, KEY, shanghai) == activity_code(1, KEY, AT)


def test_seconds_left_counts_down_within_a_step():
    assert seconds_left(AT) == 30
    assert seconds_left(AT + timedelta(seconds=29)) == 1
    assert seconds_left(AT - timedelta(seconds=1)) == 1
    assert seconds_left(AT + timedelta(seconds=10, milliseconds=500)) == 20


# Activity display codes


def test_activity_code_round_trip():
    token = activity_code(1, KEY, AT)
    assert verify_activity_code(token, 1, KEY, AT) == STEP
    assert verify_activity_code(token, 1, KEY, AT + timedelta(seconds=29)) == STEP


def test_activity_code_from_previous_step_is_accepted_with_its_step():
    token = activity_code(1, KEY, AT)
    assert verify_activity_code(token, 1, KEY, AT + STEP_LENGTH) == STEP
    assert verify_activity_code(activity_code(1, KEY, AT + STEP_LENGTH), 1, KEY, AT + STEP_LENGTH) == STEP + 1


def test_activity_code_changes_every_step():
    assert activity_code(1, KEY, AT) != activity_code(1, KEY, AT + STEP_LENGTH)
    assert activity_code(1, KEY, AT) == activity_code(1, KEY, AT + timedelta(seconds=29))


def assert_refused(code: str, token: str, activity_id: int = 1, key: str = KEY, at: datetime = AT) -> None:
    with pytest.raises(CodeError) as caught:
        verify_activity_code(token, activity_id, key, at)
    assert caught.value.code == code


def test_token_for_another_activity_is_invalid():
    assert_refused("invalid_code", activity_code(1, KEY, AT), activity_id=2)


def test_tampered_token_is_invalid():
    token = activity_code(1, KEY, AT)
    step_text, mac = token.split(".")
    flipped = mac[:5] + ("A" if mac[5] != "A" else "B") + mac[6:]
    assert_refused("invalid_code", f"{step_text}.{flipped}")
    # A genuine MAC moved onto another step, and a leading zero on the step, are forgeries too.
    next_step_text = activity_code(1, KEY, AT + STEP_LENGTH).split(".")[0]
    assert_refused("invalid_code", f"{next_step_text}.{mac}", at=AT + STEP_LENGTH)
    assert_refused("invalid_code", f"0{token}")


def test_token_signed_with_another_key_is_invalid():
    assert_refused("invalid_code", activity_code(1, "another-key", AT))


def test_token_two_steps_old_is_expired():
    assert_refused("expired_code", activity_code(1, KEY, AT), at=AT + 2 * STEP_LENGTH)
    with pytest.raises(CodeError) as caught:
        verify_activity_code(activity_code(1, KEY, AT), 1, KEY, AT + 2 * STEP_LENGTH)
    assert caught.value.message == "签到码已过期，请刷新后重试"


def test_token_from_a_future_step_is_invalid():
    assert_refused("invalid_code", activity_code(1, KEY, AT + STEP_LENGTH))


@pytest.mark.parametrize("token", ["", ".", "abc", "abc.def", "x" * 10_000, "１２.AAAAAAAAAAAAAAAAAAAAAA"])
def test_malformed_tokens_are_invalid(token):
    assert_refused("invalid_code", token)


def test_token_is_short_and_url_safe():
    token = activity_code(123_456_789, KEY, utc(20_000_000_000))
    assert len(token) < 40
    assert all(ch.isascii() and (ch.isalnum() or ch in "-_.") for ch in token)


def test_activity_link_format():
    assert activity_link("https://v.example.org/", 42, "abc.DEF") == "https://v.example.org/a/42?c=abc.DEF"
    assert activity_link("https://v.example.org", 42, "abc.DEF") == "https://v.example.org/a/42?c=abc.DEF"


# QR images


def test_qr_png_is_a_deterministic_png():
    link = activity_link("https://v.example.org", 42, activity_code(42, KEY, AT))
    image = qr_png(link)
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    assert qr_png(link) == image
    assert qr_png(link, scale=4) != image
