"""Rewards (积分换服务 / 积分换物质奖励): the catalogue, redemption holds, pick-up at the station, organisers' CRUD.

Every write carries a nonce (handlers/_idempotency.py): a retried tap answers the first answer and
takes no second unit or hold. The redemption's pick-up code is shown only to its volunteer (the QR
carries `pickup_token`, the station may type the six digits instead).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, Field, model_validator

from app.db import unit_of_work
from app.extensions import api_spec, db
from app.pii import mask_name
from app.services.rewards import catalogue, redemptions
from app.services.volunteers import own_archive
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account, current_account_id, login_required
from handlers._idempotency import Nonce, idempotent
from handlers._schemas import Id, MultiLine, PageQuery, StrictBody, answers, id_path
from models import RedemptionStatus
from models.volunteers import Volunteer

blueprint = Blueprint("rewards", __name__, url_prefix="/api/v1")

STATUS_LABELS = {"held": "待领取", "fulfilled": "已领取", "voided": "已取消", "expired": "已过期"}


class RewardView(BaseModel):
    id: int
    organization_id: int = Field(description="兑换点（发布组织）")
    publisher: Literal["station", "sponsor"] = Field(description="station 服务站 / sponsor 赞助方")
    sponsor_name: str | None
    kind: Literal["service", "goods"] = Field(description="service 积分换服务 / goods 积分换物质奖励")
    title: str
    description: str | None
    points_price: int
    stock: int = Field(description="剩余可兑数量")
    limit_per_person: int
    valid_from: datetime
    valid_until: datetime
    pickup_place: str
    region_id: int
    hold_minutes: int | None = Field(description="兑换后待领取的时限（分钟）；空为系统默认")
    status: Literal["published", "withdrawn"]


class RewardList(BaseModel):
    items: list[RewardView]
    next_cursor: str | None = Field(description="下一页的 cursor；最后一页为 null")
    total: int


class RedemptionView(BaseModel):
    id: int
    reward_id: int
    reward_title: str
    organization_id: int
    pickup_place: str
    points: int
    status: Literal["held", "fulfilled", "voided", "expired"]
    status_label: str
    pickup_token: str | None = Field(description="二维码内容（仅本人可见，待领取时）")
    pickup_code: str | None = Field(description="6 位取货码（仅本人可见，待领取时）")
    hold_expires_at: datetime
    created_at: datetime
    resolved_at: datetime | None


class RedemptionList(BaseModel):
    items: list[RedemptionView]


class PickupView(BaseModel):
    redemption_id: int
    reward_id: int
    reward_title: str
    points: int
    volunteer_name: str | None = Field(default=None, description="领取人姓名（打码），供兑换点核对")
    status: Literal["fulfilled"]
    resolved_at: datetime


class RewardBody(StrictBody):
    kind: Literal["service", "goods"]
    publisher: Literal["station", "sponsor"] = "station"
    sponsor_name: str | None = Field(default=None, min_length=1, max_length=100)
    title: str = Field(min_length=2, max_length=100)
    description: MultiLine | None = Field(default=None, max_length=2000)
    points_price: int = Field(ge=1, le=1_000_000)
    stock: int = Field(ge=0, le=1_000_000)
    limit_per_person: int = Field(default=1, ge=1, le=100)
    valid_from: datetime
    valid_until: datetime
    pickup_place: str = Field(min_length=2, max_length=200)
    region_id: Id | None = Field(default=None, description="面向的地区（含下级）；不填为组织所在地区")
    hold_minutes: int | None = Field(default=None, ge=5, le=43200)
    nonce: Nonce

    @model_validator(mode="after")
    def _sponsor_named(self):
        if self.publisher == "sponsor" and not self.sponsor_name:
            raise ValueError("a sponsored reward names its sponsor (sponsor_name)")
        return self


class RewardEditBody(StrictBody):
    sponsor_name: str | None = Field(default=None, min_length=1, max_length=100)
    title: str | None = Field(default=None, min_length=2, max_length=100)
    description: MultiLine | None = Field(default=None, max_length=2000)
    points_price: int | None = Field(default=None, ge=1, le=1_000_000)
    stock: int | None = Field(default=None, ge=0, le=1_000_000, description="剩余可兑数量（绝对值）")
    limit_per_person: int | None = Field(default=None, ge=1, le=100)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    pickup_place: str | None = Field(default=None, min_length=2, max_length=200)
    hold_minutes: int | None = Field(default=None, ge=5, le=43200)
    nonce: Nonce


class NonceBody(StrictBody):
    nonce: Nonce


class PickupBody(StrictBody):
    token: str | None = Field(default=None, min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                              description="扫描二维码得到的内容")
    code: str | None = Field(default=None, pattern=r"^\d{6}$", description="或手输 6 位取货码")
    nonce: Nonce

    @model_validator(mode="after")
    def _one_of(self):
        if (self.token is None) == (self.code is None):
            raise ValueError("give exactly one of token and code")
        return self


class OperatorBody(StrictBody):
    account_id: Id
    nonce: Nonce


class OperatorView(BaseModel):
    organization_id: int
    account_id: int
    created_at: datetime


class OperatorLine(OperatorView):
    name: str | None = Field(description="核销员姓名（打码，如 张*丰）；账号没有志愿者档案为 null")
    volunteer_number: str | None
    granted_by_account_id: int | None


class OperatorList(BaseModel):
    items: list[OperatorLine]


class OperatorRemoved(BaseModel):
    organization_id: int
    account_id: int
    removed: bool = Field(description="true：本次移除；false：该账号本来就不是核销员（重复删除不再改变什么）")


class StationRedemptionQuery(PageQuery):
    status: Literal["held", "fulfilled", "voided", "expired"] | None = Field(default=None, description="只看该状态")


class StationRedemptionLine(BaseModel):
    id: int
    status: Literal["held", "fulfilled", "voided", "expired"]
    status_label: str
    points: int
    volunteer_name: str | None = Field(description="兑换人姓名（打码）")
    volunteer_number: str | None
    created_at: datetime = Field(description="兑换（冻结）时间")
    hold_expires_at: datetime
    resolved_at: datetime | None = Field(description="领取、取消或过期的时间")
    fulfilled_by_account_id: int | None = Field(description="核销人账号")
    fulfilled_by_name: str | None = Field(description="核销人姓名（打码）")


class StationRedemptionPage(BaseModel):
    items: list[StationRedemptionLine]
    next_cursor: str | None
    total: int


def _reward(row) -> RewardView:
    return RewardView(id=row.id, organization_id=row.organization_id, publisher=row.publisher.value,
                      sponsor_name=row.sponsor_name, kind=row.kind.value, title=row.title, description=row.description,
                      points_price=row.points_price, stock=row.stock, limit_per_person=row.limit_per_person,
                      valid_from=row.valid_from, valid_until=row.valid_until, pickup_place=row.pickup_place,
                      region_id=row.region_id, hold_minutes=row.hold_minutes, status=row.status.value)


def _redemption(row) -> RedemptionView:
    reward = catalogue.get(row.reward_id)
    live = row.status.value == "held"
    return RedemptionView(id=row.id, reward_id=row.reward_id, reward_title=reward.title, organization_id=row.organization_id,
                          pickup_place=reward.pickup_place, points=row.points, status=row.status.value,
                          status_label=STATUS_LABELS[row.status.value], pickup_token=row.pickup_token if live else None,
                          pickup_code=row.pickup_code if live else None, hold_expires_at=row.hold_expires_at,
                          created_at=row.created_at, resolved_at=row.resolved_at)


def _reward_page(page: tuple) -> RewardList:
    rows, next_cursor, total = page
    return RewardList(items=[_reward(row) for row in rows], next_cursor=next_cursor, total=total)


@blueprint.get("/rewards")
@login_required
@api_spec.validate(query=PageQuery, resp=answers(200, RewardList, 401, 403, 422), tags=["rewards"],
                   security=BEARER_SECURITY)
def available_rewards(query: PageQuery):
    """Rewards the caller (a volunteer) may redeem now: published for their region or one above it, within validity; ending soonest first."""
    volunteer = own_archive(current_account())
    return _reward_page(catalogue.available_to(volunteer, now=current_time(), limit=query.limit, cursor=query.cursor))


@blueprint.post(f"/rewards/{id_path('reward_id')}/redemptions")
@login_required
@api_spec.validate(json=NonceBody, resp=answers(201, RedemptionView, 401, 403, 404, 409, json_body=True),
                   tags=["rewards"], security=BEARER_SECURITY)
def redeem(reward_id: int, json: NonceBody):
    """Redeem: hold the points and one unit of stock at once; the answer carries the pick-up code."""
    def write():
        return _redemption(redemptions.redeem(current_account(), reward_id, now=current_time())), 201

    return idempotent("rewards.redeem", json, write, reward_id=reward_id)


@blueprint.get("/me/redemptions")
@login_required
@api_spec.validate(resp=answers(200, RedemptionList, 401, 403), tags=["rewards"], security=BEARER_SECURITY)
def my_redemptions():
    """The caller's redemptions, newest first; live ones with their pick-up code."""
    return RedemptionList(items=[_redemption(row) for row in redemptions.mine(current_account())])


@blueprint.post(f"/me/redemptions/{id_path('redemption_id')}/void")
@login_required
@api_spec.validate(json=NonceBody, resp=answers(200, RedemptionView, 401, 403, 404, 409, json_body=True),
                   tags=["rewards"], security=BEARER_SECURITY)
def void_redemption(redemption_id: int, json: NonceBody):
    """Cancel a redemption that is still held: the points and the unit of stock return."""
    def write():
        return _redemption(redemptions.void(current_account(), redemption_id, now=current_time())), 200

    return idempotent("rewards.void", json, write, redemption_id=redemption_id)


@blueprint.post(f"/stations/{id_path('organization_id')}/pickups")
@login_required
@api_spec.validate(json=PickupBody, resp=answers(200, PickupView, 401, 403, 404, 409, json_body=True),
                   tags=["rewards"], security=BEARER_SECURITY)
def pickup(organization_id: int, json: PickupBody):
    """The station hands a reward over (scan the QR or type the 6 digits): the held points are spent, once."""
    def write():
        row = redemptions.fulfil(current_account_id(), organization_id, now=current_time(), token=json.token,
                                 code=json.code)
        reward = catalogue.get(row.reward_id)
        volunteer = db.session.get(Volunteer, row.volunteer_id)
        return PickupView(redemption_id=row.id, reward_id=reward.id, reward_title=reward.title, points=row.points,
                          volunteer_name=mask_name(volunteer.real_name) if volunteer else None,
                          status="fulfilled", resolved_at=row.resolved_at), 200

    return idempotent("rewards.pickup", json, write, organization_id=organization_id)


@blueprint.post(f"/stations/{id_path('organization_id')}/operators")
@login_required
@api_spec.validate(json=OperatorBody, resp=answers(201, OperatorView, 401, 403, 404, json_body=True),
                   tags=["rewards"], security=BEARER_SECURITY)
def add_operator(organization_id: int, json: OperatorBody):
    """Organisers name an account a station operator (核销员): it may then scan pick-up codes here."""
    def write():
        row = redemptions.add_operator(current_account_id(), organization_id, json.account_id, now=current_time())
        return OperatorView(organization_id=row.organization_id, account_id=row.account_id, created_at=row.created_at), 201

    return idempotent("rewards.add_operator", json, write, organization_id=organization_id)


@blueprint.get(f"/stations/{id_path('organization_id')}/operators")
@login_required
@api_spec.validate(resp=answers(200, OperatorList, 401, 403, 404), tags=["rewards"], security=BEARER_SECURITY)
def list_operators(organization_id: int):
    """The station's operators (organisers), in the order they were named; names masked."""
    rows = redemptions.operators(current_account_id(), organization_id)
    return OperatorList(items=[OperatorLine(
        organization_id=row.organization_id, account_id=row.account_id, created_at=row.created_at,
        name=mask_name(volunteer.real_name) if volunteer else None,
        volunteer_number=volunteer.volunteer_number if volunteer else None,
        granted_by_account_id=row.granted_by_account_id) for row, volunteer in rows])


@blueprint.delete(f"/stations/{id_path('organization_id')}/operators/{id_path('account_id')}")
@login_required
@api_spec.validate(resp=answers(200, OperatorRemoved, 401, 403, 404), tags=["rewards"], security=BEARER_SECURITY)
def remove_operator(organization_id: int, account_id: int):
    """Organisers take the operator role away (audited); repeating it changes nothing. The last one may go: organisers still scan."""
    with unit_of_work():
        removed = redemptions.remove_operator(current_account_id(), organization_id, account_id, now=current_time())
    return OperatorRemoved(organization_id=organization_id, account_id=account_id, removed=removed)


@blueprint.get(f"/rewards/{id_path('reward_id')}/redemptions")
@login_required
@api_spec.validate(query=StationRedemptionQuery, resp=answers(200, StationRedemptionPage, 401, 403, 404, 422),
                   tags=["rewards"], security=BEARER_SECURITY)
def reward_redemptions(reward_id: int, query: StationRedemptionQuery):
    """A reward's redemptions, newest first, for its station's organisers and operators: masked names, who handed it over."""
    status = RedemptionStatus(query.status) if query.status else None
    rows, names, next_cursor, total = redemptions.of_reward(current_account_id(), reward_id, status=status,
                                                            limit=query.limit, cursor=query.cursor)
    return StationRedemptionPage(items=[StationRedemptionLine(
        id=row.id, status=row.status.value, status_label=STATUS_LABELS[row.status.value], points=row.points,
        volunteer_name=mask_name(volunteer.real_name), volunteer_number=volunteer.volunteer_number,
        created_at=row.created_at, hold_expires_at=row.hold_expires_at, resolved_at=row.resolved_at,
        fulfilled_by_account_id=row.fulfilled_by_account_id,
        fulfilled_by_name=mask_name(names.get(row.fulfilled_by_account_id))) for row, volunteer in rows],
        next_cursor=next_cursor, total=total)


@blueprint.get(f"/organizations/{id_path('organization_id')}/rewards")
@login_required
@api_spec.validate(query=PageQuery, resp=answers(200, RewardList, 401, 403, 404, 422), tags=["rewards"],
                   security=BEARER_SECURITY)
def organization_rewards(organization_id: int, query: PageQuery):
    """Every reward the organisation published (organisers), newest first."""
    return _reward_page(catalogue.of_organization(current_account_id(), organization_id, limit=query.limit,
                                                  cursor=query.cursor))


@blueprint.post(f"/organizations/{id_path('organization_id')}/rewards")
@login_required
@api_spec.validate(json=RewardBody, resp=answers(201, RewardView, 401, 403, 404, json_body=True),
                   tags=["rewards"], security=BEARER_SECURITY)
def publish_reward(organization_id: int, json: RewardBody):
    """Publish a reward (organisers of the station's or sponsor's organisation)."""
    def write():
        row = catalogue.publish(current_account_id(), organization_id, json.model_dump(exclude={"nonce"}),
                                now=current_time())
        return _reward(row), 201

    return idempotent("rewards.publish", json, write, organization_id=organization_id)


@blueprint.patch(f"/rewards/{id_path('reward_id')}")
@login_required
@api_spec.validate(json=RewardEditBody, resp=answers(200, RewardView, 401, 403, 404, json_body=True),
                   tags=["rewards"], security=BEARER_SECURITY)
def edit_reward(reward_id: int, json: RewardEditBody):
    """Change a reward; only the fields given change (stock is the absolute number still available)."""
    def write():
        changes = json.model_dump(exclude={"nonce"}, exclude_unset=True)
        return _reward(catalogue.edit(current_account_id(), reward_id, changes, now=current_time())), 200

    return idempotent("rewards.edit", json, write, reward_id=reward_id)


@blueprint.post(f"/rewards/{id_path('reward_id')}/withdraw")
@login_required
@api_spec.validate(json=NonceBody, resp=answers(200, RewardView, 401, 403, 404, json_body=True),
                   tags=["rewards"], security=BEARER_SECURITY)
def withdraw_reward(reward_id: int, json: NonceBody):
    """Take a reward off the shelf: no new redemptions; live ones stay valid until settled."""
    def write():
        return _reward(catalogue.withdraw(current_account_id(), reward_id, now=current_time())), 200

    return idempotent("rewards.withdraw", json, write, reward_id=reward_id)
