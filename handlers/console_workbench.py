"""The console's workbench (工作台) and its trend chart, for an organisation or a region."""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint
from pydantic import BaseModel, Field

from app.extensions import api_spec
from app.services import console_lists, workbench
from app.services.activities import effective_status
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account, login_required
from handlers._schemas import Id, QueryArgs, answers
from handlers.activities import NamedRef
from handlers.console_lists import ActivityLine

blueprint = Blueprint("console_workbench", __name__, url_prefix="/api/v1")


class ScopeQuery(QueryArgs):
    organization_id: Id | None = Field(default=None, description="组织（与 region_id 二选一）")
    region_id: Id | None = Field(default=None, description="地区（与 organization_id 二选一；地区管理员）")


class TrendsQuery(ScopeQuery):
    weeks: int = Field(default=12, ge=1, le=52, description="周数（含本周），1–52")


class ScopeView(BaseModel):
    kind: str = Field(description="organization 组织 / teams 队长所带的队伍 / region 地区")
    organization: NamedRef | None
    region: NamedRef
    team_ids: list[int] | None = Field(description="队长：所带队伍；其他为 null")


class AttentionCounts(BaseModel):
    pending_registrations: int | None = Field(description="待审核的志愿者注册（组织者、管理员）")
    pending_organizations: int | None = Field(description="待审核的组织申请（仅地区范围）")
    pending_signups: int = Field(description="待审核的报名")
    open_corrections: int = Field(description="待处理的时长更正申请")
    checkouts_to_review: int = Field(description="忘记签退、待复核的签到")
    pending_declarations: int = Field(description="待确认的自主申报时长")
    retroactive_to_approve: int | None = Field(description="待审批的补录（仅地区范围：下级组织提交的）")
    certificates_to_handle: int | None = Field(description="待审核的记录证明申请，及公示中有待处理异议的（仅组织范围）")
    pending_transfers: int | None = Field(description="待审批的转入申请（组织：转入本组织；地区：转入辖区社区）；队长为 null")
    star_reviews_pending: int | None = Field(description="待审核的星级评定申请（仅地区范围：在本地区及下级审核的）")
    teams_without_training: int = Field(description="本季度未开展培训的专业队伍")
    streets_without_training: int | None = Field(description="本季度未开展培训的街道（仅地区范围）")
    festival_days_without_activity: int = Field(description="未来30天内尚无活动的节庆日")


class QuarterView(BaseModel):
    year: int
    quarter: int
    label: str


class FestivalLine(BaseModel):
    key: str
    name: str
    day: date
    theme: str


class WorkbenchView(BaseModel):
    scope: ScopeView
    attention: AttentionCounts
    quarter: QuarterView
    festival_days: list[FestivalLine] = Field(description="未来30天内尚无活动的节庆日")
    today: list[ActivityLine] = Field(description="今天的活动（含正在进行的）")
    coming: list[ActivityLine] = Field(description="之后7天的活动")
    generated_at: datetime


class WeekLine(BaseModel):
    week: str = Field(description="ISO 周，如 2026-W48（上海时间）")
    starts_on: date
    signups: int
    service_minutes: int
    service_hours: float


class TrendsView(BaseModel):
    scope: ScopeView
    weeks: list[WeekLine]


def _scope_view(where: workbench.Scope) -> ScopeView:
    return ScopeView(kind=where.kind,
                     organization=NamedRef(id=where.organization.id, name=where.organization.name)
                     if where.organization else None,
                     region=NamedRef(id=where.region.id, name=where.region.name),
                     team_ids=list(where.team_ids) if where.team_ids is not None else None)


def _lines(rows, now: datetime) -> list[ActivityLine]:
    numbers = console_lists.attendance_counts([a.id for a in rows])
    return [ActivityLine(id=a.id, title=a.title, status=effective_status(a, now).value, starts_at=a.starts_at,
                         ends_at=a.ends_at, team=NamedRef(id=a.team.id, name=a.team.name) if a.team else None,
                         capacity=a.capacity, seats_taken=a.seats_taken, **numbers[a.id]) for a in rows]


@blueprint.get("/console/workbench")
@login_required
@api_spec.validate(query=ScopeQuery, resp=answers(200, WorkbenchView, 401, 403, 404, 422), tags=["console"],
                   security=BEARER_SECURITY)
def get_workbench(query: ScopeQuery):
    """What needs attention in an organisation or a region, today's and the next 7 days' activities."""
    now = current_time()
    where = workbench.scope(current_account(), organization_id=query.organization_id, region_id=query.region_id)
    found = workbench.attention(where, now=now)
    todays, coming = workbench.coming_activities(where, now=now)
    return WorkbenchView(scope=_scope_view(where), attention=AttentionCounts(**found["counts"]),
                         quarter=QuarterView(**found["quarter"]),
                         festival_days=[FestivalLine(**f) for f in found["festival_days"]],
                         today=_lines(todays, now), coming=_lines(coming, now), generated_at=now)


@blueprint.get("/console/trends")
@login_required
@api_spec.validate(query=TrendsQuery, resp=answers(200, TrendsView, 401, 403, 404, 422), tags=["console"],
                   security=BEARER_SECURITY)
def get_trends(query: TrendsQuery):
    """Sign-ups and service hours per ISO week (Shanghai) over the last `weeks` weeks, this week last."""
    now = current_time()
    where = workbench.scope(current_account(), organization_id=query.organization_id, region_id=query.region_id)
    return TrendsView(scope=_scope_view(where),
                      weeks=[WeekLine(**w) for w in workbench.trends(where, weeks=query.weeks, now=now)])
