"""Quarterly trainings: who in a region or an organisation trained in a quarter and who did not."""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from app.errors import DomainError
from app.extensions import api_spec
from app.services import trainings
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account_id, login_required
from handlers._schemas import Id, QueryArgs, answers

blueprint = Blueprint("trainings", __name__, url_prefix="/api/v1")


class ComplianceQuery(QueryArgs):
    model_config = ConfigDict(extra="forbid")
    year: int | None = Field(default=None, ge=2000, le=2100, description="公历年份，默认本季度所在年份")
    quarter: int | None = Field(default=None, ge=1, le=4, description="季度 1-4，默认本季度（与 year 同时给出或同时省略）")
    region_id: Id | None = Field(default=None, description="地区 id：该地区的专业队伍和街道（地区及上级管理员）")
    organization_id: Id | None = Field(default=None, description="组织 id：本组织的专业队伍（本组织管理员、上级地区管理员）")


class TrainingView(BaseModel):
    id: int
    title: str
    starts_at: datetime
    ends_at: datetime
    status: str
    signed_up: int = Field(description="报名人数（占用名额）")
    attended: int = Field(description="签到人数")


class TeamCompliance(BaseModel):
    id: int
    name: str
    kind: str
    kind_label: str = Field(description="专业类别，如 医疗卫生")
    organization_id: int
    organization_name: str
    trained: bool = Field(description="本季度是否已开展（或已安排）培训")
    trainings: list[TrainingView]


class StreetCompliance(BaseModel):
    id: int
    name: str
    trained: bool
    trainings: list[TrainingView]


class ComplianceSummary(BaseModel):
    teams: int
    teams_trained: int
    streets: int
    streets_trained: int


class ComplianceView(BaseModel):
    year: int
    quarter: int
    label: str = Field(description="如 2026年第4季度")
    starts_on: date
    ends_on: date
    teams: list[TeamCompliance] = Field(description="专业志愿服务队伍（综合队伍不计）")
    streets: list[StreetCompliance] = Field(description="街道（按组织查询时为空）")
    summary: ComplianceSummary


@blueprint.get("/trainings/compliance")
@login_required
@api_spec.validate(query=ComplianceQuery, resp=answers(200, ComplianceView, 401, 403, 404, 422), tags=["trainings"],
                   security=BEARER_SECURITY)
def compliance(query: ComplianceQuery):
    """Who trained in a quarter: the professional teams and streets of a region, or an organisation's teams."""
    if (query.year is None) != (query.quarter is None):
        raise DomainError("year_and_quarter_together", "年份和季度需同时提供（或都不提供，表示本季度）", 422,
                          fields={"year" if query.year is None else "quarter": "需与另一项同时提供"})
    current = trainings.Quarter.of(current_time())
    report = trainings.compliance(current_account_id(), year=query.year or current.year,
                                  quarter=query.quarter or current.number, region_id=query.region_id,
                                  organization_id=query.organization_id)
    return ComplianceView.model_validate(report)
