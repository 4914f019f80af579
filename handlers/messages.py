"""The volunteer's own messages: the in-app inbox, and subscribe-message authorisations."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from app.db import unit_of_work
from app.errors import DomainError
from app.extensions import api_spec, settings
from app.services import notifications, subscriptions
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account_id, login_required
from handlers._schemas import Id, MAX_ID, QueryArgs, StrictBody, answers

blueprint = Blueprint("messages", __name__, url_prefix="/api/v1/me")


class InboxQuery(QueryArgs):
    model_config = ConfigDict(extra="forbid")
    before_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="翻页：只看 id 小于它的消息")
    limit: int = Field(default=20, ge=1, le=100)


class MessageView(BaseModel):
    id: int
    kind: str
    title: str
    text: str
    page: str | None = Field(description="小程序内的详情页")
    created_at: datetime
    read: bool


class InboxView(BaseModel):
    unread: int
    messages: list[MessageView]
    next_before_id: int | None = Field(description="下一页的 before_id；没有更多时为空")


class ReadBody(StrictBody):
    ids: list[Id] = Field(min_length=1, max_length=100)


class ReadView(BaseModel):
    marked: int
    unread: int


class SubscriptionReport(StrictBody):
    report_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                           description="小程序为这一次授权生成的唯一编号，重试时不变")
    results: dict[str, Literal["accept", "reject", "ban", "filter"]] = Field(
        min_length=1, max_length=20, description="wx.requestSubscribeMessage 的结果：模板 id → accept/reject/ban/filter")


class CreditsView(BaseModel):
    added: int = Field(description="本次新增的可发送次数")
    credits: dict[str, int] = Field(description="每个模板剩余可发送次数")


@blueprint.get("/messages")
@login_required
@api_spec.validate(query=InboxQuery, resp=answers(200, InboxView, 401, 422), tags=["messages"],
                   security=BEARER_SECURITY)
def inbox(query: InboxQuery):
    """The caller's messages, newest first: every message the service sent them, whatever the channel."""
    account_id = current_account_id()
    rows = notifications.inbox(account_id, before_id=query.before_id, limit=query.limit)
    return InboxView(
        unread=notifications.unread_count(account_id),
        messages=[MessageView(id=row.id, kind=row.kind, title=row.payload.get("title", ""),
                              text=row.payload.get("text", ""), page=row.payload.get("page"),
                              created_at=row.created_at, read=row.read_at is not None) for row in rows],
        next_before_id=rows[-1].id if len(rows) == query.limit else None,
    )


@blueprint.post("/messages/read")
@login_required
@api_spec.validate(json=ReadBody, resp=answers(200, ReadView, 401, json_body=True), tags=["messages"],
                   security=BEARER_SECURITY)
def mark_read(json: ReadBody):
    """Mark messages read; ids of others' messages change nothing."""
    account_id = current_account_id()
    with unit_of_work():
        marked = notifications.mark_read(account_id, json.ids, now=current_time())
    return ReadView(marked=marked, unread=notifications.unread_count(account_id))


@blueprint.post("/subscriptions")
@login_required
@api_spec.validate(json=SubscriptionReport, resp=answers(200, CreditsView, 401, json_body=True), tags=["messages"],
                   security=BEARER_SECURITY)
def report_subscriptions(json: SubscriptionReport):
    """Report the user's answers to wx.requestSubscribeMessage: each accept allows one message of that template."""
    known = set(settings()["wechat"]["templates"].values())
    unknown = sorted(set(json.results) - known)
    if unknown:
        raise DomainError("unknown_template", "包含本服务未使用的订阅消息模板", 422,
                          fields={template: "未知模板" for template in unknown})
    account_id, now = current_account_id(), current_time()
    added = 0
    with unit_of_work():
        for template_id, answer in sorted(json.results.items()):
            if answer == "accept":
                added += subscriptions.grant(account_id, template_id, source="app",
                                             dedup_key=f"app:{account_id}:{json.report_id}:{template_id}",
                                             granted_at=now, now=now)
    return CreditsView(added=added, credits=subscriptions.credits(account_id))
