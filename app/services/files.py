"""Generated files (exports, PDFs) and the expiring signed links that download them.

Files live in a local directory (`[files] directory`, default `instance/files/`), one folder per
kind; S3-compatible storage can come behind the same functions. A key is `kind/<random>.<ext>`:
192 random bits, so keys cannot be guessed, and a key names no person.

A download link carries no session: `signed_url` signs (itsdangerous, with app.secret_key and
its own salt) the key, the file name to offer and an expiry; `GET /api/v1/files/{token}` checks
the signature and the expiry and streams the file. Whoever holds a link may download until it
expires, so links are short-lived and handed only to the person entitled (an export's requester).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO

from itsdangerous import BadSignature, URLSafeSerializer

from app.errors import DomainError, NotFound
from app.extensions import settings
from app.timeutil import now_utc

_KIND = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
_KEY = re.compile(r"^([a-z][a-z0-9_]{0,30})/([A-Za-z0-9_-]{32})(\.[a-z0-9]{1,8})?$")
_SALT = "files.download-link"
URL_PREFIX = "/api/v1/files/"


def root() -> Path:
    """The files directory, relative to the working directory unless absolute."""
    path = Path(settings()["files"]["directory"])
    return path if path.is_absolute() else Path.cwd() / path


def file_not_found() -> NotFound:
    return NotFound("file_not_found", "文件不存在或已被清理")


def _path(key: str) -> Path:
    if not _KEY.match(key):
        raise file_not_found()
    return root() / key


def _suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""


def save(kind: str, name: str, data: bytes | str | os.PathLike) -> str:
    """Store `data` (bytes, or a file that is moved into place) as a new file of `kind`; its key.

    `name` gives only the extension; the name offered on download is `signed_url`'s `filename`.
    The file appears under its key at once and complete (written aside, then renamed).
    """
    if not _KIND.match(kind):
        raise ValueError(f"not a file kind: {kind!r}")
    key = f"{kind}/{secrets.token_urlsafe(24)}{_suffix(name)}"
    target = root() / key
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    if isinstance(data, bytes):
        partial.write_bytes(data)
    else:
        shutil.move(os.fspath(data), partial)
    os.replace(partial, target)
    return key


def scratch_path(kind: str, suffix: str) -> Path:
    """A private path to write a large file to before `save(kind, name, path)` moves it under a key."""
    folder = root() / ".scratch"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{kind}-{secrets.token_hex(12)}{suffix}"


def open(key: str) -> BinaryIO:  # noqa: A001 (the storage interface's name)
    """The stored file, opened for reading; 404 `file_not_found` when there is none."""
    try:
        return _path(key).open("rb")
    except FileNotFoundError:
        raise file_not_found() from None


def exists(key: str) -> bool:
    return bool(_KEY.match(key)) and (root() / key).is_file()


def size(key: str) -> int:
    try:
        return _path(key).stat().st_size
    except FileNotFoundError:
        raise file_not_found() from None


def delete(key: str) -> bool:
    """Remove the file; False when it was already gone (deleting twice is harmless)."""
    try:
        _path(key).unlink()
        return True
    except FileNotFoundError:
        return False


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(settings()["app"]["secret_key"], salt=_SALT)


def signed_url(key: str, *, filename: str, ttl_seconds: int, now: datetime | None = None) -> str:
    """A download path for the file, offered as `filename`, valid `ttl_seconds` from `now`."""
    expires = (now or now_utc()) + timedelta(seconds=ttl_seconds)
    token = _serializer().dumps({"k": key, "n": filename, "x": int(expires.timestamp())})
    return URL_PREFIX + token


@dataclass(frozen=True)
class Link:
    key: str
    filename: str
    expires_at: datetime


def resolve(token: str, *, now: datetime | None = None) -> Link:
    """What a link names: 404 `file_not_found` for a token we did not sign, 410 `link_expired` after its expiry."""
    try:
        payload = _serializer().loads(token)
        key, filename, expiry = payload["k"], payload["n"], payload["x"]
    except (BadSignature, KeyError, TypeError):
        raise file_not_found() from None
    if (now or now_utc()).timestamp() >= expiry:
        raise DomainError("link_expired", "下载链接已过期，请重新获取", 410)
    if not exists(key):
        raise file_not_found()
    return Link(key=key, filename=filename, expires_at=datetime.fromtimestamp(expiry, tz=timezone.utc))
