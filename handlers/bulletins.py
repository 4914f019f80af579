"""Monthly bulletins (月月通报): the list of a node's, one, its XLSX and PDF downloads, and "freeze a month now".

The PDF is rendered in the background after the freeze: `GET …/pdf` answers 409 `pdf_not_ready`
until it is there, then 303 See Other to a signed link that expires (`[bulletins] pdf_link_seconds`),
with the same link in the JSON body for clients that do not follow redirects (the console opens it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from flask import Blueprint
from flask import Response as FlaskResponse
from pydantic import BaseModel, ConfigDict, Field
from spectree import Response

from app.errors import ErrorBody
from app.extensions import api_spec
from app.services.bulletins import downloads, reads
from app.services.bulletins import tasks as bulletin_tasks
from app.services.spreadsheets import XLSX_MIMETYPE
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account_id, login_required
from handlers._idempotency import Nonce, idempotent
from handlers._schemas import Id, QueryArgs, StrictBody, answers, id_path

blueprint = Blueprint("bulletins", __name__, url_prefix="/api/v1")


class BulletinListQuery(QueryArgs):
    model_config = ConfigDict(extra="forbid")
    region_id: Id = Field(description="地区 id（市、区县或街道）：该地区的月月通报")


class BulletinView(BaseModel):
    id: int
    region_id: int
    region_name: str
    month: str = Field(description="通报月份，如 2026-10")
    status: Literal["generating", "frozen", "failed"] = Field(description="generating 生成中，frozen 已冻结，failed 生成失败（将重试）")
    title: str | None = None
    summary: str | None = Field(default=None, description="摘要段落（冻结后才有）")
    frozen_at: datetime | None = None
    content_sha256: str | None = Field(default=None, description="冻结内容（规范 JSON）的 SHA-256")
    pdf_status: Literal["pending", "ready", "failed"]
    created_at: datetime
    content: dict[str, Any] | None = Field(
        default=None, description="冻结的全部内容（仅详情接口）：total（本级各指标及环比、同比）、children（每个下级单位一张表）、"
                                  "ranking、flags（red 红旗 / yellow 黄旗）、improvers、notes、corrections（上期数据更正）")


class BulletinList(BaseModel):
    items: list[BulletinView]


class FreezeBody(StrictBody):
    region_id: Id
    month: str = Field(min_length=7, max_length=7, description="已结束的月份，如 2026-10")
    nonce: Nonce


class PdfLink(BaseModel):
    url: str = Field(description="签名下载链接（相对路径），过期后 410 link_expired")
    expires_in: int = Field(description="链接有效秒数")


@blueprint.get("/bulletins")
@login_required
@api_spec.validate(query=BulletinListQuery, resp=answers(200, BulletinList, 401, 403, 404, 422), tags=["bulletins"],
                   security=BEARER_SECURITY)
def list_bulletins(query: BulletinListQuery):
    """A node's bulletins, newest month first (its admins and those above; organisers of organisations in it)."""
    rows = reads.list_for(current_account_id(), query.region_id)
    return BulletinList(items=[BulletinView(**reads.view(row, with_content=False)) for row in rows])


@blueprint.get(f"/bulletins/{id_path('bulletin_id')}")
@login_required
@api_spec.validate(resp=answers(200, BulletinView, 401, 403, 404), tags=["bulletins"], security=BEARER_SECURITY)
def get_bulletin(bulletin_id: int):
    """One bulletin with its frozen content."""
    return BulletinView(**reads.view(reads.get_for(current_account_id(), bulletin_id), with_content=True))


@blueprint.get(f"/bulletins/{id_path('bulletin_id')}/xlsx")
@login_required
@api_spec.validate(resp=Response("HTTP_200", HTTP_401=ErrorBody, HTTP_403=ErrorBody, HTTP_404=ErrorBody,
                                 HTTP_409=ErrorBody), tags=["bulletins"], security=BEARER_SECURITY)
def bulletin_xlsx(bulletin_id: int):
    """The frozen bulletin as an XLSX workbook (总览, 排名, 指标明细, 数据更正, 说明; coloured cells)."""
    body, name = downloads.xlsx_file(current_account_id(), bulletin_id)
    return FlaskResponse(body, mimetype=XLSX_MIMETYPE, headers={
        "Content-Disposition": f"attachment; filename=bulletin-{bulletin_id}.xlsx; filename*=UTF-8''{quote(name)}",
        "Cache-Control": "no-store"})


@blueprint.get(f"/bulletins/{id_path('bulletin_id')}/pdf")
@login_required
@api_spec.validate(resp=answers(303, PdfLink, 401, 403, 404, 409), tags=["bulletins"], security=BEARER_SECURITY)
def bulletin_pdf(bulletin_id: int):
    """303 to a signed, expiring link to the PDF (A4, fonts embedded); 409 `pdf_not_ready` while it is rendered."""
    url, ttl = downloads.pdf_link(current_account_id(), bulletin_id)
    return PdfLink(url=url, expires_in=ttl), 303, {"Location": url, "Cache-Control": "no-store"}


@blueprint.post("/bulletins")
@login_required
@api_spec.validate(json=FreezeBody, resp=answers(202, BulletinView, 401, 403, 404, json_body=True),
                   tags=["bulletins"], security=BEARER_SECURITY)
def freeze_bulletin(json: FreezeBody):
    """Freeze a past month's bulletin of a node now (admins over it), for a month the job missed.

    Idempotent by (node, month): an existing bulletin is answered as it is. The freeze runs in the
    background; poll `GET /bulletins/{id}` until `status` is `frozen`.
    """
    queued: list[int] = []

    def write():
        row, enqueue = reads.request_freeze(current_account_id(), json.region_id, json.month, now=current_time())
        if enqueue:
            queued.append(row.id)
        return BulletinView(**reads.view(row, with_content=False)), 202

    answer = idempotent("bulletins.freeze", json, write)
    for bulletin_id in queued:  # after the commit: the task must find the row
        bulletin_tasks.freeze_bulletin(bulletin_id)
    return answer
