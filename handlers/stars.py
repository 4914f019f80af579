"""Star volunteers: the volunteer's star and applications, admins' rules per region, review, objections, revocation.

Rules: `GET` answers the region's own values (null = inherited) and the rules in force with where
each value comes from; `PUT` replaces the region's own values; `DELETE` drops them (repeating it
changes nothing). Writes take a nonce (handlers/_idempotency.py), except the DELETE.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from app import pii
from app.db import unit_of_work
from app.extensions import api_spec, db
from app.services.stars import flow, rules as star_rules
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account, current_account_id, login_required
from handlers._idempotency import Nonce, idempotent
from handlers._schemas import MultiLine, QueryArgs, StrictBody, answers, id_path
from models import RecordSource, Region, StarStatus, Volunteer

blueprint = Blueprint("stars", __name__, url_prefix="/api/v1")

Status = Literal["pending", "publicity", "awarded", "rejected", "revoked"]
Source = Literal["scan", "manual", "bulk", "declaration", "retroactive", "import"]
ApprovalLevel = Literal["city", "district", "street"]
assert set(Source.__args__) == {source.value for source in RecordSource}  # type: ignore[attr-defined]


class RulesValues(BaseModel):
    thresholds_hours: list[int] | None = Field(description="1 至 5 星所需累计服务小时数（递增）；null 为沿用上级")
    min_months: int | None = Field(description="注册满多少个月方可评定；null 为沿用上级")
    sources: list[Source] | None = Field(description="计入的时长来源：scan 扫码、manual 更正、bulk 批量录入、declaration 自主申报、"
                                                     "retroactive 补录、import 导入；null 为沿用上级")
    approval_levels: list[ApprovalLevel] | None = Field(description="1 至 5 星的审核层级；null 为沿用上级")
    publicity_days: int | None = Field(description="公示天数；null 为沿用上级")
    publicity_working_days: bool | None = Field(description="true 按工作日（法定节假日与调休）计算；null 为沿用上级")


class RulesInForce(BaseModel):
    thresholds_hours: list[int]
    min_months: int
    sources: list[str]
    approval_levels: list[str]
    publicity_days: int
    publicity_working_days: bool
    origins: dict[str, int | None] = Field(description="各项取自哪个地区的规则（地区 id）；null 为系统默认")
    origin_names: dict[str, str] = Field(description="origins 中出现的地区 id → 地区名称")


class RulesView(BaseModel):
    region_id: int
    own: RulesValues | None = Field(description="本地区自己设定的值（null 为未设定，全部沿用上级）")
    in_force: RulesInForce
    updated_at: datetime | None


class RulesBody(StrictBody):
    thresholds_hours: list[int] | None = Field(default=None, min_length=5, max_length=5,
                                               description="1 至 5 星所需小时数（递增的 5 个正整数）")
    min_months: int | None = Field(default=None, ge=0, le=240)
    sources: list[Source] | None = Field(default=None, min_length=1, max_length=6)
    approval_levels: list[ApprovalLevel] | None = Field(default=None, min_length=5, max_length=5)
    publicity_days: int | None = Field(default=None, ge=1, le=60)
    publicity_working_days: bool | None = None
    nonce: Nonce


class ApplicationView(BaseModel):
    id: int
    volunteer_id: int
    volunteer_name: str = Field(description="志愿者姓名（脱敏）")
    volunteer_number: str | None = Field(description="志愿者编号")
    level: int = Field(description="星级 1–5")
    status: Status = Field(description="pending 待审核 / publicity 公示中 / awarded 已评定 / rejected 未通过 / revoked 已撤销")
    status_label: str
    origin: Literal["job", "volunteer"] = Field(description="job 系统按规则发起 / volunteer 本人申请")
    approval_region_id: int = Field(description="审核地区：其管理员（或上级管理员）审核")
    qualifying_hours: float = Field(description="发起时计入的服务小时数")
    months_registered: int
    opened_at: datetime
    reviewed_at: datetime | None
    rejection_reason: str | None
    publicity_ends_at: datetime | None
    open_objections: int
    awarded_at: datetime | None
    revoked_at: datetime | None
    revocation_reason: str | None


class ApplicationList(BaseModel):
    items: list[ApplicationView]


class MyStars(BaseModel):
    level: int = Field(description="当前星级（已评定且未撤销的最高星级）；0 为暂无")
    open_application: ApplicationView | None
    history: list[ApplicationView] = Field(description="全部星级申请与评定记录，新的在前")


class ApplyBody(StrictBody):
    level: int = Field(ge=1, le=5, description="申请的星级")
    nonce: Nonce


class ReviewBody(StrictBody):
    decision: Literal["approve", "reject"]
    reason: str | None = Field(default=None, max_length=200, description="驳回原因（驳回时必填）")
    nonce: Nonce


class ObjectionBody(StrictBody):
    reason: MultiLine = Field(min_length=2, max_length=500, description="异议内容")
    nonce: Nonce


class ObjectionDecisionBody(StrictBody):
    decision: Literal["uphold", "dismiss"] = Field(description="uphold 异议成立（不予评定）/ dismiss 异议不成立（继续公示）")
    note: str = Field(min_length=2, max_length=200)
    nonce: Nonce


class ObjectionView(BaseModel):
    id: int
    application_id: int
    reason: str
    status: Literal["open", "upheld", "dismissed"]
    decision_note: str | None
    decided_at: datetime | None
    created_at: datetime


class ObjectionList(BaseModel):
    items: list[ObjectionView]


class RevokeBody(StrictBody):
    reason: str = Field(min_length=2, max_length=200)
    nonce: Nonce


class AdminQuery(QueryArgs):
    model_config = ConfigDict(extra="forbid")
    status: StarStatus | None = Field(default=None, description="按状态筛选；不填为全部")
    region_id: int | None = Field(default=None, ge=1, description="只看该地区（含下级）的志愿者；不填为所辖全部")


def _people(volunteer_ids) -> dict[int, tuple[str, str | None]]:
    """volunteer id → (masked name, volunteer number), for a page of applications in one query."""
    ids = sorted(set(volunteer_ids))
    if not ids:
        return {}
    rows = db.session.execute(select(Volunteer.id, Volunteer.real_name, Volunteer.volunteer_number)
                              .where(Volunteer.id.in_(ids))).all()
    return {row.id: (pii.mask_name(row.real_name) or "", row.volunteer_number) for row in rows}


def _views(rows) -> list[ApplicationView]:
    counts = flow.open_objection_counts([row.id for row in rows])
    people = _people(row.volunteer_id for row in rows)
    return [_view(row, counts.get(row.id, 0), people) for row in rows]


def _view(row, open_objections: int | None = None, people=None) -> ApplicationView:
    if open_objections is None:
        open_objections = flow.open_objection_counts([row.id]).get(row.id, 0)
    if people is None:
        people = _people([row.volunteer_id])
    name, number = people.get(row.volunteer_id, ("", None))
    return ApplicationView(
        id=row.id, volunteer_id=row.volunteer_id, volunteer_name=name, volunteer_number=number, level=row.level, status=row.status.value,
        status_label=flow.STATUS_LABELS[row.status], origin=row.origin.value,
        approval_region_id=row.approval_region_id, qualifying_hours=round(row.qualifying_minutes / 60, 2),
        months_registered=row.months_registered, opened_at=row.opened_at, reviewed_at=row.reviewed_at,
        rejection_reason=row.rejection_reason, publicity_ends_at=row.publicity_ends_at,
        open_objections=open_objections,
        awarded_at=row.awarded_at, revoked_at=row.revoked_at, revocation_reason=row.revocation_reason)


def _objection(row) -> ObjectionView:
    return ObjectionView(id=row.id, application_id=row.application_id, reason=row.reason, status=row.status.value,
                         decision_note=row.decision_note, decided_at=row.decided_at, created_at=row.created_at)


def _rules_view(region_id: int) -> RulesView:
    _, own, in_force = star_rules.read(current_account_id(), region_id)
    own_values = None if own is None else RulesValues(**{name: getattr(own, name) for name in star_rules.FIELDS})
    ids = sorted({origin for origin in in_force.origins.values() if origin is not None})
    names = dict(db.session.execute(select(Region.id, Region.name).where(Region.id.in_(ids))).all()) if ids else {}
    return RulesView(region_id=region_id, own=own_values,
                     in_force=RulesInForce(**in_force.values(), origins=in_force.origins,
                                           origin_names={str(key): value for key, value in names.items()}),
                     updated_at=own.updated_at if own else None)


# --- the volunteer ----------------------------------------------------------------------------------

@blueprint.get("/me/stars")
@login_required
@api_spec.validate(resp=answers(200, MyStars, 401, 403), tags=["stars"], security=BEARER_SECURITY)
def my_stars():
    """The caller's star (highest awarded, not revoked), the application under way, and the history."""
    _, level, rows = flow.mine(current_account())
    opened = next((row for row in rows if row.status in (StarStatus.PENDING, StarStatus.PUBLICITY)), None)
    return MyStars(level=level, open_application=_view(opened) if opened else None, history=_views(rows))


@blueprint.post("/me/star-applications")
@login_required
@api_spec.validate(json=ApplyBody, resp=answers((200, 201), ApplicationView, 401, 403, 409, json_body=True),
                   tags=["stars"], security=BEARER_SECURITY)
def apply_for_star(json: ApplyBody):
    """Apply for a star the caller qualifies for (201), or answer the one already open for that star (200)."""
    def write():
        row, made = flow.apply(current_account(), json.level, now=current_time())
        return _view(row), 201 if made else 200

    return idempotent("stars.apply", json, write)


# --- admins: rules ------------------------------------------------------------------------------------

@blueprint.get(f"/regions/{id_path('region_id')}/star-rules")
@login_required
@api_spec.validate(resp=answers(200, RulesView, 401, 403, 404), tags=["stars"], security=BEARER_SECURITY)
def get_star_rules(region_id: int):
    """The region's own star rules and those in force there, each value with the region it comes from."""
    return _rules_view(region_id)


@blueprint.put(f"/regions/{id_path('region_id')}/star-rules")
@login_required
@api_spec.validate(json=RulesBody, resp=answers(200, RulesView, 401, 403, 404, json_body=True), tags=["stars"],
                   security=BEARER_SECURITY)
def put_star_rules(region_id: int, json: RulesBody):
    """Replace the region's own star rules (admins of the region or above); an omitted value is inherited.

    Awarded stars stay whatever the new rules say; applications opened from now on use them.
    """
    def write():
        star_rules.set_rules(current_account_id(), region_id, json.model_dump(exclude={"nonce"}), now=current_time())
        return _rules_view(region_id), 200

    return idempotent("stars.rules", json, write, region_id=region_id)


@blueprint.delete(f"/regions/{id_path('region_id')}/star-rules")
@login_required
@api_spec.validate(resp=answers(200, RulesView, 401, 403, 404), tags=["stars"], security=BEARER_SECURITY)
def delete_star_rules(region_id: int):
    """Drop the region's own star rules: everything is inherited again (repeating it changes nothing)."""
    with unit_of_work():
        star_rules.clear_rules(current_account_id(), region_id, now=current_time())
        view = _rules_view(region_id)
    return view


# --- admins: applications -------------------------------------------------------------------------------

@blueprint.get("/star-applications")
@login_required
@api_spec.validate(query=AdminQuery, resp=answers(200, ApplicationList, 401, 403, 404, 422), tags=["stars"],
                   security=BEARER_SECURITY)
def list_star_applications(query: AdminQuery):
    """Applications of volunteers in the caller's regions (admins), newest first, at most 500."""
    rows = flow.for_admin(current_account_id(), status=query.status, region_id=query.region_id)
    return ApplicationList(items=_views(rows))


@blueprint.get(f"/star-applications/{id_path('application_id')}")
@login_required
@api_spec.validate(resp=answers(200, ApplicationView, 401, 404), tags=["stars"], security=BEARER_SECURITY)
def get_star_application(application_id: int):
    """One application (the volunteer, and admins over their home region)."""
    return _view(flow.get_for(current_account_id(), application_id))


@blueprint.post(f"/star-applications/{id_path('application_id')}/review")
@login_required
@api_spec.validate(json=ReviewBody, resp=answers(200, ApplicationView, 401, 403, 404, 409, json_body=True),
                   tags=["stars"], security=BEARER_SECURITY)
def review_star_application(application_id: int, json: ReviewBody):
    """Approve (publicity starts) or reject with a reason: admins of the rule's level for that star, or above."""
    def write():
        row = flow.review(current_account_id(), application_id, approve=json.decision == "approve",
                          reason=json.reason, now=current_time())
        return _view(row), 200

    return idempotent("stars.review", json, write, application_id=application_id)


@blueprint.get(f"/star-applications/{id_path('application_id')}/objections")
@login_required
@api_spec.validate(resp=answers(200, ObjectionList, 401, 404), tags=["stars"], security=BEARER_SECURITY)
def star_objections(application_id: int):
    """Objections raised during publicity, with their decisions (the volunteer, and admins over their region)."""
    row = flow.get_for(current_account_id(), application_id)
    return ObjectionList(items=[_objection(item) for item in flow.objections_of(row)])


@blueprint.post(f"/star-applications/{id_path('application_id')}/objections")
@login_required
@api_spec.validate(json=ObjectionBody, resp=answers(201, ObjectionView, 401, 404, 409, json_body=True),
                   tags=["stars"], security=BEARER_SECURITY)
def object_to_star(application_id: int, json: ObjectionBody):
    """Raise an objection during publicity (anyone logged in); the award waits until it is decided."""
    def write():
        return _objection(flow.object_to(current_account_id(), application_id, reason=json.reason,
                                         now=current_time())), 201

    return idempotent("stars.object", json, write, application_id=application_id)


@blueprint.post(f"/star-applications/{id_path('application_id')}/objections/{id_path('objection_id')}/decision")
@login_required
@api_spec.validate(json=ObjectionDecisionBody, resp=answers(200, ObjectionView, 401, 403, 404, 409, json_body=True),
                   tags=["stars"], security=BEARER_SECURITY)
def decide_star_objection(application_id: int, objection_id: int, json: ObjectionDecisionBody):
    """Uphold (the application is rejected) or dismiss (publicity goes on) an objection."""
    def write():
        row = flow.decide_objection(current_account_id(), application_id, objection_id,
                                    upheld=json.decision == "uphold", note=json.note, now=current_time())
        return _objection(row), 200

    return idempotent("stars.decide_objection", json, write, application_id=application_id,
                      objection_id=objection_id)


@blueprint.post(f"/star-applications/{id_path('application_id')}/revoke")
@login_required
@api_spec.validate(json=RevokeBody, resp=answers(200, ApplicationView, 401, 403, 404, 409, json_body=True),
                   tags=["stars"], security=BEARER_SECURITY)
def revoke_star(application_id: int, json: RevokeBody):
    """Revoke an awarded star with a reason; the volunteer is told and their star falls to the next held."""
    def write():
        return _view(flow.revoke(current_account_id(), application_id, reason=json.reason, now=current_time())), 200

    return idempotent("stars.revoke", json, write, application_id=application_id)
