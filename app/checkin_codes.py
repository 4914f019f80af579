"""Rotating check-in codes: a volunteer's personal code and an activity's display code.

Both kinds change every 30-second *step*; a step's counter is ``unix_seconds // 30``.

Personal codes are TOTP (RFC 6238: HMAC-SHA-1, 30 s step, 8 digits) over a per-volunteer
secret, computed with ``pyotp``. The QR code on the volunteer's phone carries
``V{volunteer_id}-{totp}``; the id only tells the server whose secret to check against.

Activity display codes are what a captain's screen shows for volunteers to scan with WeChat's
scanner. A token is ``{step in base36}.{MAC}``, where the MAC is HMAC-SHA-256 truncated to
16 bytes (128 bits, base64url without padding) over a domain separator, the activity id and the
step. The activity id is bound by the MAC but not spelled out in the token, because the link the
QR encodes already carries it in its path; that keeps the token under 30 characters and the QR
code coarse enough to scan from a distance. Making one needs only the server's key, so rotating
never calls a WeChat API.

Both kinds accept the current and the previous step: the phone's clock and the server's drift
apart, and a scan that starts just before a step boundary lands after it. Nothing older is
accepted, so a screenshot passed around is useless a minute later. Verifiers return the step
they matched so that the caller can tell a fresh code from the same code scanned again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
from datetime import datetime
from functools import lru_cache

import pyotp
import segno

STEP_SECONDS = 30
TOTP_DIGITS = 8
ACTIVITY_CODE_SALT = "activity-display-code"

_MAC_BYTES = 16
_PERSONAL_CODE = re.compile(r"[Vv]([0-9]{1,12})-([0-9]{8})")
_TOTP_DIGITS_PATTERN = re.compile(r"[0-9]{8}")
# 22 characters: base64url of the 16-byte MAC without its "==" padding.
_ACTIVITY_TOKEN = re.compile(r"([0-9a-z]{1,13})\.([A-Za-z0-9_-]{22})")
_MAX_CODE_LENGTH = 64  # well above any valid code; refuses huge inputs before any other work
_BASE36_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"

_MESSAGES = {
    "invalid_code": "无法识别的签到码",
    "expired_code": "签到码已过期，请刷新后重试",
}


class CodeError(Exception):
    """A check-in code that cannot be accepted; `code` is stable, `message` is for people."""

    def __init__(self, code: str, message: str | None = None) -> None:
        self.code = code
        self.message = message or _MESSAGES.get(code, "签到码无效")
        super().__init__(self.message)


def _step(at: datetime) -> int:
    """Return the 30-second step counter of an aware datetime."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("an aware datetime is required")
    return int(at.timestamp()) // STEP_SECONDS


def seconds_left(at: datetime) -> int:
    """Return the seconds until the current step ends (1..30), for the countdown."""
    return (_step(at) + 1) * STEP_SECONDS - int(at.timestamp())


# Personal codes


class _KeyedTOTP(pyotp.TOTP):
    """pyotp's TOTP with its key decoded once: pyotp decodes the base32 secret for every code, and a
    scan checks one or two codes of a volunteer whose secret the worker has usually seen before."""

    _key: bytes | None = None

    def byte_secret(self) -> bytes:
        if self._key is None:
            self._key = super().byte_secret()
        return self._key


@lru_cache(maxsize=4096)
def _totp(secret: str) -> pyotp.TOTP:
    return _KeyedTOTP(secret, digits=TOTP_DIGITS, digest=hashlib.sha1, interval=STEP_SECONDS)


def new_secret() -> str:
    """Return a fresh random base32 TOTP secret of 32 characters (160 bits)."""
    return pyotp.random_base32()


def personal_code(volunteer_id: int, secret: str, at: datetime) -> str:
    """Return the text of a volunteer's QR code at `at`, e.g. ``V1234-05937162``."""
    return f"V{volunteer_id}-{_totp(secret).generate_otp(_step(at))}"


def parse_personal_code(text: str) -> tuple[int, str]:
    """Split a scanned personal code into (volunteer_id, digits); raise CodeError if malformed."""
    if len(text) > _MAX_CODE_LENGTH:
        raise CodeError("invalid_code")
    # [0-9] rather than \d: full-width and other Unicode digits are not codes we issued.
    match = _PERSONAL_CODE.fullmatch(text.strip())
    if match is None:
        raise CodeError("invalid_code")
    return int(match.group(1)), match.group(2)


def verify_personal_totp(secret: str, digits: str, at: datetime) -> int | None:
    """Return the step counter (current or previous) whose TOTP equals `digits`, else None."""
    current = _step(at)
    if not _TOTP_DIGITS_PATTERN.fullmatch(digits):
        return None
    totp = _totp(secret)
    for step in (current, current - 1):
        if hmac.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


# Activity display codes


def _to_base36(number: int) -> str:
    text = ""
    while True:
        number, remainder = divmod(number, 36)
        text = _BASE36_DIGITS[remainder] + text
        if number == 0:
            return text


def _activity_mac(activity_id: int, step: int, secret_key: str) -> str:
    if not secret_key:
        raise ValueError("secret_key must not be empty")
    message = f"{ACTIVITY_CODE_SALT}:{activity_id}:{step}".encode()
    digest = hmac.new(secret_key.encode(), message, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def activity_code(activity_id: int, secret_key: str, at: datetime) -> str:
    """Return the signed display token of an activity for the step containing `at`."""
    step = _step(at)
    return f"{_to_base36(step)}.{_activity_mac(activity_id, step, secret_key)}"


def verify_activity_code(token: str, activity_id: int, secret_key: str, at: datetime) -> int:
    """Return the token's step counter; raise CodeError if it is forged, foreign or expired."""
    current = _step(at)
    match = _ACTIVITY_TOKEN.fullmatch(token) if len(token) <= _MAX_CODE_LENGTH else None
    if match is None:
        raise CodeError("invalid_code")
    step_text, mac_text = match.groups()
    step = int(step_text, 36)
    # The MAC covers the number, not its text: refuse leading zeros so a token has one spelling.
    if _to_base36(step) != step_text:
        raise CodeError("invalid_code")
    # Comparing text also refuses base64 variants that decode to the same bytes.
    if not hmac.compare_digest(_activity_mac(activity_id, step, secret_key), mac_text):
        raise CodeError("invalid_code")
    if step > current:
        # Genuine but from a later step: a clock we cannot trust, not something to wait for.
        raise CodeError("invalid_code")
    if step < current - 1:
        raise CodeError("expired_code")
    return step


def activity_link(base_url: str, activity_id: int, token: str) -> str:
    """Return the URL an activity's display QR code encodes.

    WeChat's "scan a plain-link QR code to open the mini-program" feature (扫普通链接二维码打开
    小程序, set up in the mini-program's admin console) maps a registered URL prefix such as
    ``https://example.org/a/`` to a mini-program page; WeChat's scanner then opens that page and
    hands it the whole URL, URL-encoded, as the ``q`` launch option. The page reads the activity id
    from the path and the token from ``c`` and sends both to the check-in API.
    """
    return f"{base_url.rstrip('/')}/a/{activity_id}?c={token}"


def qr_png(text: str, *, scale: int = 8) -> bytes:
    """Return a PNG image of a QR code carrying `text`."""
    # make_qr, not make: segno.make picks a Micro QR for short text, which WeChat cannot read.
    qr = segno.make_qr(text, error="m")
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=scale, border=2)
    return buffer.getvalue()
