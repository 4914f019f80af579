"""Redemption in two phases over the points ledger: hold → fulfilled / voided / expired.

Redeem is ONE transaction, locks taken always in this order (no deadlock with void/expiry, which
take the redemption row, then the reward, then the ledger's accounts):
1. the volunteer's archive row (SELECT … FOR UPDATE): one person's redemptions run one after another,
   so the per-person limit is counted under the lock, whatever arrives at once;
2. one unit of stock by a conditional `UPDATE rewards SET stock = stock - 1 WHERE id = ? AND stock > 0
   AND published AND within validity` — zero rows is `out_of_stock`, never a negative stock (and the
   CHECK stock >= 0 stands behind it);
3. the points by `ledger.hold` (keyed by the redemption's own key, so a retry returns the same hold);
   `insufficient_points` from the ledger rolls the whole transaction back, the unit of stock with it.
A retried tap with the same nonce is answered by the handler's idempotency layer (first answer again).

Settlement is a conditional UPDATE on status (`WHERE status = 'held'`): of two stations scanning one
code at once exactly one changes the row; the other finds it no longer held (`redemption_not_held`).
The ledger's unique pending_transfer_id stands behind it (one post/void/expiry per hold). A fulfilled
sponsor's reward posts the held points to the sponsor organisation's account, a station's reward to the
region's redemptions account (docs/ARCHITECTURE.md, "Sponsors").

The volunteer is told through the outbox, in the transaction of the change: of the hold (the code, the
place, the deadline), of the hand-over and of an expiry (points back). A void is their own act: no message.
Nothing here commits: the handler's unit of work (or the job's, per redemption) is the transaction.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from app.db import unit_of_work
from app.errors import DomainError, Forbidden, NotFound
from app.extensions import db, settings
from app.services import access, audit, notifications, paging
from app.services.points import ledger
from app.services.rewards.catalogue import region_ids_above
from app.services.volunteers import own_archive
from app.texts import moment_text
from models import (COUNTED_STATUSES, Account, Redemption, RedemptionStatus, Reward, RewardPublisher, RewardStatus,
                    StationOperator, Volunteer)

CODE_ATTEMPTS = 20
SIX_DIGITS = re.compile(r"^\d{6}$")


def redemption_not_held(status: RedemptionStatus) -> DomainError:
    labels = {RedemptionStatus.FULFILLED: "已兑付", RedemptionStatus.VOIDED: "已取消", RedemptionStatus.EXPIRED: "已过期"}
    return DomainError("redemption_not_held", f"该兑换{labels.get(status, '不在待领取状态')}，不能再操作", 409,
                       context={"status": status.value})


def hold_minutes(reward: Reward) -> int:
    return reward.hold_minutes or settings()["rewards"]["hold_minutes"]


def _take_one_unit(reward_id: int, now: datetime) -> None:
    taken = db.session.execute(update(Reward).where(
        Reward.id == reward_id, Reward.stock > 0, Reward.status == RewardStatus.PUBLISHED,
        Reward.valid_from <= now, Reward.valid_until > now).values(stock=Reward.stock - 1)
        .execution_options(synchronize_session=False)).rowcount
    if taken != 1:
        reward = db.session.get(Reward, reward_id, populate_existing=True)
        if reward.status is not RewardStatus.PUBLISHED or not reward.valid_from <= now < reward.valid_until:
            raise DomainError("reward_unavailable", "该奖励已下架或不在兑换有效期内", 409)
        raise DomainError("out_of_stock", "该奖励已兑完", 409)


def _give_back_one_unit(reward_id: int) -> None:
    db.session.execute(update(Reward).where(Reward.id == reward_id).values(stock=Reward.stock + 1)
                       .execution_options(synchronize_session=False))


def redeem(account: Account, reward_id: int, *, now: datetime) -> Redemption:
    reward = db.session.get(Reward, reward_id)
    if reward is None:
        raise NotFound("reward_not_found", "找不到该奖励")
    volunteer = own_archive(account, lock=True, approved_for="兑换积分奖励")
    if reward.region_id not in region_ids_above(volunteer):
        raise Forbidden("reward_not_in_region", "该奖励不面向您所在的地区")
    counted = db.session.scalar(select(func.count()).select_from(Redemption).where(
        Redemption.reward_id == reward.id, Redemption.volunteer_id == volunteer.id,
        Redemption.status.in_(COUNTED_STATUSES)))
    if counted >= reward.limit_per_person:
        raise DomainError("redemption_limit_reached", f"每人限兑 {reward.limit_per_person} 次，您已达上限", 409,
                          context={"limit": reward.limit_per_person})
    # Refuse early without touching the reward's row when the balance cannot pay; the ledger re-checks under its lock.
    available = ledger.balance(ledger.account(ledger.Kind.VOLUNTEER, volunteer.id, now).id)
    if available < reward.points_price:
        raise ledger.insufficient(available, reward.points_price)
    _take_one_unit(reward.id, now)
    expires_at = now + timedelta(minutes=hold_minutes(reward))
    token = secrets.token_urlsafe(32)
    held = ledger.hold(f"redemption:{token}:hold", reward.region_id, volunteer.id, reward.points_price,
                       f"reward:{reward.id}", now, expires_at)
    for _ in range(CODE_ATTEMPTS):
        row = Redemption(reward_id=reward.id, volunteer_id=volunteer.id, organization_id=reward.organization_id,
                         points=reward.points_price, status=RedemptionStatus.HELD, hold_transfer_id=held.id,
                         pickup_token=token, pickup_code=f"{secrets.randbelow(1_000_000):06d}",
                         hold_expires_at=expires_at, created_at=now)
        try:
            with db.session.begin_nested():
                db.session.add(row)
                db.session.flush()
        except IntegrityError:
            # The six digits are live at this station already (partial unique index): draw again.
            continue
        _tell_volunteer(row, reward, volunteer, now)
        return row
    raise DomainError("pickup_code_exhausted", "暂时无法生成取货码，请稍后再试", 503)


def _tell_volunteer(row: Redemption, reward: Reward, volunteer: Volunteer, now: datetime) -> None:
    """Tell the volunteer of a hold, a hand-over or an expiry (one message per redemption and state)."""
    place, deadline = reward.pickup_place, moment_text(row.hold_expires_at)
    if row.status is RedemptionStatus.HELD:
        title, result, note, when = "积分兑换待领取", "待领取", f"取货码 {row.pickup_code}", row.hold_expires_at
        text = (f"您已用 {row.points} 积分兑换「{reward.title}」，取货码 {row.pickup_code}。请在 {deadline} 前"
                f"到{place}出示取货码领取，逾期未领积分将自动退回。")
    elif row.status is RedemptionStatus.FULFILLED:
        title, result, note, when = "兑换成功", "兑换成功", f"已在{place}领取", now
        text = f"您已在{place}领取「{reward.title}」，本次兑换使用 {row.points} 积分。感谢您的志愿服务！"
    else:
        title, result, note, when = "积分兑换已过期", "已过期", f"{row.points} 积分已退回", now
        text = (f"您兑换的「{reward.title}」没有在 {deadline} 前领取，这次兑换已过期，"
                f"{row.points} 积分已退回您的账户。")
    notifications.notify(volunteer.account_id, [("r", row.id), row.status.value], notifications.Message(
        kind=notifications.NotificationKind.REDEMPTION_PROGRESS, template="registration_result", title=title,
        text=text, fields={"thing1": reward.title, "phrase2": result, "thing3": note, "time4": when},
        page="pages/rewards/redemptions"), now=now)


def mine(account: Account) -> list[Redemption]:
    volunteer = own_archive(account)
    return list(db.session.scalars(select(Redemption).where(Redemption.volunteer_id == volunteer.id)
                                   .order_by(Redemption.id.desc())))


def _settle(redemption_id: int, to: RedemptionStatus, now: datetime, *, extra_conditions=(),
            **values) -> bool:
    """Move a held redemption to `to`: True if this call did it (a conditional UPDATE on status)."""
    return db.session.execute(update(Redemption).where(
        Redemption.id == redemption_id, Redemption.status == RedemptionStatus.HELD, *extra_conditions)
        .values(status=to, resolved_at=now, **values).execution_options(synchronize_session=False)).rowcount == 1


def void(account: Account, redemption_id: int, *, now: datetime) -> Redemption:
    volunteer = own_archive(account)
    row = db.session.get(Redemption, redemption_id)
    if row is None or row.volunteer_id != volunteer.id:
        raise NotFound("redemption_not_found", "找不到该兑换记录")
    if not _settle(row.id, RedemptionStatus.VOIDED, now):
        db.session.refresh(row)
        raise redemption_not_held(row.status)
    _give_back_one_unit(row.reward_id)
    ledger.void(f"redemption:{row.id}:void", row.hold_transfer_id, now)
    db.session.refresh(row)
    return row


def add_operator(account_id: int, organization_id: int, operator_account_id: int, *, now: datetime) -> StationOperator:
    access.require_organizer(account_id, organization_id, doing="设置兑换点核销员")
    if db.session.get(Account, operator_account_id) is None:
        raise NotFound("account_not_found", "找不到该账号")
    found = db.session.scalar(select(StationOperator).where(StationOperator.organization_id == organization_id,
                                                            StationOperator.account_id == operator_account_id))
    if found is not None:
        return found
    row = StationOperator(organization_id=organization_id, account_id=operator_account_id,
                          granted_by_account_id=account_id, created_at=now)
    db.session.add(row)
    db.session.flush()
    audit.record(account_id, "reward.operator_added", "organization", organization_id, now=now,
                 operator_account_id=operator_account_id)
    return row


def remove_operator(account_id: int, organization_id: int, operator_account_id: int, *, now: datetime) -> bool:
    """Take the operator role away; True if it was held. The last one may go: organisers still scan."""
    access.require_organizer(account_id, organization_id, doing="移除兑换点核销员", approved=False)
    removed = db.session.execute(delete(StationOperator).where(
        StationOperator.organization_id == organization_id, StationOperator.account_id == operator_account_id)
        .execution_options(synchronize_session=False)).rowcount == 1
    if removed:
        audit.record(account_id, "reward.operator_removed", "organization", organization_id, now=now,
                     operator_account_id=operator_account_id)
    return removed


def operators(account_id: int, organization_id: int) -> list[tuple[StationOperator, Volunteer | None]]:
    """The station's operators in the order they were named, each with the archive of its account if any."""
    access.require_organizer(account_id, organization_id, doing="查看兑换点核销员", approved=False)
    return [(row, volunteer) for row, volunteer in db.session.execute(
        select(StationOperator, Volunteer).outerjoin(Volunteer, Volunteer.account_id == StationOperator.account_id)
        .where(StationOperator.organization_id == organization_id).order_by(StationOperator.id))]


def fulfil(account_id: int, organization_id: int, *, now: datetime, token: str | None = None,
           code: str | None = None) -> Redemption:
    """The station hands the reward over: scan the QR token or type the six digits. Exactly once."""
    access.require_station_operator(account_id, organization_id, doing="核销")
    query = select(Redemption).where(Redemption.organization_id == organization_id)
    if token:
        query = query.where(Redemption.pickup_token == token)
    elif code and SIX_DIGITS.match(code):
        query = query.where(Redemption.pickup_code == code, Redemption.status == RedemptionStatus.HELD)
    else:
        raise DomainError("pickup_code_invalid", "取货码无效", 422)
    row = db.session.scalar(query)
    if row is None:
        raise DomainError("pickup_code_invalid", "取货码无效或不属于本兑换点", 404)
    if row.hold_expires_at <= now and row.status is RedemptionStatus.HELD:
        raise DomainError("redemption_expired", "该兑换已过期，积分与库存将自动退回", 409)
    if not _settle(row.id, RedemptionStatus.FULFILLED, now, fulfilled_by_account_id=account_id):
        db.session.refresh(row)
        raise redemption_not_held(row.status)
    reward = db.session.get(Reward, row.reward_id)
    sponsor = reward.organization_id if reward.publisher is RewardPublisher.SPONSOR else None
    ledger.post(f"redemption:{row.id}:post", row.hold_transfer_id, now, sponsor_organization_id=sponsor)
    db.session.refresh(row)
    _tell_volunteer(row, reward, volunteer_of(row), now)
    return row


def due_for_expiry(now: datetime, limit: int = 500) -> list[int]:
    return list(db.session.scalars(select(Redemption.id).where(
        Redemption.status == RedemptionStatus.HELD, Redemption.hold_expires_at <= now)
        .order_by(Redemption.hold_expires_at, Redemption.id).limit(limit)))


def expire(redemption_id: int, *, now: datetime) -> bool:
    """Release one expired hold (points back, unit back); False if it was settled meanwhile. Idempotent."""
    row = db.session.get(Redemption, redemption_id)
    if row is None or not _settle(row.id, RedemptionStatus.EXPIRED, now,
                                  extra_conditions=(Redemption.hold_expires_at <= now,)):
        return False
    _give_back_one_unit(row.reward_id)
    ledger.expire_hold(f"redemption:{row.id}:expire", row.hold_transfer_id, now)
    db.session.refresh(row)
    _tell_volunteer(row, db.session.get(Reward, row.reward_id), volunteer_of(row), now)
    return True


def volunteer_of(row: Redemption) -> Volunteer:
    return db.session.get(Volunteer, row.volunteer_id)


def expire_due(*, now: datetime) -> dict[str, int]:
    """The job: release every hold past its time, each in its own transaction (one failure stops no other)."""
    with unit_of_work():
        ids = due_for_expiry(now)
    expired = 0
    for redemption_id in ids:
        with unit_of_work():
            expired += expire(redemption_id, now=now)
    return {"due": len(ids), "expired": expired}


# --- the station's list of a reward's redemptions ---------------------------------------------------

OF_REWARD = paging.Keyset((Redemption.id,), descending=True)


def of_reward(account_id: int, reward_id: int, *, status: RedemptionStatus | None, limit: int, cursor: str | None,
              ) -> tuple[list[tuple[Redemption, Volunteer]], dict[int, str | None], str | None, int]:
    """A reward's redemptions, newest first, for its station's organisers and operators: (redemption,
    volunteer) pairs, the real names of the accounts that handed them over, the next cursor and the total."""
    reward = db.session.get(Reward, reward_id)
    if reward is None:
        raise NotFound("reward_not_found", "找不到该奖励")
    access.require_station_operator(account_id, reward.organization_id, doing="查看兑换记录")
    where = [Redemption.reward_id == reward.id]
    if status is not None:
        where.append(Redemption.status == status)
    total = db.session.scalar(select(func.count()).select_from(Redemption).where(*where)) or 0
    rows, next_cursor = paging.keyset_page(
        select(Redemption, Volunteer).join(Volunteer, Volunteer.id == Redemption.volunteer_id).where(*where),
        OF_REWARD, limit=limit, cursor=cursor, key_of=lambda pair: (pair[0].id,))
    handed_by = {row.fulfilled_by_account_id for row, _ in rows if row.fulfilled_by_account_id is not None}
    names = {account: name for account, name in db.session.execute(
        select(Volunteer.account_id, Volunteer.real_name).where(Volunteer.account_id.in_(handed_by)))}
    return [(row, volunteer) for row, volunteer in rows], names, next_cursor, total
