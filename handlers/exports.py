"""Exports of lists as XLSX: request one, follow its progress, download it through an expiring link."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from app.db import unit_of_work
from app.errors import ValidationFailed
from app.extensions import api_spec
from app.services import exports
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account, current_account_id, login_required
from handlers._idempotency import Nonce
from handlers._schemas import Id, StrictBody, answers, id_path
from models import Export

blueprint = Blueprint("exports", __name__, url_prefix="/api/v1")


class ExportFilters(StrictBody):
    status: str | None = Field(default=None, max_length=20, description="志愿者或活动的状态")
    q: str | None = Field(default=None, max_length=60, description="姓名中的文字或手机号后四位（志愿者）")
    category: str | None = Field(default=None, max_length=40)
    skill: str | None = Field(default=None, max_length=40)
    team_id: Id | None = None
    starts_from: AwareDatetime | None = Field(default=None, description="活动开始不早于（活动、服务记录）")
    starts_until: AwareDatetime | None = Field(default=None, description="活动开始早于（活动、服务记录）")
    period: str | None = Field(default=None, max_length=10,
                               description="统计期（指标统计表）：2026-11（月）、2026-Q4（季度）或 2026（年）；默认本月")


class ExportBody(StrictBody):
    kind: Literal[tuple(exports.KINDS)] = Field(description="volunteers 志愿者 / activities 活动 / "  # type: ignore[valid-type]
                                                            "attendance 签到表 / service_records 服务记录 / "
                                                            "kpi_table 指标统计表")
    region_id: Id | None = Field(default=None, description="范围：地区（志愿者、活动、指标统计表）")
    organization_id: Id | None = Field(default=None, description="范围：组织（活动、服务记录）")
    activity_id: Id | None = Field(default=None, description="范围：活动（签到表）")
    filters: ExportFilters = Field(default_factory=ExportFilters)
    reveal_personal: bool = Field(default=False, description="导出完整手机号和身份证号（需有权限并填写原因，会记录审计）")
    reason: str | None = Field(default=None, max_length=200)
    nonce: Nonce

    @model_validator(mode="after")
    def _one_scope(self) -> "ExportBody":
        given = [name for name in ("region_id", "organization_id", "activity_id") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("region_id、organization_id、activity_id 须且只能填一个")
        return self


class ExportView(BaseModel):
    id: int
    kind: str
    status: str = Field(description="queued 排队中 / running 导出中 / done 已完成 / failed 失败")
    scope: dict[str, int] = Field(description="{region_id | organization_id | activity_id: id}")
    filters: dict
    reveal_personal: bool
    rows_done: int
    rows_total: int | None
    row_count: int | None
    error: str | None = Field(description="失败时的说明")
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime | None = Field(description="文件保留到此时")
    download_url: str | None = Field(description="已完成时的下载链接（带签名，短期有效，无需登录即可下载）")
    download_expires_at: datetime | None


class ExportList(BaseModel):
    items: list[ExportView]


def _view(export: Export, *, now: datetime, with_link: bool = True) -> ExportView:
    link = exports.download_url(export, now=now) if with_link else None
    return ExportView(
        id=export.id, kind=export.kind, status=export.status.value, scope={f"{export.scope_type}_id": export.scope_id},
        filters=export.filters, reveal_personal=export.reveal_personal, rows_done=export.rows_done,
        rows_total=export.rows_total, row_count=export.row_count,
        error="导出失败，请稍后重试" if export.status.value == "failed" else None, created_at=export.created_at,
        finished_at=export.finished_at, expires_at=export.expires_at, download_url=link[0] if link else None,
        download_expires_at=link[1] if link else None)


@blueprint.post("/exports")
@login_required
@api_spec.validate(json=ExportBody, resp=answers(202, ExportView, 401, 403, 404, json_body=True), tags=["exports"],
                   security=BEARER_SECURITY)
def request_export(json: ExportBody):
    """Export a list as XLSX in the background (same scope and filters as the console's list); poll GET /exports/{id}."""
    now = current_time()
    scope_type = next(name[:-3] for name in ("region_id", "organization_id", "activity_id")
                      if getattr(json, name) is not None)
    wanted = exports.Request(kind=json.kind, scope_type=scope_type, scope_id=getattr(json, f"{scope_type}_id"),
                             filters=json.filters.model_dump(mode="json", exclude_none=True),
                             reveal_personal=json.reveal_personal, reason=json.reason, nonce=json.nonce)
    with unit_of_work():
        export, is_new = exports.request(current_account(), wanted, now=now)
        view = _view(export, now=now)
    if is_new:
        exports.enqueue(export.id)
    return view, 202


@blueprint.get("/exports")
@login_required
@api_spec.validate(resp=answers(200, ExportList, 401), tags=["exports"], security=BEARER_SECURITY)
def list_exports():
    """The caller's exports, newest first (the latest 50)."""
    now = current_time()
    return ExportList(items=[_view(e, now=now, with_link=False) for e in exports.mine(current_account_id())])


@blueprint.get(f"/exports/{id_path('export_id')}")
@login_required
@api_spec.validate(resp=answers(200, ExportView, 401, 404), tags=["exports"], security=BEARER_SECURITY)
def get_export(export_id: int):
    """One of the caller's exports with its progress; when done, a signed download link valid a short while."""
    now = current_time()
    return _view(exports.get(current_account_id(), export_id), now=now)
