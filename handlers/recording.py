"""Time entered by people: bulk entry (a table, a sign-in sheet's preview and commit), self-declarations, 补录."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from typing import Literal

from flask import Blueprint, Response
from pydantic import AwareDatetime, BaseModel, Field
from spectree import Response as SpecResponse

from app import pii
from app.errors import ErrorBody, ValidationFailed
from app.extensions import api_spec
from app.services import uploads
from app.services.spreadsheets import XLSX_MIMETYPE
from app.services.recording import bulk, declarations, evidence, retroactive
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account, login_required
from handlers._idempotency import Nonce, idempotent
from handlers._schemas import Id, MultiLine, Page, StrictBody, answers, documented_only, id_path
from models import BulkPreview, Declaration, EntryStatus, RetroactiveEntry, Volunteer

blueprint = Blueprint("recording", __name__, url_prefix="/api/v1")
TAGS = ["service records"]


class ErrorItem(BaseModel):
    code: str
    message: str


# --- bulk entry -------------------------------------------------------------------------------------

class TableRowIn(StrictBody):
    volunteer_id: Id = Field(description="已通过报名的志愿者 id")
    started_at: AwareDatetime | None = Field(default=None, description="签到时间；不填为活动开始时间")
    ended_at: AwareDatetime | None = Field(default=None, description="签退时间；不填为活动结束时间")


class TableBody(StrictBody):
    rows: list[TableRowIn] = Field(min_length=1, max_length=bulk.MAX_TABLE_ROWS)
    nonce: Nonce


class BulkRowResult(BaseModel):
    row: int = Field(description="表格中的行号（签到表为 Excel 的行号）")
    volunteer_id: int | None
    status: str = Field(description="recorded 已计入 / refused 被拒（见 error）/ skipped 预览时有问题、未提交")
    record_id: int | None
    minutes: int
    error: ErrorItem | None


class BulkResult(BaseModel):
    activity_id: int
    preview_id: int | None
    recorded: int
    refused: int
    skipped: int
    minutes: int = Field(description="本次计入的总分钟数")
    rows: list[BulkRowResult]


class PreviewBody(StrictBody):
    filename: str = Field(min_length=1, max_length=200, description="文件名，如 签到表.xlsx")
    content_base64: str = Field(min_length=4, max_length=1_000_000, description="XLSX 文件内容（base64）")
    nonce: Nonce


class PreviewRow(BaseModel):
    row: int = Field(description="Excel 行号")
    name: str = Field(description="签到表上的姓名")
    volunteer_id: int | None = Field(description="匹配到的志愿者（已通过报名）")
    volunteer_name: str | None = Field(description="匹配到的志愿者姓名（脱敏）")
    volunteer_number: str | None
    started_at: datetime | None
    ended_at: datetime | None
    minutes: int
    status: str = Field(description="ok 可提交 / problem 有问题（见 problems），提交时跳过")
    problems: list[ErrorItem]


class PreviewView(BaseModel):
    id: int
    activity_id: int
    filename: str
    ok: int
    problems: int
    rows: list[PreviewRow]
    created_at: datetime
    expires_at: datetime
    committed_at: datetime | None
    result: BulkResult | None = Field(description="提交后的结果")


class CommitBody(StrictBody):
    nonce: Nonce


def _preview_view(row: BulkPreview) -> PreviewView:
    ok = sum(1 for item in row.rows if item["status"] == "ok")
    return PreviewView(id=row.id, activity_id=row.activity_id, filename=row.filename, ok=ok,
                       problems=len(row.rows) - ok, rows=[PreviewRow(**item) for item in row.rows],
                       created_at=row.created_at, expires_at=row.expires_at, committed_at=row.committed_at,
                       result=BulkResult(**row.result) if row.result else None)


@blueprint.post(f"/activities/{id_path('activity_id')}/bulk-entries")
@login_required
@api_spec.validate(json=TableBody, resp=answers(201, BulkResult, 401, 403, 404, 409, json_body=True), tags=TAGS,
                   security=BEARER_SECURITY)
def enter_table(activity_id: int, json: TableBody):
    """A captain or organiser enters attendance as a table; each row is credited or refused with its code.

    Rows are refused (nothing written for them) with `not_signed_up`, `times_outside_activity`,
    `overlapping_service` (the person is credited elsewhere at that time) or `minutes_exceed_activity`.
    """
    rows = [bulk.TableRow(r.volunteer_id, r.started_at, r.ended_at) for r in json.rows]
    return idempotent("bulk_entries.table", json, lambda: (BulkResult(**bulk.enter_table(
        current_account(), activity_id, rows, now=current_time())), 201), activity_id=activity_id)


@blueprint.get(f"/activities/{id_path('activity_id')}/bulk-entries/template")
@login_required
@documented_only(api_spec.validate(resp=SpecResponse("HTTP_200", HTTP_401=ErrorBody, HTTP_403=ErrorBody,
                                                     HTTP_404=ErrorBody), tags=TAGS, security=BEARER_SECURITY))
def sheet_template(activity_id: int):
    """The activity's sign-in sheet as XLSX: the columns a preview reads, one line per approved sign-up."""
    activity, data = bulk.sheet_template(current_account(), activity_id)
    return Response(data, mimetype=XLSX_MIMETYPE,
                    headers={"Content-Disposition": f"attachment; filename=signin-sheet-{activity.id}.xlsx"})


@blueprint.post(f"/activities/{id_path('activity_id')}/bulk-entries/previews")
@login_required
@api_spec.validate(json=PreviewBody, resp=answers(201, PreviewView, 401, 403, 404, 409, json_body=True), tags=TAGS,
                   security=BEARER_SECURITY)
def preview_sheet(activity_id: int, json: PreviewBody):
    """Upload the paper sign-in sheet (XLSX, base64): each row's match, times and problems; nothing credited yet."""
    try:
        data = base64.b64decode(json.content_base64, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed({"content_base64": "不是有效的 base64"}) from None
    # The fingerprint holds the file's digest, not its bytes: the same nonce with another file is refused.
    keyed = _PreviewKey(filename=json.filename, sha256=hashlib.sha256(data).hexdigest(), nonce=json.nonce)
    return idempotent("bulk_entries.preview", keyed, lambda: (_preview_view(bulk.preview_sheet(
        current_account(), activity_id, data, filename=json.filename, now=current_time())), 201),
        activity_id=activity_id)


class _PreviewKey(BaseModel):
    filename: str
    sha256: str
    nonce: str


@blueprint.get(f"/activities/{id_path('activity_id')}/bulk-entries/previews/{id_path('preview_id')}")
@login_required
@api_spec.validate(resp=answers(200, PreviewView, 401, 403, 404), tags=TAGS, security=BEARER_SECURITY)
def get_preview(activity_id: int, preview_id: int):
    """A sign-in sheet's preview (and, once committed, its result)."""
    return _preview_view(bulk.preview(current_account(), activity_id, preview_id))


@blueprint.post(f"/activities/{id_path('activity_id')}/bulk-entries/previews/{id_path('preview_id')}/commit")
@login_required
@api_spec.validate(json=CommitBody, resp=answers(201, BulkResult, 401, 403, 404, 409, json_body=True), tags=TAGS,
                   security=BEARER_SECURITY)
def commit_preview(activity_id: int, preview_id: int, json: CommitBody):
    """Credit the preview's good rows, once (`preview_already_committed`); each is checked again now."""
    return idempotent("bulk_entries.commit", json, lambda: (BulkResult(**bulk.commit_preview(
        current_account(), activity_id, preview_id, now=current_time())), 201),
        activity_id=activity_id, preview_id=preview_id)


# --- self-declarations ------------------------------------------------------------------------------

class DeclarationBody(StrictBody):
    started_at: AwareDatetime = Field(description="到达时间，带时区")
    ended_at: AwareDatetime = Field(description="离开时间，带时区")
    note: MultiLine = Field(default="", max_length=500, description="说明：做了什么、为何未扫码")
    photos: list[str] = Field(default_factory=list, max_length=declarations.MAX_PHOTOS,
                              description="现场照片的上传 token（最多 9 张）")
    nonce: Nonce


class DeclarationDecisionBody(StrictBody):
    decision: Literal["confirm", "refuse"]
    reason: str | None = Field(default=None, max_length=200, description="不予确认的原因（refuse 时必填）")
    nonce: Nonce


class PhotoLink(BaseModel):
    token: str
    content_type: str
    size_bytes: int
    width: int | None
    height: int | None
    url: str = Field(description="签名链接，短时有效")
    thumbnail_url: str | None


class DeclarationView(BaseModel):
    id: int
    activity_id: int
    volunteer_id: int
    volunteer_name: str = Field(description="姓名（脱敏）")
    started_at: datetime
    ended_at: datetime
    minutes: int
    note: str
    photos: list[PhotoLink] = Field(description="照片：token、签名链接与缩略图链接（链接有时效）")
    status: str = Field(description="pending 待确认 / approved 已确认并计入 / rejected 不予确认")
    decision_reason: str | None
    record_id: int | None
    created_at: datetime
    decided_at: datetime | None


class DeclarationPage(BaseModel):
    items: list[DeclarationView]
    total: int
    page: int
    per_page: int


class DeclarationQuery(Page):
    status: EntryStatus | None = None


def _declaration_view(row: Declaration, volunteer: Volunteer | None = None) -> DeclarationView:
    from app.extensions import db

    volunteer = volunteer or db.session.get(Volunteer, row.volunteer_id)
    return DeclarationView(id=row.id, activity_id=row.activity_id, volunteer_id=row.volunteer_id,
                           volunteer_name=pii.mask_name(volunteer.real_name) or "", started_at=row.starts_at,
                           ended_at=row.ends_at, minutes=row.minutes, note=row.note,
                           photos=[PhotoLink(**uploads.links(u)) for u in declarations.photos_of(row)],
                           status=row.status.value,
                           decision_reason=row.decision_reason, record_id=row.record_id, created_at=row.created_at,
                           decided_at=row.decided_at)


def _declaration_page(rows: list, total: int, query: Page) -> DeclarationPage:
    return DeclarationPage(items=[_declaration_view(row, volunteer) for row, volunteer in rows], total=total,
                           page=query.page, per_page=query.per_page)


@blueprint.post(f"/activities/{id_path('activity_id')}/declarations")
@login_required
@api_spec.validate(json=DeclarationBody, resp=answers(201, DeclarationView, 401, 403, 404, 409, json_body=True),
                   tags=TAGS, security=BEARER_SECURITY)
def declare(activity_id: int, json: DeclarationBody):
    """A volunteer declares their time at an activity they attended; its captain or organiser confirms."""
    return idempotent("declarations.create", json, lambda: (_declaration_view(declarations.declare(
        current_account(), activity_id, started_at=json.started_at, ended_at=json.ended_at, note=json.note,
        photos=json.photos, now=current_time())), 201), activity_id=activity_id)


@blueprint.get(f"/activities/{id_path('activity_id')}/declarations")
@login_required
@api_spec.validate(query=DeclarationQuery, resp=answers(200, DeclarationPage, 401, 403, 404, 422), tags=TAGS,
                   security=BEARER_SECURITY)
def activity_declarations(activity_id: int, query: DeclarationQuery):
    """An activity's declarations for its captains and organisers, oldest first."""
    rows, total = declarations.of_activity(current_account(), activity_id, status=query.status, page=query.page,
                                           per_page=query.per_page)
    return _declaration_page(rows, total, query)


@blueprint.get("/me/declarations")
@login_required
@api_spec.validate(query=Page, resp=answers(200, DeclarationPage, 401, 404, 422), tags=TAGS, security=BEARER_SECURITY)
def my_declarations(query: Page):
    """The caller's declarations and their decisions, newest first."""
    rows, total = declarations.mine(current_account(), page=query.page, per_page=query.per_page)
    return _declaration_page(rows, total, query)


class ScopedDeclarationView(DeclarationView):
    activity_title: str
    activity_starts_at: datetime
    activity_ends_at: datetime


class ScopedDeclarationPage(BaseModel):
    items: list[ScopedDeclarationView]
    total: int
    page: int
    per_page: int


class ScopedDeclarationQuery(Page):
    status: EntryStatus | None = Field(default=None, description="pending 待确认 / approved 已确认 / rejected 不予确认；不填为全部")
    organization_id: Id | None = Field(default=None, description="只看某组织的活动（须为本人组织的）")
    team_id: Id | None = Field(default=None, description="只看某队伍的活动（须为本人担任队长的）")


@blueprint.get("/declarations")
@login_required
@api_spec.validate(query=ScopedDeclarationQuery, resp=answers(200, ScopedDeclarationPage, 401, 422), tags=TAGS,
                   security=BEARER_SECURITY)
def scoped_declarations(query: ScopedDeclarationQuery):
    """Declarations at every activity the caller organises (their organisations') or captains (their teams')."""
    rows, total = declarations.in_scope(current_account(), status=query.status, organization_id=query.organization_id,
                                        team_id=query.team_id, page=query.page, per_page=query.per_page)
    items = [ScopedDeclarationView(**_declaration_view(row, volunteer).model_dump(), activity_title=activity.title,
                                   activity_starts_at=activity.starts_at, activity_ends_at=activity.ends_at)
             for row, volunteer, activity in rows]
    return ScopedDeclarationPage(items=items, total=total, page=query.page, per_page=query.per_page)


@blueprint.get(f"/declarations/{id_path('declaration_id')}")
@login_required
@api_spec.validate(resp=answers(200, DeclarationView, 401, 404), tags=TAGS, security=BEARER_SECURITY)
def get_declaration(declaration_id: int):
    """One declaration, for its volunteer or the activity's captains and organisers."""
    row, _ = declarations.get(current_account(), declaration_id)
    return _declaration_view(row)


@blueprint.post(f"/declarations/{id_path('declaration_id')}/decision")
@login_required
@api_spec.validate(json=DeclarationDecisionBody,
                   resp=answers(200, DeclarationView, 401, 403, 404, 409, json_body=True), tags=TAGS,
                   security=BEARER_SECURITY)
def decide_declaration(declaration_id: int, json: DeclarationDecisionBody):
    """Confirm (credited now: refused with `overlapping_service` / `minutes_exceed_activity` if it no longer fits) or refuse."""
    return idempotent("declarations.decide", json, lambda: (_declaration_view(declarations.decide(
        current_account(), declaration_id, confirm=json.decision == "confirm", reason=json.reason,
        now=current_time())), 200), declaration_id=declaration_id)


# --- the evidence gallery ------------------------------------------------------------------------------

class EvidenceItem(PhotoLink):
    source: Literal["report", "declaration", "retroactive"] = Field(
        description="report 活动总结的照片 / declaration 已确认申报的照片 / retroactive 补录凭证")
    caption: str


class EvidenceView(BaseModel):
    activity_id: int
    items: list[EvidenceItem]


@blueprint.get(f"/activities/{id_path('activity_id')}/evidence")
@login_required
@api_spec.validate(resp=answers(200, EvidenceView, 401, 403, 404), tags=TAGS, security=BEARER_SECURITY)
def activity_evidence(activity_id: int):
    """The activity's photos and evidence in one list (signed, expiring links), for whoever may read its report."""
    found = evidence.of_activity(current_account(), activity_id)
    return EvidenceView(activity_id=activity_id, items=[
        EvidenceItem(**uploads.links(upload), source=source, caption=caption) for source, caption, upload in found])


# --- retroactive entries (补录) -----------------------------------------------------------------------

class AttendeeIn(StrictBody):
    volunteer_id: Id
    started_at: AwareDatetime | None = Field(default=None, description="不填为活动开始时间")
    ended_at: AwareDatetime | None = Field(default=None, description="不填为活动结束时间")


class RetroactiveBody(StrictBody):
    title: str = Field(min_length=2, max_length=60)
    place: str = Field(min_length=2, max_length=200)
    beneficiary: str = Field(default="", max_length=100, description="服务对象")
    content: MultiLine = Field(default="", max_length=2000, description="服务内容")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    attendees: list[AttendeeIn] = Field(min_length=1, max_length=retroactive.MAX_ATTENDEES)
    evidence: list[str] = Field(min_length=1, max_length=retroactive.MAX_EVIDENCE,
                                description="证明材料的上传 token：现场照片、签到表扫描件（PDF）")
    nonce: Nonce


class RetroactiveDecisionBody(StrictBody):
    decision: Literal["approve", "reject"]
    reason: str | None = Field(default=None, max_length=200, description="驳回原因（reject 时必填）")
    nonce: Nonce


class AttendeeView(BaseModel):
    volunteer_id: int
    volunteer_name: str
    started_at: datetime
    ended_at: datetime
    record_id: int | None


class RetroactiveView(BaseModel):
    id: int
    organization_id: int
    region_id: int
    title: str
    place: str
    beneficiary: str
    content: str
    starts_at: datetime
    ends_at: datetime
    attendees: list[AttendeeView]
    evidence: list[dict]
    status: str = Field(description="pending 待审批 / approved 已通过并计入 / rejected 已驳回")
    created_by_account_id: int | None
    decided_by_account_id: int | None
    decided_at: datetime | None
    decision_reason: str | None
    activity_id: int | None = Field(description="通过后生成的活动")
    created_at: datetime


class RetroactivePage(BaseModel):
    items: list[RetroactiveView]
    total: int
    page: int
    per_page: int


class RetroactiveQuery(Page):
    status: EntryStatus | None = None


class ScopeQuery(RetroactiveQuery):
    organization_id: Id | None = Field(default=None, description="只看某组织的补录；不填为本人可审批的全部")


def _retroactive_view(entry: RetroactiveEntry) -> RetroactiveView:
    attendees = [AttendeeView(volunteer_id=v.id, volunteer_name=pii.mask_name(v.real_name) or "",
                              started_at=a.starts_at, ended_at=a.ends_at, record_id=a.record_id)
                 for a, v in retroactive.attendees_of(entry)]
    return RetroactiveView(id=entry.id, organization_id=entry.organization_id, region_id=entry.region_id,
                           title=entry.title, place=entry.place, beneficiary=entry.beneficiary, content=entry.content,
                           starts_at=entry.starts_at, ends_at=entry.ends_at, attendees=attendees,
                           evidence=[uploads.links(u) for u in retroactive.evidence_of(entry)],
                           status=entry.status.value, created_by_account_id=entry.created_by_account_id,
                           decided_by_account_id=entry.decided_by_account_id, decided_at=entry.decided_at,
                           decision_reason=entry.decision_reason, activity_id=entry.activity_id,
                           created_at=entry.created_at)


@blueprint.post(f"/organizations/{id_path('organization_id')}/retroactive-entries")
@login_required
@api_spec.validate(json=RetroactiveBody, resp=answers(201, RetroactiveView, 401, 403, 404, 409, json_body=True),
                   tags=TAGS, security=BEARER_SECURITY)
def enter_retroactive(organization_id: int, json: RetroactiveBody):
    """An organiser enters service held outside the system (补录) for approval a region above."""
    held = retroactive.Held(json.title, json.place, json.beneficiary, json.content, json.starts_at, json.ends_at)
    attendees = [retroactive.Attendee(a.volunteer_id, a.started_at, a.ended_at) for a in json.attendees]
    return idempotent("retroactive_entries.create", json, lambda: (_retroactive_view(retroactive.enter(
        current_account(), organization_id, held, attendees, json.evidence, now=current_time())), 201),
        organization_id=organization_id)


@blueprint.get("/retroactive-entries")
@login_required
@api_spec.validate(query=ScopeQuery, resp=answers(200, RetroactivePage, 401, 403, 404, 422), tags=TAGS,
                   security=BEARER_SECURITY)
def list_retroactive(query: ScopeQuery):
    """An organisation's entries (its organisers, admins above), or without one those the caller may approve."""
    rows, total = retroactive.listing(current_account(), organization_id=query.organization_id, status=query.status,
                                      page=query.page, per_page=query.per_page)
    return RetroactivePage(items=[_retroactive_view(row) for row in rows], total=total, page=query.page,
                           per_page=query.per_page)


@blueprint.get(f"/retroactive-entries/{id_path('entry_id')}")
@login_required
@api_spec.validate(resp=answers(200, RetroactiveView, 401, 404), tags=TAGS, security=BEARER_SECURITY)
def get_retroactive(entry_id: int):
    """One entry with its attendees and evidence links."""
    return _retroactive_view(retroactive.get(current_account(), entry_id))


@blueprint.post(f"/retroactive-entries/{id_path('entry_id')}/decision")
@login_required
@api_spec.validate(json=RetroactiveDecisionBody,
                   resp=answers(200, RetroactiveView, 401, 403, 404, 409, json_body=True), tags=TAGS,
                   security=BEARER_SECURITY)
def decide_retroactive(entry_id: int, json: RetroactiveDecisionBody):
    """An admin of a region above approves (records written, source retroactive) or rejects; never its author."""
    return idempotent("retroactive_entries.decide", json, lambda: (_retroactive_view(retroactive.decide(
        current_account(), entry_id, approve=json.decision == "approve", reason=json.reason,
        now=current_time())), 200), entry_id=entry_id)
