"""Uploads: receive a file, keep it under an unguessable key, hand out tokens and signed links.

Other writes refer to uploads by token (`claim`): only the uploader may attach their upload, and
only for the purpose it was uploaded for. Files are never served by id: `links` signs expiring URLs.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from app.errors import DomainError
from app.extensions import db
from app.services import files
from models import Upload, UploadPurpose

LINK_SECONDS = 600
_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "application/pdf": ".pdf"}


def store(account_id: int, purpose: UploadPurpose, data: bytes, *, content_type: str, now: datetime,
          width: int | None = None, height: int | None = None, thumbnail: bytes | None = None) -> Upload:
    """Keep checked bytes (and their thumbnail) and record the upload; the caller commits."""
    key = files.save("uploads", f"file{_EXTENSIONS.get(content_type, '')}", data)
    thumbnail_key = files.save("thumbnails", "thumb.jpg", thumbnail) if thumbnail is not None else None
    row = Upload(token=secrets.token_urlsafe(24), account_id=account_id, purpose=purpose, content_type=content_type,
                 size_bytes=len(data), storage_key=key, thumbnail_key=thumbnail_key, width=width, height=height,
                 created_at=now)
    db.session.add(row)
    db.session.flush()
    return row


def claim(account_id: int, tokens: Sequence[str], purposes: Sequence[UploadPurpose], *, field: str,
          limit: int) -> list[Upload]:
    """The account's uploads named by `tokens`, in that order; 422 naming `field` for any other token."""
    tokens = list(dict.fromkeys(tokens))
    if len(tokens) > limit:
        raise DomainError("too_many_uploads", f"最多上传 {limit} 个文件", 422, fields={field: f"最多 {limit} 个"})
    if not tokens:
        return []
    rows = {row.token: row for row in db.session.scalars(
        select(Upload).where(Upload.token.in_(tokens), Upload.account_id == account_id,
                             Upload.purpose.in_(list(purposes))))}
    missing = [token for token in tokens if token not in rows]
    if missing:
        raise DomainError("upload_not_found", "有文件未上传成功或不属于您，请重新上传", 422,
                          fields={field: "文件不存在或不属于您"})
    return [rows[token] for token in tokens]


def links(upload: Upload, *, filename: str | None = None) -> dict:
    """What a client shows: the type, size and signed links to the file and its thumbnail."""
    name = filename or f"{upload.purpose.value}-{upload.id}{_EXTENSIONS.get(upload.content_type, '')}"
    return {
        "token": upload.token, "content_type": upload.content_type, "size_bytes": upload.size_bytes,
        "width": upload.width, "height": upload.height,
        "url": files.signed_url(upload.storage_key, filename=name, ttl_seconds=LINK_SECONDS),
        "thumbnail_url": (files.signed_url(upload.thumbnail_key, filename=f"thumb-{name}.jpg", ttl_seconds=LINK_SECONDS)
                          if upload.thumbnail_key else None),
    }
