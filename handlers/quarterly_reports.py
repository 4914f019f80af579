"""Quarterly reports (季度报告): a district or street submits its own; the node above sees who has and who is late."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from app.extensions import api_spec
from app.services import quarterly_reports
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account_id, login_required
from handlers._idempotency import Nonce, idempotent
from handlers._schemas import Id, MultiLine, QueryArgs, StrictBody, answers

blueprint = Blueprint("quarterly_reports", __name__, url_prefix="/api/v1")


class SubmitBody(StrictBody):
    region_id: Id = Field(description="报送单位：区（县）或街道（镇），调用者须为该单位的管理员")
    quarter: str = Field(min_length=7, max_length=7, description="季度，如 2026-Q4")
    note: MultiLine = Field(default="", max_length=2000, description="工作说明（未达标指标的原因和整改措施等）")
    nonce: Nonce


class ReportFigure(BaseModel):
    key: str
    label: str
    unit: str
    value: float | None
    numerator: int | None
    denominator: int | None
    target: float
    yellow_band: float
    status: Literal["green", "yellow", "red", "none"]


class ReportView(BaseModel):
    id: int
    region_id: int
    quarter: str
    submitted_by_account_id: int | None
    submitted_at: datetime
    note: str
    score: float | None = Field(description="报送时的综合得分（0–1）")
    figures: list[ReportFigure] = Field(description="报送时的各项指标（快照）")


class OverviewQuery(QueryArgs):
    model_config = ConfigDict(extra="forbid")
    region_id: Id = Field(description="上级地区 id（市或区县）：列出其下的区县或街道")
    quarter: str = Field(min_length=7, max_length=7, description="季度，如 2026-Q4")


class RedFigure(BaseModel):
    key: str
    label: str
    value: float | None


class UnitState(BaseModel):
    region_id: int
    name: str
    level: str
    state: Literal["submitted", "not_yet", "late"] = Field(description="submitted 已报送，not_yet 未报送（未逾期），late 逾期未报送")
    report_id: int | None
    submitted_at: datetime | None
    submitted_late: bool = Field(description="是否在截止日之后才报送")
    note: str | None
    red: list[RedFigure] = Field(description="本季度未达标（红色）的指标")
    untrained: list[str] = Field(description="本季度尚未培训的专业队伍和街道（最多 5 个）")
    untrained_count: int


class OverviewSummary(BaseModel):
    submitted: int
    not_yet: int
    late: int


class Overview(BaseModel):
    region_id: int
    region_name: str
    quarter: str
    label: str
    due_on: date = Field(description="报送截止日（季度最后一个月的 25 日）")
    units: list[UnitState]
    summary: OverviewSummary


def _view(row) -> ReportView:
    return ReportView(id=row.id, region_id=row.region_id, quarter=row.quarter,
                      submitted_by_account_id=row.submitted_by_account_id, submitted_at=row.submitted_at,
                      note=row.note, score=row.figures.get("score"),
                      figures=[ReportFigure(**{k: f[k] for k in ReportFigure.model_fields}) for f in row.figures["figures"]])


@blueprint.post("/quarterly-reports")
@login_required
@api_spec.validate(json=SubmitBody, resp=answers(201, ReportView, 401, 403, 404, 409, json_body=True),
                   tags=["quarterly reports"], security=BEARER_SECURITY)
def submit(json: SubmitBody):
    """Submit the unit's quarterly report; its figures are snapshotted. Once per unit and quarter (409 after)."""
    return idempotent("quarterly_reports.submit", json, lambda: (_view(quarterly_reports.submit(
        current_account_id(), json.region_id, json.quarter, json.note, now=current_time())), 201))


@blueprint.get("/quarterly-reports")
@login_required
@api_spec.validate(query=OverviewQuery, resp=answers(200, Overview, 401, 403, 404, 422), tags=["quarterly reports"],
                   security=BEARER_SECURITY)
def overview(query: OverviewQuery):
    """The units below a node for a quarter: submitted, not yet or late, their red indicators and missing trainings."""
    return Overview.model_validate(quarterly_reports.overview(current_account_id(), query.region_id, query.quarter,
                                                              now=current_time()))
