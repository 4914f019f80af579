"""Statistics: a node's KPIs with status and trend, its children ranked, targets, an organisation's figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint
from pydantic import BaseModel, Field

from app.db import unit_of_work
from app.extensions import api_spec
from app.services import regions
from app.services.kpi import figures, scope, targets
from app.services.kpi.catalogue import Target
from app.services.kpi.organizations import organization_figures
from app.services.kpi.periods import MONTH, Period
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account_id, login_required
from handlers._idempotency import Nonce, idempotent
from handlers._schemas import Id, QueryArgs, StrictBody, answers, id_path

blueprint = Blueprint("kpis", __name__, url_prefix="/api/v1")

PERIOD_DESCRIPTION = "统计期：2026-11（月）、2026-Q4（季度）或 2026（年）；不填为本月"


class KpiQuery(QueryArgs):
    region_id: Id | None = Field(default=None, description="地区；不填为调用者管辖的最高一级地区")
    period: str | None = Field(default=None, max_length=10, description=PERIOD_DESCRIPTION)
    children: bool = Field(default=False, description="是否一并返回下级地区的指标与排名")


class CatalogueQuery(QueryArgs):
    region_id: Id | None = Field(default=None, description="地区；不填为调用者管辖的最高一级地区")


class PeriodQuery(QueryArgs):
    period: str | None = Field(default=None, max_length=10, description=PERIOD_DESCRIPTION)


class RegionRef(BaseModel):
    id: int
    name: str
    level: str = Field(description="city 市 / district 区县 / street 镇街 / community 社区（村）")


class TrendPoint(BaseModel):
    period: str
    value: float | None
    status: str


class FigureView(BaseModel):
    key: str
    label: str = Field(description="指标名称")
    unit: str = Field(description="percent 百分比 / hours 小时 / count 个数")
    value: float | None = Field(description="指标值；不适用于该级地区或分母为 0 时为 null")
    numerator: float = Field(description="分子（时长类为小时）")
    denominator: int = Field(description="分母")
    target: float = Field(description="本统计期的目标（人均时长按年内已过天数折算）")
    yellow_band: float = Field(description="黄灯区间：低于目标不超过此值为黄灯")
    status: str = Field(description="green 达标 / yellow 接近 / red 未达标 / none 不适用")
    details: dict[str, Any] = Field(description="明细，如各关爱主题的活动数、专业队伍类别、节日名单")
    computed_at: datetime | None = Field(description="数据截至（汇总时间）")
    trend: list[TrendPoint] | None = Field(default=None, description="最近 12 个同类统计期，旧的在前")


class ChildRow(BaseModel):
    region: RegionRef
    rank: int
    score: float | None = Field(description="综合得分：适用指标的 min(值÷目标, 1) 的平均")
    bottom_three: bool = Field(description="排名后三位（下级多于三个时标出）")
    figures: list[FigureView]


class KpiView(BaseModel):
    region: RegionRef
    period: str
    figures: list[FigureView]
    children: list[ChildRow] | None = Field(description="children=true 时为下级地区，按得分排名")


class CatalogueItem(BaseModel):
    key: str
    label: str
    unit: str
    levels: list[str] = Field(description="适用的地区层级")
    definition: str
    default_target: float
    default_yellow_band: float
    target: float = Field(description="该地区生效的目标（人均时长为全年目标）")
    yellow_band: float = Field(description="该地区生效的黄灯区间（人均时长为目标的百分比）")
    source: RegionRef | None = Field(description="目标来自哪个地区的设置；null 为系统默认")


class CatalogueView(BaseModel):
    region: RegionRef
    items: list[CatalogueItem]


class TargetBody(StrictBody):
    target: float = Field(ge=0, le=100_000, description="目标值（百分比类填百分数，如 13；人均时长填全年小时数）")
    yellow_band: float = Field(ge=0, le=100_000, description="黄灯区间（百分比类为百分点；人均时长为目标的百分比）")
    nonce: Nonce


class TargetView(BaseModel):
    region_id: int
    key: str
    target: float
    yellow_band: float
    source: RegionRef | None = Field(description="生效目标来自哪个地区；null 为系统默认")


class OrganizationKpiView(BaseModel):
    organization_id: int
    period: str
    volunteers_served: int = Field(description="在本组织活动中有服务时长的志愿者（去重）")
    hours: float
    minutes: int
    activities_held: int
    trainings_held: int
    care_themes: dict[str, int] = Field(description="各关爱主题的活动数")
    festival_campaigns: list[str] = Field(description="开展过活动的节日")
    professional_team_kinds: list[str] = Field(description="开展过活动的专业队伍类别")


def _period(text: str | None) -> Period:
    return Period.parse(text) if text else Period.current(MONTH, current_time())


def _ref(region) -> RegionRef:
    return RegionRef(id=region.id, name=region.name, level=region.level.value)


@blueprint.get("/kpis")
@login_required
@api_spec.validate(query=KpiQuery, resp=answers(200, KpiView, 401, 403, 404, 422), tags=["kpis"],
                   security=BEARER_SECURITY)
def get_kpis(query: KpiQuery):
    """A region's indicators for a period, with status and trend; `children=true` ranks its children."""
    now = current_time()
    period = _period(query.period)
    with unit_of_work():  # a period never computed before is computed and stored on this read
        region = scope.region(current_account_id(), query.region_id)
        view = KpiView(region=_ref(region), period=period.key,
                       figures=[FigureView(**f) for f in figures.figures_for(region, period, now=now)],
                       children=[ChildRow(**row) for row in figures.children_ranked(region, period, now=now)]
                       if query.children else None)
    return view


@blueprint.get("/kpi-catalogue")
@login_required
@api_spec.validate(query=CatalogueQuery, resp=answers(200, CatalogueView, 401, 403, 404, 422), tags=["kpis"],
                   security=BEARER_SECURITY)
def get_catalogue(query: CatalogueQuery):
    """The indicators, their definitions and the targets in force at a region, with where each comes from."""
    region = scope.region(current_account_id(), query.region_id)
    return CatalogueView(region=_ref(region), items=[
        CatalogueItem(key=item.key, label=item.label, unit=item.unit, levels=[level.value for level in item.levels],
                      definition=item.definition, default_target=item.target, default_yellow_band=item.yellow_band,
                      target=target.target, yellow_band=target.yellow_band, source=_source(target))
        for item, target in targets.catalogue(region)])


def _source(target: Target) -> RegionRef | None:
    if target.source_region_id is None:
        return None
    return _ref(regions.get_region(target.source_region_id))


def _target_view(region_id: int, target: Target) -> TargetView:
    return TargetView(region_id=region_id, key=target.key, target=target.target, yellow_band=target.yellow_band,
                      source=_source(target))


@blueprint.put(f"/regions/{id_path('region_id')}/kpi-targets/<string(maxlength=40):key>")
@login_required
@api_spec.validate(json=TargetBody, resp=answers(200, TargetView, 401, 403, 404, json_body=True), tags=["kpis"],
                   security=BEARER_SECURITY)
def put_target(region_id: int, key: str, json: TargetBody):
    """Set the region's own target and yellow band for an indicator; regions below inherit them."""
    return idempotent("kpi_targets.set", json, lambda: (_target_view(region_id, targets.set_target(
        current_account_id(), region_id, key, target=json.target, yellow_band=json.yellow_band,
        now=current_time())), 200), region_id=region_id, key=key)


@blueprint.delete(f"/regions/{id_path('region_id')}/kpi-targets/<string(maxlength=40):key>")
@login_required
@api_spec.validate(resp=answers(200, TargetView, 401, 403, 404), tags=["kpis"], security=BEARER_SECURITY)
def delete_target(region_id: int, key: str):
    """Remove the region's own target: the inherited one applies again (repeating it changes nothing)."""
    with unit_of_work():
        view = _target_view(region_id, targets.clear_target(current_account_id(), region_id, key, now=current_time()))
    return view


@blueprint.get(f"/organizations/{id_path('organization_id')}/kpis")
@login_required
@api_spec.validate(query=PeriodQuery, resp=answers(200, OrganizationKpiView, 401, 403, 404, 422), tags=["kpis"],
                   security=BEARER_SECURITY)
def get_organization_kpis(organization_id: int, query: PeriodQuery):
    """An organisation's own figures for a period: for its organisers and the admins above it."""
    period = _period(query.period)
    organization = scope.organization(current_account_id(), organization_id)
    return OrganizationKpiView(**organization_figures(organization, period, now=current_time()))
