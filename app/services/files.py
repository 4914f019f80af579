"""Files (exports, PDFs, uploaded photos and evidence) and the expiring signed links that read them.

One interface, two backends (`[files] backend`): `local` keeps files in a directory (`[files]
directory`, default `instance/files/`, the embedded default), `s3` in an S3-compatible object store
through boto3 (`[files.s3]`: endpoint, bucket, credentials). The functions below are the interface;
callers never see which backend answers. A key is `kind/<random>.<ext>`: 192 random bits, so keys
cannot be guessed, and a key names no person. The bucket stays private: no object is ever public.

A download link carries no session: `signed_url` signs (itsdangerous, with app.secret_key and
its own salt) the key, the file name to offer and an expiry; `GET /api/v1/files/{token}` checks
the signature and the expiry and streams the file. Whoever holds a link may download until it
expires, so links are short-lived and handed only to the person entitled (an export's requester).

A store that cannot be reached answers 503 `storage_unavailable`, never a 500.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from app.errors import DomainError, NotFound
from app.extensions import settings
from app.timeutil import now_utc

logger = logging.getLogger(__name__)

_KIND = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
_KEY = re.compile(r"^([a-z][a-z0-9_]{0,30})/([A-Za-z0-9_-]{32})(\.[a-z0-9]{1,8})?$")
_SALT = "files.download-link"
URL_PREFIX = "/api/v1/files/"


def root() -> Path:
    """The local files directory (the local backend's store, every backend's scratch space)."""
    path = Path(settings()["files"]["directory"])
    return path if path.is_absolute() else Path.cwd() / path


def file_not_found() -> NotFound:
    return NotFound("file_not_found", "文件不存在或已被清理")


class StorageUnavailable(DomainError):
    def __init__(self) -> None:
        super().__init__("storage_unavailable", "文件存储暂时不可用，请稍后再试", 503)


class Backend(Protocol):
    """What a store does with a checked key; `files.*` checks keys and names before calling it."""

    def put(self, key: str, data: bytes | Path) -> None:
        """Store `data` under `key`, complete or not at all (a `Path` is uploaded, and removed after)."""

    def get(self, key: str) -> BinaryIO:
        """The file opened for reading; FileNotFoundError when there is none."""

    def size(self, key: str) -> int | None:
        """Its size in bytes, None when there is none."""

    def delete(self, key: str) -> bool:
        """Remove it; False when it was already gone."""


class LocalBackend:
    """Files in a directory: written aside, then renamed, so a key names a complete file or nothing."""

    def __init__(self, directory: Path):
        self.directory = directory

    def put(self, key: str, data: bytes | Path) -> None:
        target = self.directory / key
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        if isinstance(data, bytes):
            partial.write_bytes(data)
        else:
            shutil.move(os.fspath(data), partial)
        os.replace(partial, target)

    def get(self, key: str) -> BinaryIO:
        return (self.directory / key).open("rb")

    def size(self, key: str) -> int | None:
        try:
            path = self.directory / key
            return path.stat().st_size if path.is_file() else None
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> bool:
        try:
            (self.directory / key).unlink()
            return True
        except FileNotFoundError:
            return False


class S3Backend:
    """Objects in one private bucket of an S3-compatible store (AWS, MinIO, OSS/COS in S3 mode).

    A PUT is atomic in S3, so a key names a complete object or nothing, as on disk. Every call
    that fails for another reason than "no such key" (the store down, refused credentials) is
    `StorageUnavailable`; botocore retries once before that.
    """

    def __init__(self, config: Any):
        import boto3
        from botocore.config import Config

        self.bucket = config["bucket"]
        self.prefix = config["key_prefix"]
        timeout = config["timeout_seconds"]
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=config["endpoint_url"] or None, region_name=config["region"] or None,
            aws_access_key_id=config["access_key_id"] or None, aws_secret_access_key=config["secret_access_key"] or None,
            config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2, "mode": "standard"},
                          s3={"addressing_style": config["addressing_style"]}, signature_version="s3v4"))

    def _call(self, method: str, key: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(Bucket=self.bucket, Key=self.prefix + key, **kwargs)
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404 or error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise FileNotFoundError(key) from None
            logger.warning("object store refused %s: %s", method, error.response.get("Error", {}).get("Code"))
            raise StorageUnavailable() from error
        except BotoCoreError as error:
            logger.warning("object store unreachable for %s: %s", method, type(error).__name__)
            raise StorageUnavailable() from error

    def put(self, key: str, data: bytes | Path) -> None:
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        if isinstance(data, bytes):
            self._call("put_object", key, Body=data, ContentType=content_type)
            return
        with data.open("rb") as handle:
            self._call("put_object", key, Body=handle, ContentType=content_type)
        data.unlink()

    def get(self, key: str) -> BinaryIO:
        return self._call("get_object", key)["Body"]

    def size(self, key: str) -> int | None:
        try:
            return int(self._call("head_object", key)["ContentLength"])
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> bool:
        # S3's DELETE succeeds whether or not the object was there; HEAD first tells which.
        if self.size(key) is None:
            return False
        self._call("delete_object", key)
        return True


# One S3 client per distinct configuration in the process: making one loads botocore's service model
# (about a second), and a client is safe to share between threads.
_S3_BACKENDS: dict[tuple, S3Backend] = {}


def backend() -> Backend:
    """The app's store, made on first use (boto3 is imported only when the s3 backend is used)."""
    made = current_app.extensions.get("files_backend")
    if made is None:
        config = settings()["files"]
        if config["backend"] == "s3":
            identity = tuple(sorted(config["s3"].items()))
            made = _S3_BACKENDS.get(identity)
            if made is None:
                made = _S3_BACKENDS.setdefault(identity, S3Backend(config["s3"]))
        else:
            made = LocalBackend(root())
        current_app.extensions["files_backend"] = made
    return made


def _checked(key: str) -> str:
    if not _KEY.match(key):
        raise file_not_found()
    return key


def _suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""


def save(kind: str, name: str, data: bytes | str | os.PathLike) -> str:
    """Store `data` (bytes, or a file that is moved into place) as a new file of `kind`; its key.

    `name` gives only the extension; the name offered on download is `signed_url`'s `filename`.
    The file appears under its key at once and complete (written aside, then renamed; or one PUT).
    """
    if not _KIND.match(kind):
        raise ValueError(f"not a file kind: {kind!r}")
    key = f"{kind}/{secrets.token_urlsafe(24)}{_suffix(name)}"
    backend().put(key, data if isinstance(data, bytes) else Path(data))
    return key


def scratch_path(kind: str, suffix: str) -> Path:
    """A private local path to write a large file to before `save(kind, name, path)` moves it under a key."""
    folder = root() / ".scratch"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{kind}-{secrets.token_hex(12)}{suffix}"


def open(key: str) -> BinaryIO:  # noqa: A001 (the storage interface's name)
    """The stored file, opened for reading; 404 `file_not_found` when there is none."""
    try:
        return backend().get(_checked(key))
    except FileNotFoundError:
        raise file_not_found() from None


def exists(key: str) -> bool:
    return bool(_KEY.match(key)) and backend().size(key) is not None


def size(key: str) -> int:
    found = backend().size(_checked(key))
    if found is None:
        raise file_not_found()
    return found


def delete(key: str) -> bool:
    """Remove the file; False when it was already gone (deleting twice is harmless)."""
    if not _KEY.match(key):
        return False
    return backend().delete(key)


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
