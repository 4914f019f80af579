"""The service-hour ledger: confirmations by captains, corrections by organisers, requests by volunteers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from app.db import unit_of_work
from app.extensions import api_spec
from app import pii
from app.services import service_records
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account, login_required
from handlers._idempotency import Nonce, idempotent
from handlers._schemas import Id, QueryArgs, StrictBody, answers, id_path
from models import CorrectionRequest, CorrectionStatus, ServiceRecord

blueprint = Blueprint("service_records", __name__, url_prefix="/api/v1")


class ConfirmAnswer(BaseModel):
    confirmed: int = Field(description="本次确认的记录数")
    credited_after_review: int = Field(description="待审核后才计入时长、本次计入的签到数")


class CorrectionBody(StrictBody):
    minutes_delta: int = Field(ge=-1440, le=1440, description="增加（正）或扣减（负）的分钟数")
    reason: str = Field(min_length=2, max_length=200)
    nonce: Nonce


class RecordEntry(BaseModel):
    id: int
    volunteer_id: int
    activity_id: int
    kind: str
    minutes: int
    corrects_record_id: int | None
    reason: str | None
    created_at: datetime


class RequestBody(StrictBody):
    requested_minutes: int = Field(ge=0, le=1440, description="您认为应计入的本活动总分钟数")
    reason: str = Field(min_length=2, max_length=200)
    nonce: Nonce


class DecisionBody(StrictBody):
    decision: Literal["approve", "reject"]
    reason: str | None = Field(default=None, max_length=200, description="驳回原因（驳回时必填）")
    nonce: Nonce


class CorrectionRequestView(BaseModel):
    id: int
    volunteer_id: int
    activity_id: int
    requested_minutes: int
    reason: str
    status: str = Field(description="pending 待处理 / approved 已通过 / rejected 已驳回")
    decision_reason: str | None
    correction_record_id: int | None
    created_at: datetime


class RequestQuery(QueryArgs):
    model_config = ConfigDict(extra="forbid")
    status: CorrectionStatus | None = Field(default=None, description="pending / approved / rejected；不填为全部")
    activity_id: Id | None = Field(default=None, description="只看某个活动的申请")
    page: int = Field(default=1, ge=1, le=100000)
    per_page: int = Field(default=20, ge=1, le=100)


class MyRequestQuery(QueryArgs):
    model_config = ConfigDict(extra="forbid")
    status: CorrectionStatus | None = None
    page: int = Field(default=1, ge=1, le=100000)
    per_page: int = Field(default=20, ge=1, le=100)


class RequesterRef(BaseModel):
    id: int
    name: str = Field(description="姓名（脱敏）")


class QueueItem(CorrectionRequestView):
    activity_title: str
    volunteer: RequesterRef
    current_minutes: int = Field(description="该志愿者本活动目前计入的分钟数")
    decided_at: datetime | None


class QueuePage(BaseModel):
    items: list[QueueItem]
    total: int
    page: int
    per_page: int


def _queue_page(rows: list, total: int, page: int, per_page: int) -> QueuePage:
    items = []
    for row, activity, volunteer, balance in rows:
        items.append(QueueItem(**_request_view(row).model_dump(), activity_title=activity.title,
                               volunteer=RequesterRef(id=volunteer.id, name=pii.mask_name(volunteer.real_name) or ""),
                               current_minutes=balance, decided_at=row.decided_at))
    return QueuePage(items=items, total=total, page=page, per_page=per_page)


def _entry(record: ServiceRecord) -> RecordEntry:
    return RecordEntry(id=record.id, volunteer_id=record.volunteer_id, activity_id=record.activity_id,
                       kind=record.kind.value, minutes=record.minutes, corrects_record_id=record.corrects_record_id,
                       reason=record.reason, created_at=record.created_at)


def _request_view(row: CorrectionRequest) -> CorrectionRequestView:
    return CorrectionRequestView(id=row.id, volunteer_id=row.volunteer_id, activity_id=row.activity_id,
                                 requested_minutes=row.requested_minutes, reason=row.reason, status=row.status.value,
                                 decision_reason=row.decision_reason, correction_record_id=row.correction_record_id,
                                 created_at=row.created_at)


@blueprint.post(f"/activities/{id_path('activity_id')}/records/confirm")
@login_required
@api_spec.validate(resp=answers(200, ConfirmAnswer, 401, 403, 404), tags=["service records"],
                   security=BEARER_SECURITY)
def confirm(activity_id: int):
    """Confirm an activity's service records; check-ins held for review are credited now."""
    with unit_of_work():
        counts = service_records.confirm_activity(current_account(), activity_id, now=current_time())
    return ConfirmAnswer(**counts)


@blueprint.post(f"/service-records/{id_path('record_id')}/corrections")
@login_required
@api_spec.validate(json=CorrectionBody, resp=answers(201, RecordEntry, 401, 403, 404, json_body=True),
                   tags=["service records"], security=BEARER_SECURITY)
def correct(record_id: int, json: CorrectionBody):
    """Add or take back minutes as a new ledger entry saying who and why (the record itself never changes).

    A repeated `nonce` answers as the first time and adds nothing; the balance never goes below zero.
    """
    return idempotent("service_records.correct", json, lambda: (_entry(service_records.correct(
        current_account(), record_id, minutes_delta=json.minutes_delta, reason=json.reason, now=current_time())), 201),
        record_id=record_id)


@blueprint.post(f"/activities/{id_path('activity_id')}/correction-requests")
@login_required
@api_spec.validate(json=RequestBody, resp=answers(201, CorrectionRequestView, 401, 403, 404, 409, json_body=True),
                   tags=["service records"], security=BEARER_SECURITY)
def request_correction(activity_id: int, json: RequestBody):
    """A volunteer asks for their minutes at an activity to be corrected, with a reason; organisers are told."""
    return idempotent("correction_requests.create", json, lambda: (_request_view(service_records.request_correction(
        current_account(), activity_id, requested_minutes=json.requested_minutes, reason=json.reason,
        now=current_time())), 201), activity_id=activity_id)


@blueprint.post(f"/correction-requests/{id_path('request_id')}/decision")
@login_required
@api_spec.validate(json=DecisionBody, resp=answers(200, CorrectionRequestView, 401, 403, 404, 409, json_body=True),
                   tags=["service records"], security=BEARER_SECURITY)
def decide(request_id: int, json: DecisionBody):
    """The organiser approves (the difference is appended to the ledger) or rejects with a reason; the volunteer is told."""
    return idempotent("correction_requests.decide", json, lambda: (_request_view(service_records.decide_correction(
        current_account(), request_id, approve=json.decision == "approve", reason=json.reason,
        now=current_time())), 200), request_id=request_id)


@blueprint.get(f"/organizations/{id_path('organization_id')}/correction-requests")
@login_required
@api_spec.validate(query=RequestQuery, resp=answers(200, QueuePage, 401, 403, 404, 422), tags=["service records"],
                   security=BEARER_SECURITY)
def organization_queue(organization_id: int, query: RequestQuery):
    """The organisation's correction requests for its organisers, oldest first, by status and activity."""
    rows, total = service_records.organization_requests(current_account(), organization_id, status=query.status,
                                                        activity_id=query.activity_id, page=query.page,
                                                        per_page=query.per_page)
    return _queue_page(rows, total, query.page, query.per_page)


@blueprint.get("/me/correction-requests")
@login_required
@api_spec.validate(query=MyRequestQuery, resp=answers(200, QueuePage, 401, 404, 422), tags=["service records"],
                   security=BEARER_SECURITY)
def my_requests(query: MyRequestQuery):
    """The caller's own correction requests and their decisions, newest first."""
    rows, total = service_records.my_requests(current_account(), status=query.status, page=query.page,
                                              per_page=query.per_page)
    return _queue_page(rows, total, query.page, query.per_page)
