"""Points that move between people: gifts (二次公益), an organisation's bonuses from its pool, and the
admin's funding of that pool from the region's issuance; plus the pool's view.

- A gift goes from a volunteer to another approved volunteer (named by volunteer number), within the
  giver's home region's limits: at most `gift_max_per_gift` each, `gift_max_per_year` in a Shanghai
  calendar year (net of corrections); 0 = no limit. The giver's account is locked before the year's
  sum is read, so two gifts at once cannot both fit under the limit.
- A bonus goes from the organisation's pool to a volunteer who served at one of its activities, at
  most `bonus_cap_per_activity` per volunteer per activity (rules of the activity's region), given by
  the organisation's organisers, with a short reason (1–100 characters, e.g. 「暴雨夜坚守岗位」) kept
  on the transfer as its memo and shown on both sides' lines. Both accounts are locked before the
  sum is read.
- A pool is funded by an admin over the organisation's region, from that region's issuance account.
Each write takes the caller's key (the handler's nonce) into the ledger's idempotency key, so a retry
moves points once.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from app.errors import DomainError, Forbidden, NotFound
from app.extensions import db
from app.services import access, audit, regions
from app.services.points import ledger
from app.services.points import rules as points_rules
from app.services.points import views
from app.timeutil import local_day_bounds, to_local
from models import (Activity, PointsAccount, PointsAccountKind, PointsTransfer, ServiceRecord, TransferCode, Volunteer,
                    VolunteerStatus)

Kind = PointsAccountKind


def _net_sent(debit_account_id: int, code: TransferCode, *where) -> int:
    """Sum of `code` transfers out of the account matching `where`, net of their corrections."""
    fix = aliased(PointsTransfer)
    rows = db.session.execute(
        select(func.coalesce(func.sum(PointsTransfer.amount), 0),
               func.coalesce(select(func.sum(fix.amount)).where(fix.corrects_transfer_id.in_(
                   select(PointsTransfer.id).where(PointsTransfer.debit_account_id == debit_account_id,
                                                   PointsTransfer.code == code, *where))).scalar_subquery(), 0))
        .where(PointsTransfer.debit_account_id == debit_account_id, PointsTransfer.code == code, *where)).one()
    return int(rows[0]) - int(rows[1])


def _year_bounds(now: datetime) -> tuple[datetime, datetime]:
    """[1 January, next 1 January) of the Shanghai year of `now`, in UTC."""
    year = to_local(now).year
    return local_day_bounds(date(year, 1, 1))[0], local_day_bounds(date(year + 1, 1, 1))[0]


def _positive(amount: Any) -> int:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise DomainError("points_amount_invalid", "积分数必须是正整数", 422, fields={"amount": "须为正整数"})
    return amount


def gift(giver: Volunteer, to_volunteer_number: str, amount: int, key: str, *, now: datetime) -> PointsTransfer:
    _positive(amount)
    if giver.status is not VolunteerStatus.APPROVED:
        raise Forbidden("not_approved_volunteer", "志愿者注册通过审核后才能转赠积分")
    recipient = db.session.scalar(select(Volunteer).where(Volunteer.volunteer_number == to_volunteer_number))
    if recipient is None or recipient.status is not VolunteerStatus.APPROVED:
        raise NotFound("gift_recipient_not_found", "找不到该志愿者编号对应的志愿者")
    if recipient.id == giver.id:
        raise DomainError("gift_to_self", "不能把积分转赠给自己", 422, fields={"to_volunteer_number": "不能是自己"})
    rules = points_rules.in_force_by_id(giver.region_id)
    if rules.gift_max_per_gift and amount > rules.gift_max_per_gift:
        raise DomainError("gift_limit_exceeded", f"每次最多转赠 {rules.gift_max_per_gift} 分", 409,
                          context={"max_per_gift": rules.gift_max_per_gift})
    giver_account = ledger.account(Kind.VOLUNTEER, giver.id, now)
    recipient_account = ledger.account(Kind.VOLUNTEER, recipient.id, now)
    idem = f"gift:{giver.id}:{key}"
    existing = ledger._by_key(idem)
    if existing is not None:
        return ledger.gift(idem, giver.id, recipient.id, amount, f"volunteer:{recipient.id}", now)
    ledger._lock(giver_account.id, recipient_account.id)
    if rules.gift_max_per_year:
        start, end = _year_bounds(now)
        given = _net_sent(giver_account.id, TransferCode.GIFT, PointsTransfer.event_at >= start,
                          PointsTransfer.event_at < end)
        if given + amount > rules.gift_max_per_year:
            raise DomainError("gift_limit_exceeded",
                              f"每年最多转赠 {rules.gift_max_per_year} 分，今年已转赠 {given} 分", 409,
                              context={"max_per_year": rules.gift_max_per_year, "given_this_year": given})
    return ledger.gift(idem, giver.id, recipient.id, amount, f"volunteer:{recipient.id}", now)


def fund_pool(account_id: int, organization_id: int, amount: int, key: str, *, now: datetime) -> PointsTransfer:
    """An admin over the organisation's region moves points from the region's issuance into its pool."""
    _positive(amount)
    org = access.organization(organization_id)
    region = regions.get_region(org.region_id)
    access.require_admin_over(account_id, region, doing="为组织拨付积分")
    issuance = ledger.account(Kind.ISSUANCE, region.id, now)
    pool = ledger.account(Kind.ORG_POOL, org.id, now)
    row = ledger.transfer(f"fund:{account_id}:{key}", issuance.id, pool.id, amount, TransferCode.FUND,
                          f"organization:{org.id}", now)
    audit.record(account_id, "points.pool_funded", "organization", org.id, now=now, region_path=region.path,
                 amount=amount, transfer_id=row.id)
    return row


REASON_MAX = 100


def _reason(reason: Any) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise DomainError("bonus_reason_required", "请填写奖励理由", 422, fields={"reason": "不能为空"})
    if len(text) > REASON_MAX:
        raise DomainError("bonus_reason_too_long", f"奖励理由最多 {REASON_MAX} 个字", 422,
                          fields={"reason": f"最多 {REASON_MAX} 个字"})
    return text


def bonus(account_id: int, organization_id: int, volunteer_id: int, activity_id: int, amount: int, key: str, *,
          reason: str, now: datetime) -> PointsTransfer:
    """An organiser gives a volunteer who served at the organisation's activity points from the pool, capped, with a reason."""
    _positive(amount)
    memo = _reason(reason)
    org = access.require_organizer(account_id, organization_id, doing="发放组织奖励积分")
    activity = db.session.get(Activity, activity_id)
    if activity is None or activity.organization_id != org.id:
        raise access.activity_not_found()
    served = db.session.scalar(select(ServiceRecord.id).where(
        ServiceRecord.volunteer_id == volunteer_id, ServiceRecord.activity_id == activity.id).limit(1))
    if served is None:
        raise DomainError("bonus_not_served", "该志愿者没有在本活动的服务记录，不能发放奖励积分", 409)
    pool = ledger.account(Kind.ORG_POOL, org.id, now)
    volunteer_account = ledger.account(Kind.VOLUNTEER, volunteer_id, now)
    idem = f"bonus:{account_id}:{key}"
    reference = f"activity:{activity.id}"
    if ledger._by_key(idem) is None:
        ledger._lock(pool.id, volunteer_account.id)
        cap = points_rules.in_force_by_id(activity.region_id).bonus_cap_per_activity
        if cap:
            given = _net_sent(pool.id, TransferCode.BONUS, PointsTransfer.credit_account_id == volunteer_account.id,
                              PointsTransfer.reference == reference)
            if given + amount > cap:
                raise DomainError("bonus_cap_exceeded",
                                  f"每名志愿者每个活动最多奖励 {cap} 分，已奖励 {given} 分", 409,
                                  context={"cap": cap, "given": given})
    try:
        row = ledger.bonus(idem, org.id, volunteer_id, amount, reference, now, memo=memo)
    except DomainError as error:
        if error.code == "insufficient_points":
            raise DomainError("pool_insufficient", f"组织奖励积分池余额不足（{ledger.balance(pool.id)} 分）", 409,
                              context=error.context) from None
        raise
    audit.record(account_id, "points.bonus_given", "organization", org.id, now=now, volunteer_id=volunteer_id,
                 activity_id=activity.id, amount=amount, transfer_id=row.id)
    return row


def pool_view(account_id: int, organization_id: int, *, limit: int, before: int | None) -> dict[str, Any]:
    """The pool's balance and lines, newest first: the organisation's organisers and the admins over it."""
    return _organization_account_view(account_id, organization_id, Kind.ORG_POOL, "查看组织积分池", limit=limit,
                                      before=before)


def sponsor_view(account_id: int, organization_id: int, *, limit: int, before: int | None) -> dict[str, Any]:
    """The sponsor account's balance and lines (the points its rewards honoured), for the same readers as the pool."""
    return _organization_account_view(account_id, organization_id, Kind.SPONSOR, "查看赞助积分账户", limit=limit,
                                      before=before)


def _organization_account_view(account_id: int, organization_id: int, kind: PointsAccountKind, doing: str, *,
                               limit: int, before: int | None) -> dict[str, Any]:
    org = access.organization(organization_id)
    access.require_overseer(account_id, org, doing=doing)
    found = db.session.scalar(select(PointsAccount).where(PointsAccount.kind == kind, PointsAccount.owner_id == org.id))
    if found is None:
        return {"balance": 0, "items": [], "next_before": None}
    lines = views.lines_before(found.id, limit=limit + 1, before=before)
    more = len(lines) > limit
    items = views.describe(found.id, lines[:limit])
    return {"balance": ledger.balance(found.id), "items": items, "next_before": items[-1]["id"] if more else None}
