"""Personal information (PIPL): encryption at rest, lookup digests, masking for display."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken


# What every list shows instead of the name of a volunteer who deleted their account (注销).
ERASED_NAME = "已注销志愿者"


@lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    return Fernet(key.encode())


def encrypt(plaintext: str, key: str) -> bytes:
    """Encrypt with the configured pii_key (AES-128-CBC + HMAC, Fernet)."""
    return _fernet(key).encrypt(plaintext.encode())


def decrypt(token: bytes, key: str) -> str:
    """Decrypt a value written by encrypt(); raise ValueError if the key does not fit."""
    try:
        return _fernet(key).decrypt(token).decode()
    except InvalidToken:
        raise ValueError("encrypted personal data does not match app.pii_key") from None


def digest(value: str, key: str) -> str:
    """Keyed hash for uniqueness checks without decrypting (HMAC-SHA256, key derived from pii_key)."""
    return hmac.new(("digest:" + key).encode(), value.encode(), hashlib.sha256).hexdigest()


def mask_mobile(mobile: str | None) -> str | None:
    """138****5678."""
    if not mobile:
        return mobile
    return mobile[:3] + "****" + mobile[-4:] if len(mobile) >= 8 else "****"


def mask_id_number(id_number: str | None) -> str | None:
    """110***********1234: the region prefix and last four only."""
    if not id_number:
        return id_number
    return id_number[:3] + "*" * (len(id_number) - 7) + id_number[-4:]


def mask_name(name: str | None) -> str | None:
    """张*三 / 张*: keep the first and (for three or more characters) the last character."""
    if not name or name == ERASED_NAME:  # the placeholder is nobody's name: shown as it is
        return name
    if len(name) == 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
