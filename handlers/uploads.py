"""Uploads: POST /api/v1/uploads (multipart) checks and keeps a photo or a scan; GET /api/v1/uploads/{token} for its owner.

The answer carries the upload's token, which later writes name (an activity's photos, a declaration's
evidence), and signed, expiring links to the file and its thumbnail: links are the only way to read it.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field
from spectree.model_adapter.pydantic_adapter import BaseFile
from werkzeug.datastructures import FileStorage

from app.db import unit_of_work
from app.errors import ValidationFailed
from app.extensions import api_spec, settings
from app.services import uploads
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account_id, login_required
from handlers._idempotency import Nonce, idempotent
from handlers._schemas import RequestSchema, StrictBody, answers
from models import Upload, UploadPurpose

blueprint = Blueprint("uploads", __name__, url_prefix="/api/v1")


class UploadForm(RequestSchema):
    """A multipart/form-data body: the file and what it is for."""

    model_config = ConfigDict(extra="forbid")
    file: BaseFile = Field(description="文件：JPEG、PNG、WebP 图片，或（仅 evidence）PDF；类型按内容判断，不看文件名")
    purpose: UploadPurpose = Field(description="activity_photo 活动照片 / declaration_photo 自主申报照片 / "
                                               "evidence 补录凭证（照片或扫描的签到表 PDF）")
    nonce: Nonce


class UploadRequest(StrictBody):
    """What a repeated upload is recognised by: the purpose and the file's bytes (their SHA-256)."""

    purpose: UploadPurpose
    sha256: str
    nonce: Nonce


class UploadView(BaseModel):
    token: str = Field(description="在其他请求中引用此文件时使用")
    purpose: str
    content_type: str = Field(description="按文件内容判断的类型：image/jpeg、image/png、image/webp 或 application/pdf")
    size_bytes: int = Field(description="保存的文件大小（图片已重新编码并去除 EXIF 等元数据）")
    width: int | None
    height: int | None
    url: str = Field(description="文件的签名链接，短期有效；过期后用 GET /uploads/{token} 重新获取")
    thumbnail_url: str | None = Field(description="缩略图（JPEG，长边 320）的签名链接；PDF 没有缩略图")
    created_at: datetime


def _view(row: Upload) -> UploadView:
    return UploadView(**uploads.links(row), purpose=row.purpose.value, created_at=row.created_at)


@blueprint.post("/uploads")
@login_required
@api_spec.validate(form=UploadForm, resp=answers(201, UploadView, 400, 401, 413, 415, 422, 429, 503), tags=["uploads"],
                   security=BEARER_SECURITY)
def create_upload(form: UploadForm):
    """Upload a file (multipart/form-data: file, purpose, nonce); the same nonce again answers the first answer.

    413 `file_too_large` over `[files] upload_max_bytes` (10 MB by default); 415 `unsupported_file_type`
    unless the bytes are a JPEG, PNG or WebP image (or, for evidence, a PDF); 422 `image_too_large` for
    an image of more pixels than `[files] upload_max_pixels`, `corrupt_file` for one that does not decode;
    429 `too_many_requests` past `[files] uploads_per_minute`.
    Images are stored re-encoded, upright, without EXIF (GPS), XMP or comments, with a thumbnail.
    """
    if form is None:  # no multipart body at all (spectree validates a form only when one came)
        raise ValidationFailed({"file": "请以 multipart/form-data 上传文件"})
    if not isinstance(form.file, FileStorage):
        raise ValidationFailed({"file": "应为上传的文件"})
    uploads.require_upload_budget(current_account_id())
    purpose = UploadPurpose(form.purpose)
    data = uploads.read_limited(form.file.stream, settings()["files"]["upload_max_bytes"])
    checked = uploads.check(data, purpose)  # decoding and re-encoding: before any transaction opens
    fingerprint = UploadRequest(purpose=purpose, sha256=checked.received_sha256, nonce=form.nonce)
    return idempotent("uploads.create", fingerprint, lambda: (
        _view(uploads.receive(current_account_id(), purpose, checked, now=current_time())), 201))


@blueprint.get("/uploads/<string(minlength=20, maxlength=43):token>")
@login_required
@api_spec.validate(resp=answers(200, UploadView, 401, 404), tags=["uploads"], security=BEARER_SECURITY)
def get_upload(token: str):
    """One of the caller's uploads with fresh signed links; 404 `upload_not_found` for anyone else's."""
    with unit_of_work():
        return _view(uploads.mine(current_account_id(), token))
