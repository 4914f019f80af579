"""Uploads: receive a file, check what it really is, keep it under an unguessable key, hand out tokens and signed links.

`check` judges the bytes, never the client's word (file name, declared type): JPEG, PNG and WebP
images and PDF documents only, sniffed from their first bytes (415 `unsupported_file_type`), at
most `[files] upload_max_bytes` (413 `file_too_large`). An image is decoded only after its
declared size is checked against `[files] upload_max_pixels` (422 `image_too_large`: a 50 KB PNG
can declare a 400-megapixel image, a decompression bomb), then re-encoded by Pillow with its
orientation applied: the stored file keeps the pixels and the colour profile and nothing else, so
EXIF (above all the GPS position: PIPL counts whereabouts as sensitive), XMP, comments and anything
appended to the file are gone. A thumbnail (JPEG, longest side 320) is made of every image. A file
that does not decode is 422 `corrupt_file`. All of this runs before any transaction opens.

Other writes refer to uploads by token (`claim`): only the uploader may attach their upload, and
only for the purpose it was uploaded for. Files are never served by id: `links` signs expiring URLs.
Files stored in a transaction that then rolls back are deleted again (`_forget_on_rollback`).
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO

import redis
from PIL import Image, ImageOps
from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session

from app.errors import DomainError, NotFound, ValidationFailed
from app.extensions import db, get_redis, settings
from app.services import files
from app.services.rate_limits import TokenBucket
from models import Upload, UploadPurpose

logger = logging.getLogger(__name__)

LINK_SECONDS = 600
_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "application/pdf": ".pdf"}


THUMBNAIL_SIDE = 320
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
# What each purpose takes: photos are images; evidence may also be a scanned sign-in sheet (PDF).
ACCEPTED = {UploadPurpose.ACTIVITY_PHOTO: IMAGE_TYPES, UploadPurpose.DECLARATION_PHOTO: IMAGE_TYPES,
            UploadPurpose.EVIDENCE: (*IMAGE_TYPES, "application/pdf")}
_PILLOW_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
# A colour profile is kept (without it colours shift); anything larger is not a real one.
_MAX_ICC_BYTES = 128 * 1024


def sniff(head: bytes) -> str | None:
    """The type the first bytes show (magic numbers), or None for anything we do not take."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


@dataclass(frozen=True)
class Checked:
    """A file that passed `check`: the bytes to keep (re-encoded for an image) and what they are."""

    content_type: str
    data: bytes
    received_sha256: str  # of the bytes as they arrived: what a repeated request is recognised by
    width: int | None = None
    height: int | None = None
    thumbnail: bytes | None = None


def unsupported(purpose: UploadPurpose) -> DomainError:
    kinds = "JPEG、PNG、WebP 图片或 PDF 文件" if "application/pdf" in ACCEPTED[purpose] else "JPEG、PNG 或 WebP 图片"
    return DomainError("unsupported_file_type", f"只能上传 {kinds}", 415, fields={"file": "文件类型不支持"})


def corrupt() -> DomainError:
    return DomainError("corrupt_file", "文件已损坏或不完整，请重新选择", 422, fields={"file": "无法读取"})


def read_limited(stream: BinaryIO, max_bytes: int) -> bytes:
    """All of `stream`, or 413 `file_too_large` as soon as it passes `max_bytes`."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise file_too_large(max_bytes)
    return data


def file_too_large(max_bytes: int) -> DomainError:
    return DomainError("file_too_large", f"文件不能超过 {max_bytes / 1024 / 1024:g} MB", 413,
                       fields={"file": "文件过大"})


def check(data: bytes, purpose: UploadPurpose, *, max_bytes: int | None = None,
          max_pixels: int | None = None) -> Checked:
    """Judge the bytes and make them safe to keep; limits default to `[files]`'s."""
    config = settings()["files"]
    max_bytes = config["upload_max_bytes"] if max_bytes is None else max_bytes
    max_pixels = config["upload_max_pixels"] if max_pixels is None else max_pixels
    if not data:
        raise ValidationFailed({"file": "文件为空"})
    if len(data) > max_bytes:
        raise file_too_large(max_bytes)
    received = hashlib.sha256(data).hexdigest()
    content_type = sniff(data[:16])
    if content_type not in ACCEPTED[purpose]:
        raise unsupported(purpose)
    if content_type == "application/pdf":
        # A whole PDF ends with %%EOF (a few bytes of trailing whitespace or junk are common).
        if b"%%EOF" not in data[-1024:]:
            raise corrupt()
        return Checked(content_type, data, received)
    return _clean_image(data, content_type, max_pixels, received)


def _is_complete(data: bytes, content_type: str) -> bool:
    """Whether the image's bytes run to its end marker, judged from its structure.

    Pillow's own truncation check cannot be relied on: WeasyPrint, imported in the same process,
    sets the process-wide `ImageFile.LOAD_TRUNCATED_IMAGES`, after which a cut-off image decodes
    silently with its missing part filled in grey.
    """
    if content_type == "image/jpeg":
        # Walk the marker segments to the first scan; a complete image has its EOI after it (inside
        # entropy-coded data 0xFF is always followed by 0x00 or a restart marker, never by 0xD9).
        at = 2
        while at + 4 <= len(data):
            if data[at] != 0xFF:
                return False
            marker = data[at + 1]
            if marker == 0xFF:
                at += 1
            elif marker == 0xDA:
                return data.find(b"\xff\xd9", at) != -1
            elif 0xD0 <= marker <= 0xD7 or marker == 0x01:
                at += 2
            else:
                at += 2 + int.from_bytes(data[at + 2:at + 4], "big")
        return False
    if content_type == "image/png":
        at = 8
        while at + 12 <= len(data):
            length = int.from_bytes(data[at:at + 4], "big")
            if data[at + 4:at + 8] == b"IEND":
                return True
            at += 12 + length
        return False
    # WebP: the RIFF header states the file's length.
    return len(data) >= 8 + int.from_bytes(data[4:8], "little")


def _clean_image(data: bytes, content_type: str, max_pixels: int, received: str) -> Checked:
    if not _is_complete(data, content_type):
        raise corrupt()
    try:
        with Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[content_type]]) as opened:
            # Only the header has been read: refuse an enormous image before decoding a pixel.
            width, height = opened.size
            if width * height > max_pixels or width <= 0 or height <= 0:
                raise image_too_large(max_pixels)
            opened.seek(0)  # an animated image: its first frame
            opened.load()
            icc = opened.info.get("icc_profile")
            upright = ImageOps.exif_transpose(opened)
    except Image.DecompressionBombError:  # Pillow's own limit, should ours be set above it
        raise image_too_large(max_pixels) from None
    except (OSError, SyntaxError, ValueError, EOFError, Image.UnidentifiedImageError):
        raise corrupt() from None
    extra = {"icc_profile": icc} if isinstance(icc, bytes) and len(icc) <= _MAX_ICC_BYTES else {}
    try:
        clean = _pixels_only(upright, content_type)
        out = io.BytesIO()
        if content_type == "image/jpeg":
            clean.save(out, "JPEG", quality=90, **extra)
        elif content_type == "image/png":
            clean.save(out, "PNG", **extra)
        else:
            clean.save(out, "WEBP", quality=90, **extra)
        thumbnail = _thumbnail(clean)
    except (OSError, ValueError) as exc:  # a decodable image in a mode we cannot write back
        logger.warning("upload not re-encodable (%s, mode %s): %s", content_type, upright.mode, exc)
        raise corrupt() from None
    return Checked(content_type, out.getvalue(), received, width=clean.width, height=clean.height, thumbnail=thumbnail)


def image_too_large(max_pixels: int) -> DomainError:
    return DomainError("image_too_large", f"图片尺寸过大（最多 {max_pixels // 1_000_000} 百万像素），请缩小后再上传", 422,
                       fields={"file": "图片像素过多"})


def _pixels_only(image: Image.Image, content_type: str) -> Image.Image:
    """A new image with the pixels and nothing of the original's metadata (EXIF, XMP, comments, text chunks)."""
    if content_type == "image/jpeg":
        wanted = "L" if image.mode in ("L", "1") else "RGB"
    elif content_type == "image/webp":
        wanted = "RGBA" if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info else "RGB"
    else:  # the modes Pillow writes as PNG
        wanted = image.mode if image.mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16") else "RGBA"
    converted = image if image.mode == wanted else image.convert(wanted)
    clean = Image.new(converted.mode, converted.size)
    if converted.mode == "P":
        clean.putpalette(converted.getpalette() or [])
    if "transparency" in converted.info:  # a transparent colour (P, L, RGB), not metadata
        clean.info["transparency"] = converted.info["transparency"]
    clean.paste(converted, (0, 0))
    return clean


def _thumbnail(image: Image.Image) -> bytes:
    small = image.copy()
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    if small.mode in ("RGBA", "LA", "PA", "P", "I;16", "I", "1"):
        rgba = small.convert("RGBA")
        small = Image.new("RGB", rgba.size, (255, 255, 255))
        small.paste(rgba, mask=rgba.getchannel("A"))
    elif small.mode != "RGB":
        small = small.convert("RGB")
    out = io.BytesIO()
    small.save(out, "JPEG", quality=80, optimize=True)
    return out.getvalue()


def receive(account_id: int, purpose: UploadPurpose, checked: Checked, *, now: datetime) -> Upload:
    """Keep a checked file as the account's upload; the caller commits."""
    return store(account_id, purpose, checked.data, content_type=checked.content_type, now=now, width=checked.width,
                 height=checked.height, thumbnail=checked.thumbnail)


def store(account_id: int, purpose: UploadPurpose, data: bytes, *, content_type: str, now: datetime,
          width: int | None = None, height: int | None = None, thumbnail: bytes | None = None) -> Upload:
    """Keep checked bytes (and their thumbnail) and record the upload; the caller commits."""
    session = db.session()
    key = files.save("uploads", f"file{_EXTENSIONS.get(content_type, '')}", data)
    _forget_on_rollback(session, key)
    thumbnail_key = files.save("thumbnails", "thumb.jpg", thumbnail) if thumbnail is not None else None
    if thumbnail_key:
        _forget_on_rollback(session, thumbnail_key)
    row = Upload(token=secrets.token_urlsafe(24), account_id=account_id, purpose=purpose, content_type=content_type,
                 size_bytes=len(data), storage_key=key, thumbnail_key=thumbnail_key, width=width, height=height,
                 created_at=now)
    session.add(row)
    session.flush()
    return row


_PENDING = "uploads.stored_keys"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,43}")


def _forget_on_rollback(session: Session, key: str) -> None:
    """Delete `key` again if this transaction rolls back (a concurrent repeat of the nonce won, a later step failed)."""
    session.info.setdefault(_PENDING, []).append(key)


@event.listens_for(Session, "after_commit")
def _kept(session: Session) -> None:
    session.info.pop(_PENDING, None)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    for key in session.info.pop(_PENDING, []):
        try:
            files.delete(key)
        except DomainError:  # the store is down: the orphan costs space, not correctness
            pass


def require_upload_budget(account_id: int) -> None:
    """At most `[files] uploads_per_minute` uploads an account, cluster-wide (429 beyond).

    The limit guards the web workers' CPU, not correctness: with Redis unreachable, uploads are not held back.
    """
    per_minute = settings()["files"]["uploads_per_minute"]
    bucket = TokenBucket(get_redis(), f"uploads:{account_id}", rate=per_minute / 60, capacity=per_minute)
    try:
        granted = bucket.take(1).granted
    except redis.RedisError as exc:
        logger.warning("upload rate limit unavailable: %s", exc)
        return
    if not granted:
        raise DomainError("too_many_requests", "上传过于频繁，请稍后再试", 429)


def mine(account_id: int, token: str) -> Upload:
    """The account's upload named by `token`; 404 `upload_not_found` for anyone else's (whose existence is not told)."""
    row = None
    if _TOKEN.fullmatch(token):  # anything else (a NUL, which PostgreSQL refuses in text) names no upload
        row = db.session.scalar(select(Upload).where(Upload.token == token, Upload.account_id == account_id))
    if row is None:
        raise NotFound("upload_not_found", "找不到该文件，或它不属于您")
    return row


def claim(account_id: int, tokens: Sequence[str], purposes: Sequence[UploadPurpose], *, field: str,
          limit: int) -> list[Upload]:
    """The account's uploads named by `tokens`, in that order; 422 naming `field` for any other token."""
    tokens = list(dict.fromkeys(tokens))
    if len(tokens) > limit:
        raise DomainError("too_many_uploads", f"最多上传 {limit} 个文件", 422, fields={field: f"最多 {limit} 个"})
    if not tokens:
        return []
    # FOR SHARE (PostgreSQL): the sweep of unattached uploads skips rows being claimed, and a claim
    # waits for a sweep that took its rows first (then finds them gone: "please upload again").
    rows = {row.token: row for row in db.session.scalars(
        select(Upload).where(Upload.token.in_(tokens), Upload.account_id == account_id,
                             Upload.purpose.in_(list(purposes))).with_for_update(read=True))}
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


# --- the sweep of uploads never attached ----------------------------------------------------------
#
# An upload is attached when a row names its id: a declaration's photos, a 补录's evidence, any
# revision of an activity's report. Those rows are written after the upload (by the uploader,
# through `claim`), so only rows made since the oldest candidate are read. The sweep runs hourly and
# looks back CATCH_UP past the grace period, so a week without a scheduler is caught up; an upload
# checked and found attached is simply checked again on the next run until it ages out of that window.

CATCH_UP = timedelta(days=7)


def _attached_ids(since: datetime) -> set[int]:
    """Ids of uploads named by any row made at or after `since`."""
    from models import ActivityReport, Declaration, RetroactiveEntry

    attached: set[int] = set()
    for column, made_at in ((Declaration.photo_upload_ids, Declaration.created_at),
                            (RetroactiveEntry.evidence_upload_ids, RetroactiveEntry.created_at),
                            (ActivityReport.photo_upload_ids, ActivityReport.created_at)):
        for ids in db.session.scalars(select(column).where(made_at >= since)):
            attached.update(ids or ())
    return attached


def take_unattached(*, now: datetime, grace: timedelta, after_id: int = 0,
                    limit: int = 500) -> tuple[list[tuple[int, str, str | None]], int | None]:
    """Delete the rows of uploads older than `grace` that nothing names, of the next `limit` after `after_id`.

    Returns their (id, key, thumbnail key) and the last id looked at (None when there were none:
    the sweep is done). The caller commits, then deletes the files (`forget_files`): a file
    outlives its row at worst, never the other way round. Rows being claimed right now are locked
    and skipped (PostgreSQL).
    """
    cutoff = now - grace
    candidates = db.session.execute(
        select(Upload.id, Upload.storage_key, Upload.thumbnail_key, Upload.created_at)
        .where(Upload.id > after_id, Upload.created_at < cutoff, Upload.created_at >= cutoff - CATCH_UP)
        .order_by(Upload.id).limit(limit).with_for_update(skip_locked=True)).all()
    if not candidates:
        return [], None
    attached = _attached_ids(min(row.created_at for row in candidates))
    gone = [(row.id, row.storage_key, row.thumbnail_key) for row in candidates if row.id not in attached]
    if gone:
        db.session.execute(delete(Upload).where(Upload.id.in_([upload_id for upload_id, _, _ in gone]))
                           .execution_options(synchronize_session=False))
    return gone, candidates[-1].id


def forget_files(keys: Sequence[str | None]) -> int:
    """Delete stored files (after their rows are committed gone); how many were there. Failures are logged."""
    deleted = 0
    for key in keys:
        if not key:
            continue
        try:
            deleted += files.delete(key)
        except Exception:  # noqa: BLE001 (one unreachable object must not stop the rest)
            logger.warning("could not delete an unattached upload's file", exc_info=True)
    return deleted
