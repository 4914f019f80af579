"""Activities: organisers create, edit, publish, cancel and evaluate; volunteers search and read."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint
from pydantic import AwareDatetime, BaseModel, Field

from app.db import unit_of_work
from app.extensions import api_spec, db
from app.services import activities
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account, login_required
from handlers._schemas import Id, MultiLine, QueryArgs, Skill, StrictBody, answers, id_path, paired
from models import Activity, ActivityKind, Evaluation, RiskLevel, SignupMode
from models.activities import CARE_THEMES

blueprint = Blueprint("activities", __name__, url_prefix="/api/v1")

Theme = Literal[CARE_THEMES]  # type: ignore[valid-type]


class ActivityFields(StrictBody):
    """Fields an organiser sets; on PATCH every one is optional and an explicit null is refused."""

    title: str = Field(min_length=2, max_length=60, description="活动名称")
    description: MultiLine = Field(default="", max_length=2000)
    kind: ActivityKind = Field(default=ActivityKind.SERVICE, description="service 服务 / training 培训")
    themes: list[Theme] = Field(default_factory=list, max_length=8, description="关爱主题")
    team_id: Id | None = Field(default=None, description="承办队伍（本组织）")
    address: str = Field(min_length=2, max_length=200, description="活动地点")
    beneficiary: str | None = Field(default=None, min_length=2, max_length=200, description="服务对象，如“一社区空巢老人”")
    lead_name: str | None = Field(default=None, min_length=2, max_length=50, description="活动负责人姓名")
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    checkin_radius_m: int | None = Field(default=None, ge=10, le=5000, description="签到范围（米），需提供经纬度")
    starts_at: AwareDatetime = Field(description="开始时间，带时区，如 2026-12-05T09:00:00+08:00")
    ends_at: AwareDatetime
    capacity: int = Field(ge=1, le=10000, description="招募人数")
    signup_mode: SignupMode = Field(default=SignupMode.OPEN, description="open 直接报名 / approval 需审核")
    required_skills: list[Skill] = Field(default_factory=list, max_length=10)
    min_age: int | None = Field(default=None, ge=0, le=100)
    risk_level: RiskLevel = RiskLevel.LOW
    requires_insurance: bool = False
    credit_margin_minutes: int = Field(default=30, ge=0, le=120, description="开始前、结束后计入时长的分钟数")
    points_grade: int | None = Field(default=None, ge=1, le=3,
                                     description="积分等级 1–3（一级/二级/三级，系数见所在地区的积分规则）；null 为未分级")


class CreateBody(ActivityFields):
    organization_id: Id
    region_id: Id = Field(description="活动所在社区（村）")
    publish: bool = Field(default=False, description="创建后立即发布")


class PatchBody(StrictBody):
    title: str = Field(default=None, min_length=2, max_length=60)  # type: ignore[assignment]
    description: MultiLine = Field(default=None, max_length=2000)  # type: ignore[assignment]
    kind: ActivityKind = None  # type: ignore[assignment]
    themes: list[Theme] = Field(default=None, max_length=8)  # type: ignore[assignment]
    team_id: Id | None = None
    address: str = Field(default=None, min_length=2, max_length=200)  # type: ignore[assignment]
    beneficiary: str | None = Field(default=None, min_length=2, max_length=200)
    lead_name: str | None = Field(default=None, min_length=2, max_length=50)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    checkin_radius_m: int | None = Field(default=None, ge=10, le=5000)
    starts_at: AwareDatetime = None  # type: ignore[assignment]
    ends_at: AwareDatetime = None  # type: ignore[assignment]
    capacity: int = Field(default=None, ge=1, le=10000)  # type: ignore[assignment]
    signup_mode: SignupMode = None  # type: ignore[assignment]
    required_skills: list[Skill] = Field(default=None, max_length=10)  # type: ignore[assignment]
    min_age: int | None = Field(default=None, ge=0, le=100)
    risk_level: RiskLevel = None  # type: ignore[assignment]
    requires_insurance: bool = None  # type: ignore[assignment]
    credit_margin_minutes: int = Field(default=None, ge=0, le=120)  # type: ignore[assignment]
    points_grade: int | None = Field(default=None, ge=1, le=3,
                                     description="积分等级；已有服务记录获得积分后不能再改")


class CancelBody(StrictBody):
    reason: str = Field(min_length=2, max_length=200, description="取消原因，会通知已报名的志愿者")


class EvaluationBody(StrictBody):
    evaluation: Evaluation = Field(description="excellent 优秀 / qualified 合格 / unqualified 不合格")


class SearchQuery(QueryArgs):
    region_id: Id | None = Field(default=None, description="地区（含下级）")
    theme: Theme | None = None
    kind: ActivityKind | None = None
    starts_from: AwareDatetime | None = None
    starts_until: AwareDatetime | None = None
    has_seats: bool | None = Field(default=None, description="只看还有名额的")
    organization_id: Id | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)
    radius_km: float = Field(default=5, gt=0, le=100)
    page: int = Field(default=1, ge=1, le=100000)
    per_page: int = Field(default=20, ge=1, le=100)

    _point_complete = paired("lat", "lng")


class NamedRef(BaseModel):
    id: int
    name: str


class ActivityView(BaseModel):
    id: int
    title: str
    description: str
    kind: str
    themes: list[str]
    organization: NamedRef
    team: NamedRef | None
    region: NamedRef
    address: str
    beneficiary: str | None = Field(description="服务对象")
    lead_name: str | None = Field(description="活动负责人")
    latitude: float | None
    longitude: float | None
    checkin_radius_m: int | None
    starts_at: datetime
    ends_at: datetime
    capacity: int
    seats_taken: int
    seats_left: int
    signup_mode: str
    required_skills: list[str]
    min_age: int | None
    risk_level: str
    requires_insurance: bool
    credit_margin_minutes: int
    points_grade: int | None = Field(description="积分等级 1–3；null 为未分级（系数 1.0）")
    status: str = Field(description="draft / published / ongoing / finished / evaluated / withdrawn / cancelled")
    evaluation: str | None
    cancel_reason: str | None
    distance_km: float | None = None


class ActivityPage(BaseModel):
    items: list[ActivityView]
    total: int
    page: int
    per_page: int


def activity_view(activity: Activity, now: datetime, *, distance_km: float | None = None) -> ActivityView:
    """The one JSON shape of an activity."""
    return ActivityView(
        id=activity.id, title=activity.title, description=activity.description, kind=activity.kind.value,
        themes=list(activity.themes or []),
        organization=NamedRef(id=activity.organization.id, name=activity.organization.name),
        team=NamedRef(id=activity.team.id, name=activity.team.name) if activity.team else None,
        region=NamedRef(id=activity.region.id, name=activity.region.name),
        address=activity.address, beneficiary=activity.beneficiary, lead_name=activity.lead_name,
        latitude=activity.latitude, longitude=activity.longitude,
        checkin_radius_m=activity.checkin_radius_m, starts_at=activity.starts_at, ends_at=activity.ends_at,
        capacity=activity.capacity, seats_taken=activity.seats_taken,
        seats_left=max(activity.capacity - activity.seats_taken, 0), signup_mode=activity.signup_mode.value,
        required_skills=list(activity.required_skills or []), min_age=activity.min_age,
        risk_level=activity.risk_level.value, requires_insurance=activity.requires_insurance,
        credit_margin_minutes=activity.credit_margin_minutes, points_grade=activity.points_grade,
        status=activities.effective_status(activity, now).value,
        evaluation=activity.evaluation.value if activity.evaluation else None, cancel_reason=activity.cancel_reason,
        distance_km=None if distance_km is None else round(distance_km, 2),
    )


def _fresh_view(activity: Activity, now: datetime) -> ActivityView:
    # Seat counts move by UPDATE statements: write pending changes, then read the row back.
    db.session.flush()
    db.session.refresh(activity)
    return activity_view(activity, now)


@blueprint.post("/activities")
@login_required
@api_spec.validate(json=CreateBody, resp=answers(201, ActivityView, 401, 403, 404, json_body=True),
                   tags=["activities"], security=BEARER_SECURITY)
def create_activity(json: CreateBody):
    """Create an activity (a draft unless `publish`), as an organiser of the organisation."""
    now = current_time()
    with unit_of_work():
        activity = activities.create(current_account(), json.model_dump(), now=now)
        view = _fresh_view(activity, now)
    return view, 201


@blueprint.get("/activities")
@login_required
@api_spec.validate(query=SearchQuery, resp=answers(200, ActivityPage, 401, 404, 422), tags=["activities"],
                   security=BEARER_SECURITY)
def search_activities(query: SearchQuery):
    """Published activities, soonest first, filtered by region subtree, theme, kind, dates, seats, distance."""
    near = (query.lat, query.lng, query.radius_km) if query.lat is not None else None
    filters = activities.Filters(region_id=query.region_id, theme=query.theme, kind=query.kind,
                                 starts_from=query.starts_from, starts_until=query.starts_until,
                                 has_seats=query.has_seats, near=near, organization_id=query.organization_id)
    rows, total = activities.search(filters, page=query.page, per_page=query.per_page)
    now = current_time()
    items = [activity_view(a, now, distance_km=activities.distance_km(a, query.lat, query.lng) if near else None)
             for a in rows]
    return ActivityPage(items=items, total=total, page=query.page, per_page=query.per_page)


@blueprint.get(f"/activities/{id_path('activity_id')}")
@login_required
@api_spec.validate(resp=answers(200, ActivityView, 401, 404), tags=["activities"], security=BEARER_SECURITY)
def get_activity(activity_id: int):
    """One activity (drafts only for their organisers)."""
    return activity_view(activities.visible(current_account(), activity_id), current_time())


@blueprint.patch(f"/activities/{id_path('activity_id')}")
@login_required
@api_spec.validate(json=PatchBody, resp=answers(200, ActivityView, 401, 403, 404, 409, json_body=True),
                   tags=["activities"], security=BEARER_SECURITY)
def patch_activity(activity_id: int, json: PatchBody):
    """Change an activity that has not run yet; a new time is announced to everyone signed up."""
    now = current_time()
    with unit_of_work():
        activity = activities.update(current_account(), activity_id, json.model_dump(exclude_unset=True), now=now)
        view = _fresh_view(activity, now)
    return view


@blueprint.post(f"/activities/{id_path('activity_id')}/publish")
@login_required
@api_spec.validate(resp=answers(200, ActivityView, 401, 403, 404, 409, 422), tags=["activities"],
                   security=BEARER_SECURITY)
def publish_activity(activity_id: int):
    """Publish a draft."""
    now = current_time()
    with unit_of_work():
        view = _fresh_view(activities.publish(current_account(), activity_id, now=now), now)
    return view


@blueprint.post(f"/activities/{id_path('activity_id')}/cancel")
@login_required
@api_spec.validate(json=CancelBody, resp=answers(200, ActivityView, 401, 403, 404, 409, json_body=True),
                   tags=["activities"], security=BEARER_SECURITY)
def cancel_activity(activity_id: int, json: CancelBody):
    """Withdraw (nobody signed up) or cancel (people signed up are told at once)."""
    now = current_time()
    with unit_of_work():
        view = _fresh_view(activities.cancel(current_account(), activity_id, reason=json.reason, now=now), now)
    return view


@blueprint.post(f"/activities/{id_path('activity_id')}/evaluation")
@login_required
@api_spec.validate(json=EvaluationBody, resp=answers(200, ActivityView, 401, 403, 404, 409, json_body=True),
                   tags=["activities"], security=BEARER_SECURITY)
def evaluate_activity(activity_id: int, json: EvaluationBody):
    """Rate a finished activity."""
    now = current_time()
    with unit_of_work():
        view = _fresh_view(activities.evaluate(current_account(), activity_id, json.evaluation, now=now), now)
    return view
