"""Statistics (综合查询与统计报表) for a region or an organisation over a span of Shanghai days."""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from app.extensions import api_spec
from app.services import statistics
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account, login_required
from handlers._schemas import answers
from handlers.console_workbench import ScopeQuery, ScopeView, _scope_view

blueprint = Blueprint("statistics", __name__, url_prefix="/api/v1")


class StatisticsQuery(ScopeQuery):
    model_config = ConfigDict(populate_by_name=True)
    first: date | None = Field(default=None, alias="from", description="起始日（含，上海时间），默认今年1月1日")
    until: date | None = Field(default=None, description="截止日（含，上海时间），默认今年12月31日；最长36个月")


class CountLine(BaseModel):
    key: str
    label: str
    count: int


class RegionLine(BaseModel):
    region_id: int | None = Field(description="下一级地区（或本级）；组织成员住在本组织地区以外时为 null（其他地区）")
    label: str
    count: int


class VolunteerBreakdown(BaseModel):
    total: int = Field(description="截止统计时点已注册的志愿者（已通过审核或暂停；不含待审核、未通过和已注销）")
    by_category: list[CountLine] = Field(description="按志愿者类别（一人可有多个类别）")
    by_gender: list[CountLine]
    by_age_band: list[CountLine] = Field(description="按统计区间最后一天（进行中的区间为今天）的年龄")
    by_region: list[RegionLine] = Field(description="按居住地的下一级地区")
    by_team_kind: list[CountLine] = Field(description="按所在队伍（在队）的类型；一人在多类队伍中各计一次")


class MonthActivities(BaseModel):
    month: str = Field(description="月份，如 2026-03（按活动开始时间，上海时间）")
    service: int
    training: int
    total: int


class ActivityBreakdown(BaseModel):
    total: int = Field(description="区间内开始、已举办的活动（不含草稿、撤回和取消的）")
    by_theme: list[CountLine] = Field(description="按关爱主题（一个活动可有多个主题）")
    by_kind: list[CountLine]
    by_month: list[MonthActivities]


class MonthHours(BaseModel):
    month: str
    minutes: int
    hours: float


class OrganizationHours(BaseModel):
    organization_id: int | None = Field(description="组织；前20名以外合并为「其他」时为 null")
    label: str
    minutes: int
    hours: float


class HourBreakdown(BaseModel):
    total_minutes: int
    total_hours: float
    by_month: list[MonthHours] = Field(description="按活动开始的月份（含之后的更正）")
    by_organization: list[OrganizationHours] = Field(description="按举办活动的组织，前20名及「其他」")


class TeamBreakdown(BaseModel):
    total: int
    by_kind: list[CountLine]


class WindowView(BaseModel):
    first_day: date = Field(description="起始日（含）")
    last_day: date = Field(description="截止日（含）")
    as_of: datetime = Field(description="统计时点：区间结束与当前时间中较早者")


class StatisticsView(BaseModel):
    scope: ScopeView
    window: WindowView
    volunteers: VolunteerBreakdown
    activities: ActivityBreakdown
    hours: HourBreakdown
    teams: TeamBreakdown
    generated_at: datetime


@blueprint.get("/statistics")
@login_required
@api_spec.validate(query=StatisticsQuery, resp=answers(200, StatisticsView, 401, 403, 404, 422), tags=["console"],
                   security=BEARER_SECURITY)
def get_statistics(query: StatisticsQuery):
    """Volunteers, activities, hours and teams of a region (its admins) or an organisation (its organisers), by breakdown.

    A region counts its registered residents and their hours wherever they served; an organisation
    its teams' members and its own activities' hours. Activities count in the Shanghai month they start.
    """
    now = current_time()
    where = statistics.scope(current_account(), organization_id=query.organization_id, region_id=query.region_id)
    win = statistics.window(query.first, query.until, now=now)
    found = statistics.report(where, win)
    return StatisticsView(scope=_scope_view(where), window=WindowView(first_day=win.first, last_day=win.last, as_of=win.cap),
                          generated_at=now, **found)
