"""Rewards and redemption over the ledger: hold, fulfil, void, expire; stock and points move together."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.errors import DomainError
from app.extensions import db
from app.services.points import giving, ledger
from app.services.rewards import catalogue, redemptions
from app.services import notifications
from models import AuditLog, Notification, PointsAccount, PointsAccountKind, Redemption, RedemptionStatus, Reward
from tests import factories as f


def reward_fields(now, **changes):
    fields = {"kind": "goods", "title": "环保袋", "points_price": 30, "stock": 2, "limit_per_person": 1,
              "valid_from": now - timedelta(days=1), "valid_until": now + timedelta(days=30),
              "pickup_place": "一社区服务站"}
    return {**fields, **changes}


@pytest.fixture
def shop(app_context, now):
    w = f.World(now).build("tree", "org", "organizer")
    reward = catalogue.publish(w.organizer.id, w.org.id, reward_fields(now), now=now)
    for name in ("alice", "bob"):
        ledger.earn(f"earn-{name}", reward.region_id, w[name].id, 100, None, now)
    db.session.commit()
    return w, reward


def balance_of(volunteer_id, now):
    return ledger.account(ledger.Kind.VOLUNTEER, volunteer_id, now).balance


def total_points():
    return db.session.scalar(select(func.sum(PointsAccount.balance)))


def test_redeem_holds_points_and_a_unit_then_the_station_fulfils_once(shop, now):
    w, reward = shop
    row = redemptions.redeem(w.alice.account, reward.id, now=now)
    assert (row.status, len(row.pickup_code), row.points) == (RedemptionStatus.HELD, 6, 30)
    assert db.session.get(Reward, reward.id, populate_existing=True).stock == 1
    assert balance_of(w.alice.id, now) == 70
    done = redemptions.fulfil(w.organizer.id, w.org.id, now=now, code=row.pickup_code)
    assert done.status is RedemptionStatus.FULFILLED and done.fulfilled_by_account_id == w.organizer.id
    with pytest.raises(DomainError) as again:
        redemptions.fulfil(w.organizer.id, w.org.id, now=now, token=row.pickup_token)
    assert again.value.code == "redemption_not_held"
    with pytest.raises(DomainError) as void:
        redemptions.void(w.alice.account, row.id, now=now)
    assert void.value.code == "redemption_not_held"
    assert balance_of(w.alice.id, now) == 70 and total_points() == 0


def test_limit_per_person_and_stock_are_enforced(shop, now):
    w, reward = shop
    redemptions.redeem(w.alice.account, reward.id, now=now)
    with pytest.raises(DomainError) as limit:
        redemptions.redeem(w.alice.account, reward.id, now=now)
    assert limit.value.code == "redemption_limit_reached"
    redemptions.redeem(w.bob.account, reward.id, now=now)
    carol = f.approved_volunteer("rw_carol", w.tree["community"], now)
    ledger.earn("earn-carol", reward.region_id, carol.id, 100, None, now)
    with pytest.raises(DomainError) as empty:
        redemptions.redeem(carol.account, reward.id, now=now)
    assert empty.value.code == "out_of_stock"
    assert db.session.get(Reward, reward.id, populate_existing=True).stock == 0


def test_insufficient_points_takes_no_stock(shop, now):
    w, reward = shop
    poor = f.approved_volunteer("rw_poor", w.tree["community"], now)
    ledger.earn("earn-poor", reward.region_id, poor.id, 5, None, now)
    with pytest.raises(DomainError) as refused:
        redemptions.redeem(poor.account, reward.id, now=now)
    assert refused.value.code == "insufficient_points"
    assert db.session.get(Reward, reward.id, populate_existing=True).stock == 2


def test_void_and_expiry_give_back_points_and_stock_once(shop, now):
    w, reward = shop
    first = redemptions.redeem(w.alice.account, reward.id, now=now)
    second = redemptions.redeem(w.bob.account, reward.id, now=now)
    redemptions.void(w.alice.account, first.id, now=now)
    assert balance_of(w.alice.id, now) == 100
    later = second.hold_expires_at
    assert redemptions.expire_due(now=later - timedelta(seconds=1)) == {"due": 0, "expired": 0}
    with pytest.raises(DomainError) as late:
        redemptions.fulfil(w.organizer.id, w.org.id, now=later, token=second.pickup_token)
    assert late.value.code == "redemption_expired"
    assert redemptions.expire_due(now=later) == {"due": 1, "expired": 1}
    assert redemptions.expire_due(now=later) == {"due": 0, "expired": 0}
    assert redemptions.expire(second.id, now=later) is False
    assert db.session.get(Redemption, second.id).status is RedemptionStatus.EXPIRED
    assert balance_of(w.bob.id, now) == 100
    assert db.session.get(Reward, reward.id, populate_existing=True).stock == 2
    # A voided redemption no longer counts against the limit.
    redemptions.redeem(w.alice.account, reward.id, now=now)


def test_only_operators_and_organisers_scan_and_only_their_own_station(shop, now):
    w, reward = shop
    row = redemptions.redeem(w.alice.account, reward.id, now=now)
    clerk = f.account("rw_clerk", now)
    with pytest.raises(DomainError) as refused:
        redemptions.fulfil(clerk.id, w.org.id, now=now, code=row.pickup_code)
    assert refused.value.code == "not_station_operator"
    redemptions.add_operator(w.organizer.id, w.org.id, clerk.id, now=now)
    with pytest.raises(DomainError) as wrong:
        redemptions.fulfil(clerk.id, w.org.id, now=now, code="000000" if row.pickup_code != "000000" else "000001")
    assert wrong.value.code == "pickup_code_invalid"
    assert redemptions.fulfil(clerk.id, w.org.id, now=now, code=row.pickup_code).status is RedemptionStatus.FULFILLED
    with pytest.raises(DomainError):
        catalogue.publish(clerk.id, w.org.id, reward_fields(now), now=now)


def available(volunteer, now, **page):
    return catalogue.available_to(volunteer, now=now, limit=page.get("limit", 20), cursor=page.get("cursor"))[0]


def test_rewards_are_shown_to_their_region_and_below_within_validity(shop, now):
    w, reward = shop
    assert [row.id for row in available(w.alice, now)] == [reward.id]
    assert available(w.alice, now + timedelta(days=31)) == []
    catalogue.withdraw(w.organizer.id, reward.id, now=now)
    assert available(w.alice, now) == []
    with pytest.raises(DomainError) as gone:
        redemptions.redeem(w.alice.account, reward.id, now=now)
    assert gone.value.code == "reward_unavailable"


# --- what the volunteer is told -------------------------------------------------------------------------

def told(volunteer):
    return [(n.payload.get("title"), n.payload.get("text") or "") for n in db.session.scalars(
        select(Notification).where(Notification.kind == notifications.NotificationKind.REDEMPTION_PROGRESS,
                                   Notification.account_id == volunteer.account_id).order_by(Notification.id))]


def test_the_volunteer_is_told_of_the_hold_the_hand_over_and_an_expiry_but_not_of_their_own_void(shop, now):
    w, reward = shop
    held = redemptions.redeem(w.alice.account, reward.id, now=now)
    [(title, text)] = told(w.alice)
    # 2026-… 12:00 UTC + 3 days = Shanghai 20:00 three days on; the code, the place and the deadline.
    deadline = redemptions.moment_text(held.hold_expires_at)
    assert title == "积分兑换待领取" and held.pickup_code in text and "一社区服务站" in text and deadline in text
    redemptions.fulfil(w.organizer.id, w.org.id, now=now, code=held.pickup_code)
    assert [t for t, _ in told(w.alice)] == ["积分兑换待领取", "兑换成功"]
    assert "环保袋" in told(w.alice)[1][1]
    voided = redemptions.redeem(w.bob.account, reward.id, now=now)
    redemptions.void(w.bob.account, voided.id, now=now)
    assert [t for t, _ in told(w.bob)] == ["积分兑换待领取"]
    late = redemptions.redeem(w.bob.account, reward.id, now=now)
    after = late.hold_expires_at + timedelta(minutes=1)
    assert redemptions.expire(late.id, now=after) and not redemptions.expire(late.id, now=after)
    assert [t for t, _ in told(w.bob)] == ["积分兑换待领取", "积分兑换待领取", "积分兑换已过期"]
    assert "30 积分已退回" in told(w.bob)[-1][1]


def test_the_deadline_is_told_in_shanghai_time(shop, now):
    w, reward = shop
    held = redemptions.redeem(w.alice.account, reward.id, now=now)
    local = held.hold_expires_at.astimezone(timezone(timedelta(hours=8)))
    assert f"{local.month}月{local.day}日 {local:%H:%M}" in told(w.alice)[0][1]


# --- sponsors -----------------------------------------------------------------------------------------

def test_a_sponsors_reward_credits_the_sponsor_account_and_a_stations_the_regions_redemptions(shop, now):
    w, station_reward = shop
    sponsored = catalogue.publish(w.organizer.id, w.org.id, reward_fields(now, publisher="sponsor",
                                                                         sponsor_name="爱心超市", points_price=20), now=now)
    for reward in (station_reward, sponsored):
        row = redemptions.redeem(w.alice.account, reward.id, now=now)
        redemptions.fulfil(w.organizer.id, w.org.id, now=now, token=row.pickup_token)
    sponsor = ledger.account(ledger.Kind.SPONSOR, w.org.id, now)
    spent = ledger.account(ledger.Kind.REDEMPTIONS, station_reward.region_id, now)
    assert (sponsor.balance, spent.balance) == (20, 30)
    assert ledger.account(ledger.Kind.HOLDS, station_reward.region_id, now).balance == 0 and total_points() == 0
    view = giving.sponsor_view(w.organizer.id, w.org.id, limit=20, before=None)
    assert view["balance"] == 20 and [(i["amount"], i["code"]) for i in view["items"]] == [(20, "post")]
    with pytest.raises(DomainError) as outsider:
        giving.sponsor_view(w.other_organizer.id, w.org.id, limit=20, before=None)
    assert outsider.value.code == "not_organizer_or_admin"


def test_an_organisation_that_sponsored_nothing_has_an_empty_sponsor_account(shop, now):
    w, _ = shop
    assert giving.sponsor_view(w.organizer.id, w.org.id, limit=20, before=None) == {
        "balance": 0, "items": [], "next_before": None}
    assert db.session.scalar(select(PointsAccount).where(PointsAccount.kind == PointsAccountKind.SPONSOR)) is None


# --- the station's list, operators, paging --------------------------------------------------------------

def test_a_rewards_redemptions_for_its_station_by_status_and_page(shop, now):
    w, reward = shop
    clerk = f.account("rw_clerk2", now)
    redemptions.add_operator(w.organizer.id, w.org.id, clerk.id, now=now)
    first = redemptions.redeem(w.alice.account, reward.id, now=now)
    second = redemptions.redeem(w.bob.account, reward.id, now=now)
    redemptions.fulfil(clerk.id, w.org.id, now=now, code=first.pickup_code)
    rows, names, cursor, total = redemptions.of_reward(clerk.id, reward.id, status=None, limit=1, cursor=None)
    assert [r.id for r, _ in rows] == [second.id] and total == 2 and cursor
    rows, names, cursor, _ = redemptions.of_reward(clerk.id, reward.id, status=None, limit=1, cursor=cursor)
    assert [r.id for r, _ in rows] == [first.id] and cursor is None
    assert rows[0][0].fulfilled_by_account_id == clerk.id and rows[0][1].id == w.alice.id
    fulfilled, *_ = redemptions.of_reward(w.organizer.id, reward.id, status=RedemptionStatus.FULFILLED, limit=20,
                                          cursor=None)
    assert [r.id for r, _ in fulfilled] == [first.id]
    with pytest.raises(DomainError) as outsider:
        redemptions.of_reward(w.alice.account.id, reward.id, status=None, limit=20, cursor=None)
    assert outsider.value.code == "not_station_operator"


def test_operators_are_listed_and_removed_with_an_audit_and_organisers_still_scan(shop, now):
    w, reward = shop
    clerk = f.account("rw_clerk3", now)
    redemptions.add_operator(w.organizer.id, w.org.id, clerk.id, now=now)
    assert [(row.account_id, volunteer) for row, volunteer in redemptions.operators(w.organizer.id, w.org.id)] == [
        (clerk.id, None)]
    assert redemptions.remove_operator(w.organizer.id, w.org.id, clerk.id, now=now) is True
    assert redemptions.remove_operator(w.organizer.id, w.org.id, clerk.id, now=now) is False
    assert redemptions.operators(w.organizer.id, w.org.id) == []
    actions = list(db.session.scalars(select(AuditLog.action).where(AuditLog.action.like("reward.operator%"))
                                      .order_by(AuditLog.id)))
    assert actions == ["reward.operator_added", "reward.operator_removed"]
    row = redemptions.redeem(w.alice.account, reward.id, now=now)
    with pytest.raises(DomainError) as gone:
        redemptions.fulfil(clerk.id, w.org.id, now=now, code=row.pickup_code)
    assert gone.value.code == "not_station_operator"
    assert redemptions.fulfil(w.organizer.id, w.org.id, now=now, code=row.pickup_code).status is RedemptionStatus.FULFILLED
    with pytest.raises(DomainError) as outsider:
        redemptions.remove_operator(w.alice.account.id, w.org.id, clerk.id, now=now)
    assert outsider.value.code == "not_organizer"


def test_reward_lists_are_paged_by_cursor(shop, now):
    w, first = shop
    later = [catalogue.publish(w.organizer.id, w.org.id, reward_fields(now, valid_until=now + timedelta(days=days)),
                               now=now) for days in (10, 20)]
    rows, cursor, total = catalogue.of_organization(w.organizer.id, w.org.id, limit=2, cursor=None)
    assert [r.id for r in rows] == [later[1].id, later[0].id] and total == 3
    rows, cursor, _ = catalogue.of_organization(w.organizer.id, w.org.id, limit=2, cursor=cursor)
    assert [r.id for r in rows] == [first.id] and cursor is None
    rows, cursor, total = catalogue.available_to(w.alice, now=now, limit=2, cursor=None)
    assert [r.id for r in rows] == [later[0].id, later[1].id] and total == 3
    assert [r.id for r in available(w.alice, now, cursor=cursor)] == [first.id]
