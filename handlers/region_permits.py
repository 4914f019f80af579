"""Region permits: an admin lets an organisation hold activities in a region outside its own subtree."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint
from pydantic import BaseModel, Field

from app.db import unit_of_work
from app.extensions import api_spec
from app.services import region_permits
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account_id, login_required
from handlers._schemas import Id, StrictBody, answers, id_path

blueprint = Blueprint("region_permits", __name__, url_prefix="/api/v1")

# Text that reaches a database column: no control characters (PostgreSQL refuses NUL in text).
PLAIN_TEXT = r"^[^\x00-\x1f\x7f]*$"


class PermitBody(StrictBody):
    region_id: Id = Field(description="允许开展活动的地区（含其下级地区）")
    reason: str = Field(min_length=2, max_length=200, pattern=PLAIN_TEXT, description="开通原因")


class PermitView(BaseModel):
    id: int
    organization_id: int
    region_id: int
    reason: str
    granted_by_account_id: int | None
    created_at: datetime


class PermitList(BaseModel):
    items: list[PermitView]


def _view(permit) -> PermitView:
    return PermitView.model_validate(permit, from_attributes=True)


@blueprint.post(f"/organizations/{id_path('organization_id')}/region-permits")
@login_required
@api_spec.validate(json=PermitBody, resp=answers(201, PermitView, 401, 403, 404, json_body=True),
                   tags=["organizations"], security=BEARER_SECURITY)
def grant(organization_id: int, json: PermitBody):
    """An admin of a region covering both lets the organisation hold activities in another region."""
    with unit_of_work():
        view = _view(region_permits.grant(current_account_id(), organization_id, region_id=json.region_id,
                                          reason=json.reason, now=current_time()))
    return view, 201


@blueprint.get(f"/organizations/{id_path('organization_id')}/region-permits")
@login_required
@api_spec.validate(resp=answers(200, PermitList, 401, 403, 404), tags=["organizations"], security=BEARER_SECURITY)
def list_permits(organization_id: int):
    """The regions outside its own where the organisation may hold activities."""
    return PermitList(items=[_view(p) for p in region_permits.permits_of(current_account_id(), organization_id)])


@blueprint.delete(f"/organizations/{id_path('organization_id')}/region-permits/{id_path('region_id')}")
@login_required
@api_spec.validate(resp=answers(200, PermitView, 401, 403, 404), tags=["organizations"], security=BEARER_SECURITY)
def revoke(organization_id: int, region_id: int):
    """Take the permit back (the answer is what was taken back); activities already placed there stay."""
    with unit_of_work():
        view = _view(region_permits.revoke(current_account_id(), organization_id, region_id=region_id,
                                           now=current_time()))
    return view
