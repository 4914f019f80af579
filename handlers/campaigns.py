"""Festival-day campaigns: open one, link activities to it, and an organisation's count for the year."""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from app.db import unit_of_work
from app.extensions import api_spec
from app.services import calendar, campaigns
from app.services.activities import effective_status
from app.timeutil import current_time, to_local
from handlers._auth import BEARER_SECURITY, current_account_id, login_required
from handlers._schemas import Id, QueryArgs, StrictBody, answers, id_path

blueprint = Blueprint("campaigns", __name__, url_prefix="/api/v1")

YEAR_FIELD = Field(ge=calendar.FIRST_YEAR, le=calendar.LAST_YEAR, description="公历年份")


class CampaignBody(StrictBody):
    festival_key: str = Field(min_length=1, max_length=40, description="节庆日代码（见 GET /api/v1/calendar）")
    year: int = YEAR_FIELD
    organization_id: Id | None = Field(default=None, description="组织发起：本组织 id")
    region_id: Id | None = Field(default=None, description="管理员发起全区域活动：地区 id")
    theme: str | None = Field(default=None, min_length=2, max_length=100, description="主题，默认取节庆日主题")
    lead: str | None = Field(default=None, min_length=2, max_length=40, description="牵头单位，默认取节庆日牵头单位")


class LinkBody(StrictBody):
    activity_id: Id


class CampaignView(BaseModel):
    id: int
    festival_key: str
    name: str
    year: int
    day: date
    organization_id: int | None
    region_id: int
    theme: str
    lead: str
    status: str = Field(description="draft 待策划 / planned 已有活动")
    automatic: bool = Field(description="由系统提前自动创建")


class LinkedActivity(BaseModel):
    id: int
    title: str
    starts_at: datetime
    status: str = Field(description="draft 草稿（仅组织者可见）/ published 已发布 / ongoing 进行中 / finished 已结束 / "
                                    "evaluated 已评价")


class ProgressItem(CampaignView):
    activity_count: int = Field(description="本组织为它开展的有效（已发布）活动数")
    activities: list[LinkedActivity] = Field(description="本组织计入它的活动（不含已撤回、已取消），开始早的在前")


class ProgressQuery(QueryArgs):
    model_config = ConfigDict(extra="forbid")
    year: int | None = Field(default=None, ge=calendar.FIRST_YEAR, le=calendar.LAST_YEAR, description="默认今年")


class ProgressView(BaseModel):
    year: int
    target: int = Field(description="每年应开展的节庆日主题活动数")
    counted: int = Field(description="已开展（有有效活动）的节庆日活动数")
    reached: bool
    items: list[ProgressItem]


def _view(campaign) -> CampaignView:
    return CampaignView.model_validate(campaign, from_attributes=True)


@blueprint.post("/campaigns")
@login_required
@api_spec.validate(json=CampaignBody, resp=answers(201, CampaignView, 401, 403, 404, 409, json_body=True),
                   tags=["campaigns"], security=BEARER_SECURITY)
def create_campaign(json: CampaignBody):
    """Open a festival campaign for an organisation (its organisers) or region-wide (admins)."""
    with unit_of_work():
        view = _view(campaigns.create(current_account_id(), now=current_time(), **json.model_dump()))
    return view, 201


@blueprint.post(f"/campaigns/{id_path('campaign_id')}/activities")
@login_required
@api_spec.validate(json=LinkBody, resp=answers(200, CampaignView, 401, 403, 404, 409, json_body=True),
                   tags=["campaigns"], security=BEARER_SECURITY)
def link_activity(campaign_id: int, json: LinkBody):
    """Say that an activity of the caller's organisation serves this campaign."""
    with unit_of_work():
        view = _view(campaigns.link_activity(current_account_id(), campaign_id, json.activity_id, now=current_time()))
    return view


@blueprint.delete(f"/campaigns/{id_path('campaign_id')}/activities/{id_path('activity_id')}")
@login_required
@api_spec.validate(resp=answers(200, CampaignView, 401, 403, 404), tags=["campaigns"], security=BEARER_SECURITY)
def unlink_activity(campaign_id: int, activity_id: int):
    """Say that an activity no longer serves this campaign; the campaign's state follows."""
    with unit_of_work():
        view = _view(campaigns.unlink_activity(current_account_id(), campaign_id, activity_id, now=current_time()))
    return view


@blueprint.get(f"/organizations/{id_path('organization_id')}/campaigns")
@login_required
@api_spec.validate(query=ProgressQuery, resp=answers(200, ProgressView, 401, 403, 404, 422), tags=["campaigns"],
                   security=BEARER_SECURITY)
def organization_campaigns(organization_id: int, query: ProgressQuery):
    """An organisation's festival campaigns of a year and its count toward the yearly target."""
    year = query.year or to_local(current_time()).year
    now = current_time()
    progress = campaigns.yearly_progress(current_account_id(), organization_id, year)
    return ProgressView(year=progress["year"], target=progress["target"], counted=progress["counted"],
                        reached=progress["reached"], items=[
                            ProgressItem(**_view(item["campaign"]).model_dump(), activity_count=item["activities"],
                                         activities=[LinkedActivity(id=a.id, title=a.title, starts_at=a.starts_at,
                                                                    status=effective_status(a, now).value)
                                                     for a in item["linked"]])
                            for item in progress["items"]])
