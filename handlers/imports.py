"""Imports from XLSX (upload → preview → commit) and claiming an imported archive in the mini-program."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint, Response, request
from pydantic import BaseModel, Field
from spectree import Response as SpecResponse

from app.db import unit_of_work
from app.errors import DomainError, ErrorBody
from app.extensions import api_spec, get_gateway, settings
from app.services import idempotency, imports
from app.services.spreadsheets import XLSX_MIMETYPE
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account, current_account_id, login_required
from handlers._idempotency import REPLAYED_HEADER, Nonce, idempotent
from handlers._schemas import QueryArgs, StrictBody, answers, documented_only, id_path, takes_file_body
from models import Import, ImportKind, Volunteer

blueprint = Blueprint("imports", __name__, url_prefix="/api/v1")

KindField = Literal["volunteers", "records"]
_KIND_DESCRIPTION = "volunteers 志愿者名册 / records 历史服务记录"


class UploadQuery(QueryArgs):
    kind: KindField = Field(description=_KIND_DESCRIPTION)
    filename: str = Field(default="upload.xlsx", max_length=120, description="原文件名（仅用于显示）")


class TemplateQuery(QueryArgs):
    kind: KindField = Field(description=_KIND_DESCRIPTION)


class RowProblem(BaseModel):
    column: str = Field(description="列名")
    message: str


class ListedRow(BaseModel):
    row: int = Field(description="Excel 中的行号")
    result: str = Field(description="existing 已存在（将跳过）/ problem 有问题")
    problems: list[RowProblem] = Field(default_factory=list)
    volunteer_id: int | None = Field(default=None, description="已存在的志愿者（按身份证号或手机号找到）")
    matched_by: str | None = Field(default=None, description="id_number 身份证号 / mobile 手机号 / fingerprint 已导入过的同一条记录")


class ImportSummary(BaseModel):
    rows: int = Field(description="数据行数（不含表头和空行）")
    new: int = Field(description="将新增的行")
    existing: int = Field(description="系统中已有、将跳过的行")
    problems: int = Field(description="有问题的行")
    listed: list[ListedRow] = Field(description="有问题或已存在的行（最多 1000 行）")
    is_truncated: bool
    same_file_committed_at: datetime | None = Field(description="同一文件此前已导入的时间（再次导入不会重复写入）")


class ImportOutcome(BaseModel):
    written: int
    existing: int
    skipped: int


class ImportView(BaseModel):
    id: int
    organization_id: int
    kind: str
    filename: str
    size_bytes: int
    status: str = Field(description="previewed 已预览 / committed 已导入")
    summary: ImportSummary
    outcome: ImportOutcome | None
    created_at: datetime
    committed_at: datetime | None


class ImportList(BaseModel):
    items: list[ImportView]


class CommitBody(StrictBody):
    skip_problems: bool = Field(default=False, description="跳过有问题的行，只导入其余的行")
    nonce: Nonce


class ClaimBody(StrictBody):
    code: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$",
                      description="小程序 getPhoneNumber 按钮返回的 code")
    nonce: Nonce


class ClaimAnswer(BaseModel):
    volunteer_id: int
    real_name: str
    status: str
    volunteer_number: str | None
    region_id: int


def _view(row: Import) -> ImportView:
    return ImportView(id=row.id, organization_id=row.organization_id, kind=row.kind.value, filename=row.filename,
                      size_bytes=row.size_bytes, status=row.status.value,
                      summary=ImportSummary.model_validate(row.summary),
                      outcome=ImportOutcome.model_validate(row.outcome) if row.outcome else None,
                      created_at=row.created_at, committed_at=row.committed_at)


def _claim_view(volunteer: Volunteer) -> ClaimAnswer:
    return ClaimAnswer(volunteer_id=volunteer.id, real_name=volunteer.real_name, status=volunteer.status.value,
                       volunteer_number=volunteer.volunteer_number, region_id=volunteer.region_id)


def _uploaded_file() -> tuple[bytes, str | None]:
    """The file: the body itself (an XLSX or octet-stream), or the `file` field of a multipart form."""
    request.max_content_length = imports.MAX_FILE_BYTES
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise DomainError("validation_failed", "请在表单的 file 字段上传文件", 422, fields={"file": "必填"})
        return upload.read(imports.MAX_FILE_BYTES + 1), upload.filename
    if request.mimetype not in (XLSX_MIMETYPE, "application/octet-stream"):
        raise DomainError("unsupported_media_type", "请上传 .xlsx 文件（Content-Type 为 XLSX 或 multipart/form-data）", 415)
    return request.get_data(), None


@blueprint.post(f"/organizations/{id_path('organization_id')}/imports")
@takes_file_body
@login_required
@api_spec.validate(query=UploadQuery, resp=answers(201, ImportView, 401, 403, 404, 413, 415, 422), tags=["imports"],
                   security=BEARER_SECURITY)
def upload_import(organization_id: int, query: UploadQuery):
    """Upload an XLSX of volunteers or past records; the answer is its preview (nothing is written until commit)."""
    data, form_name = _uploaded_file()
    with unit_of_work():
        row = imports.upload(current_account(), organization_id, ImportKind(query.kind), data,
                             filename=form_name or query.filename, now=current_time(),
                             pii_key=settings()["app"]["pii_key"])
        return _view(row), 201


@blueprint.get(f"/organizations/{id_path('organization_id')}/imports")
@login_required
@api_spec.validate(resp=answers(200, ImportList, 401, 403, 404), tags=["imports"], security=BEARER_SECURITY)
def list_imports(organization_id: int):
    """The organisation's imports, newest first (the latest 50)."""
    with unit_of_work():
        return ImportList(items=[_view(r) for r in imports.of_organization(current_account(), organization_id)])


@blueprint.get(f"/imports/{id_path('import_id')}")
@login_required
@api_spec.validate(resp=answers(200, ImportView, 401, 404), tags=["imports"], security=BEARER_SECURITY)
def get_import(import_id: int):
    """One import with its preview and, once committed, what the commit wrote."""
    with unit_of_work():
        return _view(imports.get(current_account(), import_id))


@blueprint.post(f"/imports/{id_path('import_id')}/commit")
@login_required
@api_spec.validate(json=CommitBody, resp=answers(200, ImportView, 401, 404, 409, 413, 422, json_body=True),
                   tags=["imports"], security=BEARER_SECURITY)
def commit_import(import_id: int, json: CommitBody):
    """Write the preview's new rows in one transaction; rows already there are skipped, so a repeat writes nothing."""
    return idempotent("imports.commit", json, lambda: (_view(imports.commit_import(
        current_account(), import_id, skip_problems=json.skip_problems, now=current_time(),
        pii_key=settings()["app"]["pii_key"])), 200), import_id=import_id)


@blueprint.get("/imports/template")
@login_required
@documented_only(api_spec.validate(query=TemplateQuery, resp=SpecResponse("HTTP_200", HTTP_401=ErrorBody,
                                                                          HTTP_422=ErrorBody),
                                   tags=["imports"], security=BEARER_SECURITY))
def import_template():
    """An empty XLSX with the columns an import reads and one example row."""
    kind = request.args.get("kind", "")
    if kind not in ImportKind.__members__.values():
        raise DomainError("validation_failed", "请求内容有误，请检查标出的字段", 422, fields={"kind": _KIND_DESCRIPTION})
    name = "volunteers-template.xlsx" if kind == ImportKind.VOLUNTEERS else "records-template.xlsx"
    return Response(imports.template(ImportKind(kind)), mimetype=XLSX_MIMETYPE,
                    headers={"Content-Disposition": f"attachment; filename={name}"})


@blueprint.post("/me/claim")
@login_required
@api_spec.validate(json=ClaimBody, resp=answers(200, ClaimAnswer, 401, 404, 409, 503, json_body=True),
                   tags=["imports"], security=BEARER_SECURITY)
def claim_archive(json: ClaimBody):
    """Claim the archive an organisation imported for you, by proving your mobile number (getPhoneNumber's code)."""
    account_id = current_account_id()
    # A retry must not spend the code again (WeChat's are single-use): answer it from the first answer.
    # Only then the code is exchanged, outside any transaction (the gateway refuses to call inside one).
    print_ = idempotency.fingerprint({"target": {}, "body": json.model_dump(mode="json", exclude={"nonce"})})
    with unit_of_work():
        first = idempotency.earlier(account_id, "imports.claim", json.nonce, print_)
    if first is not None:
        return first.body, first.status_code, {REPLAYED_HEADER: "true"}
    mobile = imports.proven_mobile(get_gateway(), json.code)
    return idempotent("imports.claim", json,
                      lambda: (_claim_view(imports.claim(current_account(), mobile, now=current_time())), 200))
