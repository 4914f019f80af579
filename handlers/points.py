"""Points (积分): the volunteer's balance, history, gifts and ranking consent; rules per region; an
organisation's pool (funding by an admin, bonuses by organisers, its lines); rankings.

Points are earned from service records by the `points_earn_catch_up` job (app/services/points/earning.py),
not by any endpoint. Writes take a nonce (handlers/_idempotency.py), which also goes into the ledger's
idempotency key, so a retried tap moves points once.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.db import unit_of_work
from app.errors import DomainError
from app.extensions import api_spec, db
from app.services.points import giving, rankings, rules as points_rules, views
from app.services.volunteers import own_archive, own_volunteer
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account, current_account_id, login_required
from handlers._idempotency import Nonce, idempotent
from handlers._schemas import Id, PageQuery, QueryArgs, StrictBody, answers, id_path
from models import RecordSource, Region

blueprint = Blueprint("points", __name__, url_prefix="/api/v1")


class PointsLine(BaseModel):
    id: int = Field(description="明细编号（翻页按它倒序）")
    transfer_id: int
    amount: int = Field(description="本笔变动：正数为收入，负数为支出")
    balance_after: int = Field(description="本笔之后的余额")
    code: str = Field(description="earn 服务积分 / bonus 组织奖励 / gift 转赠 / correct 更正 / expire 过期 / "
                                  "hold 兑换冻结 / post 兑换完成 / void 兑换取消 / hold_expire 兑换过期退回")
    code_label: str
    counterparty: str | None = Field(description="对方账户，如“XX社区 积分发行”“志愿者 张*三”")
    origin: str | None = Field(description="来由，如“服务记录 #42（活动名）”“兑换单 #7（奖品名）”")
    memo: str | None = Field(description="附言，如组织奖励的理由")
    reference: str | None = Field(description="起因，如 service_record:42、reward:7")
    event_at: datetime


class PointsView(BaseModel):
    balance: int = Field(description="可用积分（兑换冻结中的积分已扣除）")
    items: list[PointsLine]
    next_cursor: str | None


@blueprint.get("/me/points")
@login_required
@api_spec.validate(query=PageQuery, resp=answers(200, PointsView, 401, 404, 422), tags=["points"],
                   security=BEARER_SECURITY)
def my_points(query: PageQuery):
    """The caller's points: the available balance and the ledger's lines, newest first, each with the balance after it."""
    return PointsView(**views.mine(current_account(), limit=query.limit, cursor=query.cursor))


# --- rules per region ------------------------------------------------------------------------------

Source = Literal["scan", "manual", "bulk", "declaration", "retroactive", "import"]
assert set(Source.__args__) == {source.value for source in RecordSource}  # type: ignore[attr-defined]


class PointsRulesValues(BaseModel):
    points_per_hour: int | None = Field(description="每服务 1 小时的积分；null 为沿用上级")
    grade_coefficients: list[float] | None = Field(description="一、二、三级活动的积分系数（未分级活动为 1.0）")
    sources: list[str] | None = Field(description="产生积分的时长来源")
    yearly_cap: int | None = Field(description="每名志愿者每年服务积分上限，0 为不限")
    expiry_months: int | None = Field(description="积分获得后多少个月过期，0 为不过期")
    gift_max_per_gift: int | None = Field(description="每次转赠上限，0 为不限")
    gift_max_per_year: int | None = Field(description="每年转赠上限，0 为不限")
    bonus_cap_per_activity: int | None = Field(description="组织奖励：每名志愿者每个活动上限，0 为不限")
    earning_starts_on: date | None = Field(description="积分起算日：活动开始早于此日的服务记录不产生积分；null 为沿用上级")


class PointsRulesInForce(BaseModel):
    points_per_hour: int
    grade_coefficients: list[float]
    sources: list[str]
    yearly_cap: int
    expiry_months: int
    gift_max_per_gift: int
    gift_max_per_year: int
    bonus_cap_per_activity: int
    earning_starts_on: date | None = Field(description="积分起算日；null 为不限")
    origins: dict[str, int | None] = Field(description="各项取自哪个地区的规则（地区 id）；null 为系统默认")
    origin_names: dict[str, str] = Field(description="origins 中出现的地区 id → 地区名称")


class PointsRulesView(BaseModel):
    region_id: int
    own: PointsRulesValues | None
    in_force: PointsRulesInForce
    updated_at: datetime | None


class PointsRulesBody(StrictBody):
    points_per_hour: int | None = Field(default=None, ge=0, le=1000)
    grade_coefficients: list[float] | None = Field(default=None, min_length=3, max_length=3)
    sources: list[Source] | None = Field(default=None, max_length=6)
    yearly_cap: int | None = Field(default=None, ge=0, le=10_000_000)
    expiry_months: int | None = Field(default=None, ge=0, le=240)
    gift_max_per_gift: int | None = Field(default=None, ge=0, le=10_000_000)
    gift_max_per_year: int | None = Field(default=None, ge=0, le=10_000_000)
    bonus_cap_per_activity: int | None = Field(default=None, ge=0, le=10_000_000)
    earning_starts_on: date | None = Field(default=None, description="积分起算日，如 2027-01-01；null 为沿用上级")
    nonce: Nonce


def _rules_view(region_id: int) -> PointsRulesView:
    _, own, in_force = points_rules.read(current_account_id(), region_id)
    own_values = None if own is None else PointsRulesValues(**{n: getattr(own, n) for n in points_rules.FIELDS})
    # Names of the regions values come from, so the console can say 「继承自 重庆市」 (as for star rules).
    ids = sorted({origin for origin in in_force.origins.values() if origin is not None})
    names = dict(db.session.execute(select(Region.id, Region.name).where(Region.id.in_(ids))).all()) if ids else {}
    return PointsRulesView(region_id=region_id, own=own_values,
                           in_force=PointsRulesInForce(**in_force.values(), origins=in_force.origins,
                                                       origin_names={str(k): v for k, v in names.items()}),
                           updated_at=own.updated_at if own else None)


@blueprint.get(f"/regions/{id_path('region_id')}/points-rules")
@login_required
@api_spec.validate(resp=answers(200, PointsRulesView, 401, 403, 404), tags=["points"], security=BEARER_SECURITY)
def get_points_rules(region_id: int):
    """The region's own points rules and those in force there, each value with the region it comes from."""
    return _rules_view(region_id)


@blueprint.put(f"/regions/{id_path('region_id')}/points-rules")
@login_required
@api_spec.validate(json=PointsRulesBody, resp=answers(200, PointsRulesView, 401, 403, 404, json_body=True),
                   tags=["points"], security=BEARER_SECURITY)
def put_points_rules(region_id: int, json: PointsRulesBody):
    """Replace the region's own points rules (admins of the region or above); an omitted value is inherited.

    Points already earned stay; records handled from now on use the new values.
    """
    def write():
        points_rules.set_rules(current_account_id(), region_id, json.model_dump(exclude={"nonce"}), now=current_time())
        return _rules_view(region_id), 200

    return idempotent("points.rules", json, write, region_id=region_id)


@blueprint.delete(f"/regions/{id_path('region_id')}/points-rules")
@login_required
@api_spec.validate(resp=answers(200, PointsRulesView, 401, 403, 404), tags=["points"], security=BEARER_SECURITY)
def delete_points_rules(region_id: int):
    """Drop the region's own points rules: everything is inherited again (repeating it changes nothing)."""
    with unit_of_work():
        points_rules.clear_rules(current_account_id(), region_id, now=current_time())
        view = _rules_view(region_id)
    return view


class GradeLine(BaseModel):
    grade: int
    label: str = Field(description="一级 / 二级 / 三级")
    coefficient: float


class GradesView(BaseModel):
    region_id: int
    points_per_hour: int
    grades: list[GradeLine]


@blueprint.get(f"/regions/{id_path('region_id')}/points-grades")
@login_required
@api_spec.validate(resp=answers(200, GradesView, 401, 404), tags=["points"], security=BEARER_SECURITY)
def get_points_grades(region_id: int):
    """The activity grades in force in the region with their coefficients, for the activity form (any signed-in user)."""
    return GradesView(**points_rules.grades(region_id))


# --- transfers between people ------------------------------------------------------------------------

class TransferView(BaseModel):
    id: int
    code: str
    amount: int
    reference: str | None
    event_at: datetime


def _transfer(row) -> TransferView:
    return TransferView(id=row.id, code=str(row.code), amount=row.amount, reference=row.reference, event_at=row.event_at)


class GiftBody(StrictBody):
    to_volunteer_number: str = Field(min_length=1, max_length=24, description="受赠志愿者的志愿者编号")
    amount: int = Field(ge=1, le=10_000_000)
    nonce: Nonce


@blueprint.post("/me/points/gifts")
@login_required
@api_spec.validate(json=GiftBody, resp=answers(201, TransferView, 401, 403, 404, 409, json_body=True),
                   tags=["points"], security=BEARER_SECURITY)
def gift_points(json: GiftBody):
    """Give points to another volunteer (二次公益), within the limits of the giver's region."""
    def write():
        giver = own_archive(current_account(), lock=True, approved_for="转赠积分")
        row = giving.gift(giver, json.to_volunteer_number, json.amount, json.nonce, now=current_time())
        return _transfer(row), 201

    return idempotent("points.gift", json, write)


class FundBody(StrictBody):
    amount: int = Field(ge=1, le=100_000_000)
    nonce: Nonce


class BonusBody(StrictBody):
    volunteer_id: Id
    activity_id: Id
    amount: int = Field(ge=1, le=10_000_000)
    reason: str = Field(max_length=1000, description="奖励理由，去掉首尾空白后 1–100 字，如“暴雨夜坚守岗位”")
    nonce: Nonce


@blueprint.post(f"/organizations/{id_path('organization_id')}/points/funding")
@login_required
@api_spec.validate(json=FundBody, resp=answers(201, TransferView, 401, 403, 404, json_body=True), tags=["points"],
                   security=BEARER_SECURITY)
def fund_pool(organization_id: int, json: FundBody):
    """Fund the organisation's bonus pool from its region's issuance (admins of the region or above)."""
    def write():
        row = giving.fund_pool(current_account_id(), organization_id, json.amount, json.nonce, now=current_time())
        return _transfer(row), 201

    return idempotent("points.fund", json, write, organization_id=organization_id)


@blueprint.post(f"/organizations/{id_path('organization_id')}/points/bonuses")
@login_required
@api_spec.validate(json=BonusBody, resp=answers(201, TransferView, 401, 403, 404, 409, json_body=True),
                   tags=["points"], security=BEARER_SECURITY)
def give_bonus(organization_id: int, json: BonusBody):
    """Give a volunteer who served at one of the organisation's activities points from its pool (organisers), capped,
    with a reason shown on the volunteer's and the pool's lines."""
    def write():
        row = giving.bonus(current_account_id(), organization_id, json.volunteer_id, json.activity_id, json.amount,
                           json.nonce, reason=json.reason, now=current_time())
        return _transfer(row), 201

    return idempotent("points.bonus", json, write, organization_id=organization_id)


class PoolQuery(QueryArgs):
    limit: int = Field(default=20, ge=1, le=100)
    before: Id | None = Field(default=None, description="上一页答复中的 next_before；首页不传")


class PoolView(BaseModel):
    balance: int
    items: list[PointsLine]
    next_before: int | None


@blueprint.get(f"/organizations/{id_path('organization_id')}/points")
@login_required
@api_spec.validate(query=PoolQuery, resp=answers(200, PoolView, 401, 403, 404, 422), tags=["points"],
                   security=BEARER_SECURITY)
def pool(organization_id: int, query: PoolQuery):
    """The organisation's bonus pool: balance and lines, newest first (its organisers, admins over it)."""
    return PoolView(**giving.pool_view(current_account_id(), organization_id, limit=query.limit, before=query.before))


@blueprint.get(f"/organizations/{id_path('organization_id')}/points/sponsor-account")
@login_required
@api_spec.validate(query=PoolQuery, resp=answers(200, PoolView, 401, 403, 404, 422), tags=["points"],
                   security=BEARER_SECURITY)
def sponsor_account(organization_id: int, query: PoolQuery):
    """The organisation's sponsor account: the points its sponsored rewards honoured (balance and lines, newest first), paged like the pool."""
    return PoolView(**giving.sponsor_view(current_account_id(), organization_id, limit=query.limit, before=query.before))


# --- the ledger of any account, for admins ---------------------------------------------------------------

class AccountSummary(BaseModel):
    id: int
    kind: str = Field(description="volunteer / org_pool / sponsor / issuance / redemptions / expiry / holds")
    kind_label: str
    name: str = Field(description="账户名称，如“XX社区 积分发行”“志愿者 张*三”")
    balance: int


class AccountsQuery(PageQuery):
    volunteer_number: str | None = Field(default=None, min_length=1, max_length=24,
                                         description="志愿者编号；不传则列出本地区的系统账户及辖区内组织的账户")


class AccountsView(BaseModel):
    items: list[AccountSummary]
    next_cursor: str | None


class AccountLedgerView(PointsView):
    """The volunteer's own view's shape (balance, lines, cursor) with the account it is of."""

    account: AccountSummary


@blueprint.get(f"/regions/{id_path('region_id')}/points/accounts")
@login_required
@api_spec.validate(query=AccountsQuery, resp=answers(200, AccountsView, 401, 403, 404, 422), tags=["points"],
                   security=BEARER_SECURITY)
def points_accounts(region_id: int, query: AccountsQuery):
    """Points accounts an admin of the region reads: a volunteer's by number, or the region's system accounts and
    its organisations' pools and sponsor accounts."""
    return AccountsView(**views.find_accounts(current_account_id(), region_id, volunteer_number=query.volunteer_number,
                                              limit=query.limit, cursor=query.cursor))


@blueprint.get(f"/points/accounts/{id_path('account_id')}")
@login_required
@api_spec.validate(query=PageQuery, resp=answers(200, AccountLedgerView, 401, 403, 404, 422), tags=["points"],
                   security=BEARER_SECURITY)
def points_account_ledger(account_id: int, query: PageQuery):
    """Any points account's balance and lines, newest first (admins over the owner's region)."""
    return AccountLedgerView(**views.account_ledger(current_account_id(), account_id, limit=query.limit,
                                                    cursor=query.cursor))


# --- rankings -------------------------------------------------------------------------------------------

class ConsentView(BaseModel):
    consented: bool = Field(description="是否同意以脱敏姓名出现在积分排行榜（默认不同意）")


class ConsentBody(StrictBody):
    consented: bool


class RankingQuery(QueryArgs):
    year: int | None = Field(default=None, ge=2000, le=2100, description="年份，默认今年")
    limit: int = Field(default=50, ge=1, le=100)


class RankingLine(BaseModel):
    rank: int
    name: str | None = Field(description="脱敏姓名")
    points: int


class MyRank(BaseModel):
    rank: int
    points: int
    shown: bool = Field(description="是否在榜上公开显示（取决于本人是否同意）")


class RankingView(BaseModel):
    year: int
    items: list[RankingLine]
    me: MyRank | None = Field(description="调用者本人的名次与积分（不论是否公开）")


@blueprint.get("/me/points/ranking-consent")
@login_required
@api_spec.validate(resp=answers(200, ConsentView, 401, 403), tags=["points"], security=BEARER_SECURITY)
def get_ranking_consent():
    """Whether the caller appears (masked) in points rankings; off until they turn it on."""
    return ConsentView(consented=rankings.consent(own_archive(current_account())))


@blueprint.put("/me/points/ranking-consent")
@login_required
@api_spec.validate(json=ConsentBody, resp=answers(200, ConsentView, 401, 403, json_body=True), tags=["points"],
                   security=BEARER_SECURITY)
def put_ranking_consent(json: ConsentBody):
    """Turn appearing in points rankings on or off (takes effect at once; setting it twice changes nothing)."""
    with unit_of_work():
        value = rankings.set_consent(own_archive(current_account()), json.consented, now=current_time())
    return ConsentView(consented=value)


def _me():
    """The caller's archive, if any: an admin without one reads the ranking without a rank of their own."""
    try:
        return own_volunteer(current_account())
    except DomainError:
        return None


@blueprint.get(f"/organizations/{id_path('organization_id')}/points/ranking")
@login_required
@api_spec.validate(query=RankingQuery, resp=answers(200, RankingView, 401, 404, 422), tags=["points"],
                   security=BEARER_SECURITY)
def organization_ranking(organization_id: int, query: RankingQuery):
    """Points earned from service at the organisation's activities in a year: consenting volunteers, masked."""
    return RankingView(**rankings.ranking(organization_id=organization_id, year=query.year, limit=query.limit,
                                          me=_me(), now=current_time()))


@blueprint.get(f"/regions/{id_path('region_id')}/points/ranking")
@login_required
@api_spec.validate(query=RankingQuery, resp=answers(200, RankingView, 401, 404, 422), tags=["points"],
                   security=BEARER_SECURITY)
def region_ranking(region_id: int, query: RankingQuery):
    """Points earned from service at activities in the region (and below) in a year: consenting volunteers, masked."""
    return RankingView(**rankings.ranking(region_id=region_id, year=query.year, limit=query.limit, me=_me(),
                                          now=current_time()))
