"""Sign-ups: volunteers apply and cancel; organisers decide; organisers and captains see the list."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, Field

from app import pii
from app.db import unit_of_work
from app.extensions import api_spec, db
from app.services import signups
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account, login_required
from handlers._idempotency import Nonce, idempotent
from handlers._schemas import QueryArgs, StrictBody, answers, id_path
from models import Activity, Signup, SignupStatus

blueprint = Blueprint("signups", __name__, url_prefix="/api/v1")


class ApplyBody(StrictBody):
    join_waitlist: bool = Field(default=False, description="名额已满时加入候补名单")


class DecisionBody(StrictBody):
    decision: Literal["approve", "reject"]
    reason: str | None = Field(default=None, max_length=200, description="拒绝原因（拒绝时必填）")
    nonce: Nonce


class ListQuery(QueryArgs):
    status: SignupStatus | None = None
    page: int = Field(default=1, ge=1, le=100000)
    per_page: int = Field(default=20, ge=1, le=100)


class VolunteerRef(BaseModel):
    id: int
    name: str = Field(description="姓名（脱敏）")
    mobile: str = Field(description="手机号（脱敏）")
    volunteer_number: str | None = Field(default=None, description="志愿者编号")


class SignupView(BaseModel):
    id: int
    activity_id: int
    activity_title: str
    starts_at: datetime
    ends_at: datetime
    status: str = Field(description="pending 待审核 / approved 已报名 / waitlisted 候补 / rejected 未通过 / cancelled 已取消")
    waitlist_position: int | None = Field(description="候补第几位")
    reason: str | None
    volunteer: VolunteerRef | None = Field(default=None, description="组织者和队长查看时提供")


class SignupPage(BaseModel):
    items: list[SignupView]
    total: int
    page: int
    per_page: int


def _view(signup: Signup, *, with_volunteer: bool = False) -> SignupView:
    activity: Activity = signup.activity
    volunteer = None
    if with_volunteer:
        volunteer = VolunteerRef(id=signup.volunteer.id, name=pii.mask_name(signup.volunteer.real_name) or "",
                                 mobile=pii.mask_mobile(signup.volunteer.mobile) or "",
                                 volunteer_number=signup.volunteer.volunteer_number)
    return SignupView(id=signup.id, activity_id=activity.id, activity_title=activity.title,
                      starts_at=activity.starts_at, ends_at=activity.ends_at, status=signup.status.value,
                      waitlist_position=signups.waitlist_position(signup), reason=signup.reason, volunteer=volunteer)


@blueprint.post(f"/activities/{id_path('activity_id')}/signups")
@login_required
@api_spec.validate(json=ApplyBody, resp=answers((201, 200), SignupView, 401, 403, 404, 409, json_body=True),
                   tags=["signups"], security=BEARER_SECURITY)
def apply(activity_id: int, json: ApplyBody):
    """Apply (201); applying again returns the existing sign-up (200). Refusals carry a reason code."""
    with unit_of_work():
        signup, created = signups.apply(current_account(), activity_id, join_waitlist=json.join_waitlist,
                                        now=current_time())
        db.session.refresh(signup)
        view = _view(signup)
    return view, 201 if created else 200


@blueprint.delete(f"/activities/{id_path('activity_id')}/signups/me")
@login_required
@api_spec.validate(resp=answers(200, SignupView, 401, 403, 404, 409), tags=["signups"], security=BEARER_SECURITY)
def cancel(activity_id: int):
    """Cancel the caller's sign-up before the start; the first on the waitlist takes the seat."""
    with unit_of_work():
        view = _view(signups.cancel(current_account(), activity_id, now=current_time()))
    return view


@blueprint.get(f"/activities/{id_path('activity_id')}/signups")
@login_required
@api_spec.validate(query=ListQuery, resp=answers(200, SignupPage, 401, 403, 404, 422), tags=["signups"],
                   security=BEARER_SECURITY)
def list_for_activity(activity_id: int, query: ListQuery):
    """An activity's sign-ups, for its organisers and its team's captains (names and phones masked)."""
    rows, total = signups.list_for_activity(current_account(), activity_id, status=query.status, page=query.page,
                                            per_page=query.per_page)
    return SignupPage(items=[_view(s, with_volunteer=True) for s in rows], total=total, page=query.page,
                      per_page=query.per_page)


@blueprint.post(f"/signups/{id_path('signup_id')}/decision")
@login_required
@api_spec.validate(json=DecisionBody, resp=answers(200, SignupView, 401, 403, 404, 409, json_body=True),
                   tags=["signups"], security=BEARER_SECURITY)
def decide(signup_id: int, json: DecisionBody):
    """Approve (takes a seat) or reject with a reason a pending sign-up; the volunteer is told.

    A repeated `nonce` answers as the first time and changes nothing.
    """
    return idempotent("signups.decide", json, lambda: (_view(signups.decide(
        current_account(), signup_id, approve=json.decision == "approve", reason=json.reason, now=current_time()),
        with_volunteer=True), 200), signup_id=signup_id)


@blueprint.get("/me/signups")
@login_required
@api_spec.validate(query=ListQuery, resp=answers(200, SignupPage, 401, 403, 422), tags=["signups"],
                   security=BEARER_SECURITY)
def my_signups(query: ListQuery):
    """The caller's sign-ups, latest activity first."""
    rows, total = signups.my_signups(current_account(), status=query.status, page=query.page, per_page=query.per_page)
    return SignupPage(items=[_view(s) for s in rows], total=total, page=query.page, per_page=query.per_page)
