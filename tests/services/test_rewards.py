"""Rewards and redemption over the ledger: hold, fulfil, void, expire; stock and points move together."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.errors import DomainError
from app.extensions import db
from app.services.points import ledger
from app.services.rewards import catalogue, redemptions
from models import PointsAccount, Redemption, RedemptionStatus, Reward
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


def test_rewards_are_shown_to_their_region_and_below_within_validity(shop, now):
    w, reward = shop
    assert [row.id for row in catalogue.available_to(w.alice, now=now)] == [reward.id]
    assert catalogue.available_to(w.alice, now=now + timedelta(days=31)) == []
    catalogue.withdraw(w.organizer.id, reward.id, now=now)
    assert catalogue.available_to(w.alice, now=now) == []
    with pytest.raises(DomainError) as gone:
        redemptions.redeem(w.alice.account, reward.id, now=now)
    assert gone.value.code == "reward_unavailable"
