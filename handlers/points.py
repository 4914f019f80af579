"""Points (积分): the volunteer's balance and history. Earning, gifts and redemptions come with later steps."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint
from pydantic import BaseModel, Field

from app.extensions import api_spec
from app.services.points import views
from handlers._auth import BEARER_SECURITY, current_account, login_required
from handlers._schemas import PageQuery, answers

blueprint = Blueprint("points", __name__, url_prefix="/api/v1")


class PointsLine(BaseModel):
    id: int = Field(description="明细编号（翻页按它倒序）")
    transfer_id: int
    amount: int = Field(description="本笔变动：正数为收入，负数为支出")
    balance_after: int = Field(description="本笔之后的余额")
    code: str = Field(description="earn 服务积分 / bonus 组织奖励 / gift 转赠 / correct 更正 / expire 过期 / "
                                  "hold 兑换冻结 / post 兑换完成 / void 兑换取消 / hold_expire 兑换过期退回")
    code_label: str
    reference: str | None = Field(description="起因，如 service_record:42、redemption:7")
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
