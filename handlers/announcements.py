"""Announcements: preview an audience, send, follow the progress."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, Field

from app.db import unit_of_work
from app.extensions import api_spec, get_gateway
from app.services import broadcasts
from app.services.volunteers import Category
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account_id, login_required
from handlers._schemas import Id, MultiLine, Skill, StrictBody, answers, id_path

blueprint = Blueprint("announcements", __name__, url_prefix="/api/v1")



class AudienceBody(StrictBody):
    kind: Literal["organization", "team", "activity", "region"] = Field(
        description="organization 本组织志愿者 / team 某队伍 / activity 某活动报名者 / region 某地区（含下级）")
    id: Id = Field(description="组织、队伍、活动或地区的 id")
    categories: list[Category] = Field(default_factory=list, max_length=len(Category),
                                       description="只发给这些类别的志愿者（任一）")
    skills: list[Skill] = Field(default_factory=list, max_length=20, description="只发给有这些技能的志愿者（任一）")

    def audience(self) -> broadcasts.Audience:
        return broadcasts.Audience(self.kind, self.id, tuple(c.value for c in self.categories), tuple(self.skills))


class PreviewBody(StrictBody):
    organization_id: Id
    audience: AudienceBody


class AnnouncementBody(PreviewBody):
    title: str = Field(min_length=1, max_length=broadcasts.TITLE_MAX, description="标题，最多 20 字")
    body: MultiLine = Field(min_length=1, max_length=5000, description="正文，长度上限见配置 broadcasts.max_body_chars")
    activity_id: Id | None = Field(default=None, description="附带的活动链接")


class ReachView(BaseModel):
    recipients: int = Field(description="接收人数")
    unreachable: int = Field(description="其中无法推送、只能在站内信查看的人数")


class ChannelProgress(BaseModel):
    queued: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    ambiguous: int = Field(default=0, description="请求已发出但未得到结果，可能已送达，不会重发")


class AnnouncementView(BaseModel):
    id: int
    organization_id: int
    title: str
    body: str
    activity_id: int | None
    audience: dict
    status: str = Field(description="queued 正在生成接收名单 / fanned_out 名单已生成，正在发送")
    recipients: int = Field(description="已生成的接收人数")
    unreachable: int = Field(description="其中只能在站内信查看的人数")
    created_at: datetime
    progress: dict[str, ChannelProgress] = Field(description="按渠道：待发送、已发送、失败、跳过、结果未知")


class CreatedView(AnnouncementView):
    estimate: ReachView = Field(description="发送时估算的接收人数")


def _view(announcement, model=AnnouncementView, **extra) -> AnnouncementView:
    return model(id=announcement.id, organization_id=announcement.organization_id, title=announcement.title,
                 body=announcement.body, activity_id=announcement.activity_id, audience=announcement.audience,
                 status=announcement.status.value, recipients=announcement.recipient_count,
                 unreachable=announcement.unreachable_count, created_at=announcement.created_at,
                 progress={channel: ChannelProgress(**counts)
                           for channel, counts in broadcasts.progress(announcement).items()}, **extra)


@blueprint.post("/announcements/preview")
@login_required
@api_spec.validate(json=PreviewBody, resp=answers(200, ReachView, 401, 403, 404, json_body=True),
                   tags=["announcements"], security=BEARER_SECURITY)
def preview_announcement(json: PreviewBody):
    """How many volunteers an audience holds, and how many can only read it in the in-app inbox."""
    audience = json.audience.audience()
    broadcasts.require_sender(current_account_id(), json.organization_id, audience)
    reach = broadcasts.preview(audience)
    return ReachView(recipients=reach.recipients, unreachable=reach.unreachable)


@blueprint.post("/announcements")
@login_required
@api_spec.validate(json=AnnouncementBody, resp=answers(201, CreatedView, 401, 403, 404, 503, json_body=True),
                   tags=["announcements"], security=BEARER_SECURITY)
def create_announcement(json: AnnouncementBody):
    """Send an announcement: checked (length, WeChat content security), then delivered in the background."""
    account_id = current_account_id()
    with unit_of_work():
        draft = broadcasts.prepare(account_id, json.organization_id, title=json.title, body=json.body,
                                   audience=json.audience.audience(), activity_id=json.activity_id)
    # WeChat's content check runs with no transaction open (it may take the whole WeChat timeout).
    checked = broadcasts.check_security(get_gateway(), draft)
    with unit_of_work():
        announcement, reach = broadcasts.create(account_id, checked, now=current_time())
        view = _view(announcement, CreatedView, estimate=ReachView(recipients=reach.recipients,
                                                                   unreachable=reach.unreachable))
    return view, 201


@blueprint.get(f"/announcements/{id_path('announcement_id')}")
@login_required
@api_spec.validate(resp=answers(200, AnnouncementView, 401, 403, 404), tags=["announcements"],
                   security=BEARER_SECURITY)
def get_announcement(announcement_id: int):
    """An announcement and its delivery progress by channel."""
    return _view(broadcasts.get_for(current_account_id(), announcement_id))
