"""Record transfers (转移和接续): volunteers apply, the receiving side decides, everyone gets the receipt."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from flask import Blueprint, render_template
from flask import Response as FlaskResponse
from pydantic import BaseModel, ConfigDict, Field
from spectree import Response

from app.errors import ErrorBody
from app.extensions import api_spec
from app.services import transfers
from app.texts import hours_text
from app.timeutil import current_time, format_local
from handlers._auth import BEARER_SECURITY, current_account, login_required
from handlers._idempotency import Nonce, idempotent
from handlers._schemas import Id, QueryArgs, StrictBody, answers, id_path
from models import Transfer, TransferKind, TransferStatus

blueprint = Blueprint("transfers", __name__, url_prefix="/api/v1")

STATUS_DESCRIPTION = "pending 待审核 / approved 已通过 / refused 未通过 / withdrawn 已撤回"


class ApplyBody(StrictBody):
    kind: TransferKind = Field(description="organization 转到另一组织 / community 转到另一社区")
    organization_id: Id | None = Field(default=None, description="转入组织（kind=organization 时必填）")
    team_id: Id | None = Field(default=None, description="希望加入的转入组织队伍（可不填，由转入组织审批时指定）")
    from_organization_id: Id | None = Field(
        default=None, description="转出组织；只属于一个组织时可不填，属于多个组织时必填")
    region_id: Id | None = Field(default=None, description="转入社区（kind=community 时必填）")
    reason: str | None = Field(default=None, max_length=200, description="申请说明，如搬家、工作变动")
    nonce: Nonce


class DecisionBody(StrictBody):
    decision: Literal["approve", "refuse"]
    reason: str | None = Field(default=None, max_length=200, description="拒绝原因（拒绝时必填）")
    team_id: Id | None = Field(default=None, description="转组织时该志愿者加入的队伍；不填则用申请中选的队伍，"
                                                         "组织只有一个队伍时用该队伍")
    nonce: Nonce


class WithdrawBody(StrictBody):
    nonce: Nonce


class Ref(BaseModel):
    id: int | None
    name: str


class TransferView(BaseModel):
    id: int
    kind: str = Field(description="organization 转组织 / community 转社区")
    status: str = Field(description=STATUS_DESCRIPTION)
    volunteer: Ref = Field(description="志愿者（姓名脱敏）")
    from_organization: Ref | None
    to_organization: Ref | None
    to_team: Ref | None = Field(description="申请时选的队伍")
    joined_team: Ref | None = Field(description="批准后加入的队伍")
    from_region: Ref
    to_region: Ref | None
    reason: str | None
    decision_reason: str | None
    decided_at: datetime | None
    receipt_number: str | None = Field(description="转移凭证编号（批准后才有）")
    created_at: datetime


class TransferList(BaseModel):
    items: list[TransferView]


class ListQuery(QueryArgs):
    model_config = ConfigDict(extra="forbid")
    direction: Literal["incoming", "outgoing"] | None = Field(default=None, description="incoming 转入 / outgoing 转出；不填为全部")
    status: TransferStatus | None = Field(default=None, description=STATUS_DESCRIPTION)


class ReceiptLine(BaseModel):
    organization_id: int
    organization_name: str
    minutes: int
    hours: float
    records: int = Field(description="服务记录（签到签退记录）条数")
    activities: int
    first_service_on: str | None
    last_service_on: str | None
    certified_by: str = Field(description="证明出具方：记录这些时长的组织（谁记录谁证明）")


class ReceiptParty(BaseModel):
    organization_id: int | None = None
    team_id: int | None = None
    region_id: int | None = None
    name: str


class ReceiptVolunteer(BaseModel):
    id: int
    name: str
    volunteer_number: str | None
    id_type: str | None
    id_number: str | None = Field(description="脱敏证件号码")


class Receipt(BaseModel):
    number: str
    transfer_id: int
    kind: str
    volunteer: ReceiptVolunteer
    origin: ReceiptParty = Field(description="转出方：组织或社区")
    destination: ReceiptParty = Field(description="转入方：组织（及加入的队伍）或社区")
    approved_at: str
    approved_by: str
    hours_by_recorder: list[ReceiptLine]
    total_minutes: int
    total_hours: float
    note: str
    issued_at: str
    sha256: str = Field(description="批准时固定的凭证内容（规范 JSON）的 SHA-256")


def _ref(names: dict[int, str], key: int | None) -> Ref | None:
    return Ref(id=key, name=names.get(key, "")) if key is not None else None


def _views(rows: list[Transfer]) -> list[TransferView]:
    n = transfers.names(rows)
    return [TransferView(
        id=row.id, kind=row.kind.value, status=row.status.value,
        volunteer=Ref(id=row.volunteer_id, name=n.volunteers.get(row.volunteer_id, "")),
        from_organization=_ref(n.organizations, row.from_organization_id),
        to_organization=_ref(n.organizations, row.to_organization_id),
        to_team=_ref(n.teams, row.to_team_id), joined_team=_ref(n.teams, row.joined_team_id),
        from_region=_ref(n.regions, row.from_region_id), to_region=_ref(n.regions, row.to_region_id),
        reason=row.reason, decision_reason=row.decision_reason, decided_at=row.decided_at,
        receipt_number=row.receipt["number"] if row.receipt else None, created_at=row.created_at) for row in rows]


def _view(row: Transfer) -> TransferView:
    return _views([row])[0]


@blueprint.post("/me/transfers")
@login_required
@api_spec.validate(json=ApplyBody, resp=answers(201, TransferView, 401, 403, 409, json_body=True), tags=["transfers"],
                   security=BEARER_SECURITY)
def apply(json: ApplyBody):
    """A volunteer applies to move to another organisation or community; the receiving side is told.

    One pending application per volunteer (409 `transfer_pending`); a repeated `nonce` answers as the first time.
    """
    return idempotent("transfers.apply", json, lambda: (_view(transfers.apply(
        current_account(), kind=json.kind, organization_id=json.organization_id, team_id=json.team_id,
        from_organization_id=json.from_organization_id, region_id=json.region_id, reason=json.reason,
        now=current_time())), 201))


@blueprint.get("/me/transfers")
@login_required
@api_spec.validate(resp=answers(200, TransferList, 401, 403), tags=["transfers"], security=BEARER_SECURITY)
def my_transfers():
    """The caller's own transfer applications and their decisions, newest first."""
    return TransferList(items=_views(transfers.mine(current_account())))


@blueprint.post(f"/transfers/{id_path('transfer_id')}/withdraw")
@login_required
@api_spec.validate(json=WithdrawBody, resp=answers(200, TransferView, 401, 403, 404, 409, json_body=True),
                   tags=["transfers"], security=BEARER_SECURITY)
def withdraw(transfer_id: int, json: WithdrawBody):
    """The volunteer withdraws their pending application."""
    return idempotent("transfers.withdraw", json, lambda: (_view(transfers.withdraw(
        current_account(), transfer_id, now=current_time())), 200), transfer_id=transfer_id)


@blueprint.post(f"/transfers/{id_path('transfer_id')}/decision")
@login_required
@api_spec.validate(json=DecisionBody, resp=answers(200, TransferView, 401, 403, 404, 409, json_body=True),
                   tags=["transfers"], security=BEARER_SECURITY)
def decide(transfer_id: int, json: DecisionBody):
    """The receiving side approves (memberships move, the receipt is frozen, the releasing side is told)
    or refuses with a reason; the volunteer is told either way. Decided once: 409 `already_decided`."""
    return idempotent("transfers.decide", json, lambda: (_view(transfers.decide(
        current_account(), transfer_id, approve=json.decision == "approve", reason=json.reason, team_id=json.team_id,
        now=current_time())), 200), transfer_id=transfer_id)


@blueprint.get(f"/transfers/{id_path('transfer_id')}")
@login_required
@api_spec.validate(resp=answers(200, TransferView, 401, 404), tags=["transfers"], security=BEARER_SECURITY)
def get_transfer(transfer_id: int):
    """A transfer, for its volunteer, its receiving side and its releasing side."""
    return _view(transfers.visible(current_account(), transfer_id))


def _receipt_dict(row: Transfer) -> dict[str, Any]:
    return {**row.receipt, "sha256": row.receipt_sha256}


@blueprint.get(f"/transfers/{id_path('transfer_id')}/receipt")
@login_required
@api_spec.validate(resp=answers(200, Receipt, 401, 404, 409), tags=["transfers"], security=BEARER_SECURITY)
def receipt(transfer_id: int):
    """The transfer receipt (frozen at approval): the volunteer's hours by the organisation that recorded them."""
    return Receipt.model_validate(_receipt_dict(transfers.receipt(current_account(), transfer_id)))


@blueprint.get(f"/transfers/{id_path('transfer_id')}/receipt.html")
@login_required
@api_spec.validate(resp=Response("HTTP_200", HTTP_401=ErrorBody, HTTP_404=ErrorBody, HTTP_409=ErrorBody),
                   tags=["transfers"], security=BEARER_SECURITY)
def receipt_page(transfer_id: int):
    """The transfer receipt as a printable page (A4, no JavaScript), with a seal area."""
    row = transfers.receipt(current_account(), transfer_id)
    r = row.receipt
    lines = [{**line, "hours_text": hours_text(line["minutes"])} for line in r["hours_by_recorder"]]
    decided = row.decided_at
    body = render_template("transfers/receipt.html", r={**r, "hours_by_recorder": lines},
                           kind_label=transfers.KIND_LABELS[row.kind], total_text=hours_text(r["total_minutes"]),
                           approved_at=format_local(decided), approved_on=format_local(decided, "%Y年%m月%d日"),
                           digest=row.receipt_sha256)
    return FlaskResponse(body, mimetype="text/html", headers={"Cache-Control": "no-store"})


@blueprint.get(f"/organizations/{id_path('organization_id')}/transfers")
@login_required
@api_spec.validate(query=ListQuery, resp=answers(200, TransferList, 401, 403, 404, 422), tags=["transfers"],
                   security=BEARER_SECURITY)
def organization_transfers(organization_id: int, query: ListQuery):
    """An organisation's transfers in and out, for its organisers and the admins above it; oldest first."""
    return TransferList(items=_views(transfers.of_organization(current_account(), organization_id,
                                                               direction=query.direction, status=query.status)))


@blueprint.get(f"/regions/{id_path('region_id')}/transfers")
@login_required
@api_spec.validate(query=ListQuery, resp=answers(200, TransferList, 401, 403, 404, 422), tags=["transfers"],
                   security=BEARER_SECURITY)
def region_transfers(region_id: int, query: ListQuery):
    """Community transfers into and out of the region's communities, for its admins; oldest first."""
    return TransferList(items=_views(transfers.of_region(current_account(), region_id, direction=query.direction,
                                                         status=query.status)))
