"""GET /api/v1/audit-log: admins read who did what in their region subtrees, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint
from pydantic import AwareDatetime, BaseModel, Field

from app import pii
from app.extensions import api_spec
from app.services import audit
from handlers._auth import BEARER_SECURITY, current_account_id, login_required
from handlers._schemas import Id, PageQuery, answers

blueprint = Blueprint("audit_log", __name__, url_prefix="/api/v1")


class AuditQuery(PageQuery):
    actor_account_id: Id | None = Field(default=None, description="操作人账号")
    action: str | None = Field(default=None, max_length=64, pattern=r"^[a-z_]+(\.[a-z_]*)*$",
                               description="操作，如 organization.approved；以“.”结尾则匹配该类全部操作，如 organization.")
    target_type: str | None = Field(default=None, max_length=32, pattern=r"^[a-z_]+$",
                                    description="对象类型，如 organization、region、volunteer")
    region_id: Id | None = Field(default=None, description="只看该地区及下级（须在管辖范围内）")
    since: AwareDatetime | None = Field(default=None, description="起（含），带时区")
    until: AwareDatetime | None = Field(default=None, description="止（不含），带时区")


class ActorRef(BaseModel):
    account_id: int
    name: str | None = Field(description="操作人姓名（脱敏）；没有志愿者档案为 null")


class RegionRef(BaseModel):
    id: int
    name: str


class AuditEntryView(BaseModel):
    id: int
    actor: ActorRef | None = Field(description="操作人；系统操作为 null")
    action: str
    target_type: str
    target_id: int | None
    region: RegionRef | None = Field(description="对象所属地区")
    detail: dict[str, Any]
    created_at: datetime


class AuditPage(BaseModel):
    items: list[AuditEntryView]
    next_cursor: str | None
    total: int


def _view(item: audit.Entry) -> AuditEntryView:
    e = item.entry
    return AuditEntryView(
        id=e.id, action=e.action, target_type=e.target_type, target_id=e.target_id, detail=e.detail or {},
        created_at=e.created_at,
        actor=ActorRef(account_id=e.actor_account_id, name=pii.mask_name(item.actor_name))
        if e.actor_account_id is not None else None,
        region=RegionRef(id=item.region.id, name=item.region.name) if item.region else None)


@blueprint.get("/audit-log")
@login_required
@api_spec.validate(query=AuditQuery, resp=answers(200, AuditPage, 401, 403, 404, 422), tags=["audit"],
                   security=BEARER_SECURITY)
def list_entries(query: AuditQuery):
    """The audit log of the caller's admin subtrees (entries without a region: city admins only), newest first."""
    filters = audit.Filters(actor_account_id=query.actor_account_id, action=query.action,
                            target_type=query.target_type, region_id=query.region_id, since=query.since,
                            until=query.until)
    rows, total = audit.entries(current_account_id(), filters, limit=query.limit, cursor=query.cursor)
    shown = rows[:query.limit]
    next_cursor = audit.cursor_after(shown[-1].entry) if len(rows) > query.limit else None
    return AuditPage(items=[_view(r) for r in shown], next_cursor=next_cursor, total=total)
