"""The hold-expiry job: past their time, holds give back points and stock, once however often it runs."""

from __future__ import annotations

from datetime import timedelta

from app.extensions import db
from app.services.points import ledger
from app.services.rewards import catalogue, redemptions
from jobs import rewards as reward_jobs
from models import Redemption, RedemptionStatus, Reward
from tests import factories as f


def test_expire_holds_releases_each_hold_once(app_context, now):
    w = f.World(now).build("tree", "org", "organizer")
    reward = catalogue.publish(w.organizer.id, w.org.id, {
        "kind": "service", "title": "义诊", "points_price": 10, "stock": 5, "limit_per_person": 3, "hold_minutes": 30,
        "valid_from": now - timedelta(days=1), "valid_until": now + timedelta(days=3), "pickup_place": "服务站"}, now=now)
    ledger.earn("earn-job", reward.region_id, w.alice.id, 100, None, now)
    first = redemptions.redeem(w.alice.account, reward.id, now=now)
    kept = redemptions.redeem(w.alice.account, reward.id, now=now + timedelta(minutes=20))
    db.session.commit()
    assert first.hold_expires_at == now + timedelta(minutes=30)
    at = now + timedelta(minutes=31)
    assert reward_jobs.expire_holds(now=at) == {"due": 1, "expired": 1}
    assert reward_jobs.expire_holds(now=at) == {"due": 0, "expired": 0}
    db.session.expire_all()
    assert db.session.get(Redemption, first.id).status is RedemptionStatus.EXPIRED
    assert db.session.get(Redemption, kept.id).status is RedemptionStatus.HELD
    assert db.session.get(Reward, reward.id).stock == 4
    assert ledger.balance(ledger.account(ledger.Kind.VOLUNTEER, w.alice.id, at).id) == 90
