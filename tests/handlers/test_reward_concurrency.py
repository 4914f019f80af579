"""Redemption over real concurrent HTTP: no oversell, no double redemption, one fulfilment per code.

Requests are released together by a barrier against a served app (tests/fakes.fire, as in
test_ledger_concurrency.py). On PostgreSQL the requests really overlap: the conditional UPDATE on
stock, the volunteer's row lock and the conditional UPDATE on a redemption's status are what keep
the counts right. On SQLite transactions run one at a time and the same assertions hold trivially.
The app's pool waits longer for a connection here than in production (200 requests share 15).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import extensions
from app.extensions import db
from app.services.points import ledger
from app.services.rewards import catalogue, redemptions
from models import PointsAccount, PointsAccountKind, PointsTransfer, Redemption, Reward, TransferCode
from tests import factories as f
from tests.fakes import fire, serve

VOLUNTEERS = 200
STOCK = 10
PRICE = 30
START = 50


@pytest.fixture
def app(make_app, monkeypatch):
    original = extensions.engine_options

    def patient(url):
        options = original(url)
        return options if url.startswith("sqlite") else {**options, "pool_timeout": 120}

    monkeypatch.setattr(extensions, "engine_options", patient)
    return make_app()


def shop(app, now, *, volunteers: int, stock: int = STOCK, limit: int = 1):
    with app.app_context():
        w = f.World(now).build("tree", "org", "organizer")
        reward = catalogue.publish(w.organizer.id, w.org.id, {
            "kind": "goods", "title": "环保袋", "points_price": PRICE, "stock": stock, "limit_per_person": limit,
            "valid_from": now - timedelta(days=1), "valid_until": now + timedelta(days=30),
            "pickup_place": "一社区服务站"}, now=now)
        people = []
        for n in range(volunteers):
            volunteer = f.approved_volunteer(f"rw_race_{n}", w.tree["community"], now)
            ledger.earn(f"earn-race-{n}", reward.region_id, volunteer.id, START, None, now)
            people.append({"id": volunteer.id, "headers": f.bearer(volunteer.account)})
        clerk = f.account("rw_race_clerk", now)
        redemptions.add_operator(w.organizer.id, w.org.id, clerk.id, now=now)
        world = {"reward_id": reward.id, "region_id": reward.region_id, "org_id": w.org.id, "people": people,
                 "organizer": f.bearer(w.organizer), "clerk": f.bearer(clerk)}
        db.session.commit()
    app.extensions["clock"] = lambda: now
    return world


def holds(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Redemption))


def test_two_hundred_volunteers_at_once_get_exactly_the_ten_in_stock(app, now):
    world = shop(app, now, volunteers=VOLUNTEERS)
    path = f"/api/v1/rewards/{world['reward_id']}/redemptions"
    with serve(app) as base_url:
        results = fire(base_url, path, [({"nonce": f"race-{n:06d}"}, person["headers"])
                                        for n, person in enumerate(world["people"])])
    outcomes = Counter(status if status == 201 else body["error"]["code"] for status, body in results)
    assert outcomes == {201: STOCK, "out_of_stock": VOLUNTEERS - STOCK}, outcomes
    with app.app_context():
        assert db.session.get(Reward, world["reward_id"]).stock == 0
        assert db.session.scalar(select(func.count()).select_from(Redemption)) == STOCK
        balances = db.session.scalars(select(PointsAccount.balance).where(
            PointsAccount.kind == PointsAccountKind.VOLUNTEER)).all()
        assert sorted(Counter(balances).items()) == [(START - PRICE, STOCK), (START, VOLUNTEERS - STOCK)]
        assert db.session.scalar(select(PointsAccount.balance).where(
            PointsAccount.kind == PointsAccountKind.HOLDS)) == STOCK * PRICE
        assert db.session.scalar(select(func.sum(PointsAccount.balance))) == 0


def test_one_volunteer_tapping_twenty_times_holds_once(app, now):
    world = shop(app, now, volunteers=1)
    person = world["people"][0]
    path = f"/api/v1/rewards/{world['reward_id']}/redemptions"
    with serve(app) as base_url:
        same = fire(base_url, path, [({"nonce": "double-tap-0001"}, person["headers"])] * 20)
        assert {status for status, _ in same} == {201}, same
        assert len({body["id"] for _, body in same}) == 1
        different = fire(base_url, path, [({"nonce": f"tap-{n:06d}"}, person["headers"]) for n in range(20)])
    assert Counter(body["error"]["code"] for _, body in different) == {"redemption_limit_reached": 20}
    assert holds(app) == 1
    with app.app_context():
        assert db.session.get(Reward, world["reward_id"]).stock == STOCK - 1
        assert ledger.account(ledger.Kind.VOLUNTEER, person["id"], now).balance == START - PRICE


def test_twenty_different_taps_with_limit_one_hold_once(app, now):
    world = shop(app, now, volunteers=1)
    person = world["people"][0]
    path = f"/api/v1/rewards/{world['reward_id']}/redemptions"
    with serve(app) as base_url:
        results = fire(base_url, path, [({"nonce": f"tap-{n:06d}"}, person["headers"]) for n in range(20)])
    outcomes = Counter(status if status == 201 else body["error"]["code"] for status, body in results)
    assert outcomes == {201: 1, "redemption_limit_reached": 19}, outcomes
    assert holds(app) == 1
    with app.app_context():
        assert db.session.get(Reward, world["reward_id"]).stock == STOCK - 1


def test_two_operators_scanning_one_code_at_once_fulfil_it_once(app, now):
    world = shop(app, now, volunteers=1)
    person = world["people"][0]
    with serve(app) as base_url:
        held = fire(base_url, f"/api/v1/rewards/{world['reward_id']}/redemptions",
                    [({"nonce": "tap-scan-0001"}, person["headers"])])[0][1]
        results = fire(base_url, f"/api/v1/stations/{world['org_id']}/pickups", [
            ({"token": held["pickup_token"], "nonce": "scan-organizer"}, world["organizer"]),
            ({"token": held["pickup_token"], "nonce": "scan-clerk-01"}, world["clerk"])])
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409], results
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PointsTransfer).where(
            PointsTransfer.code == TransferCode.POST)) == 1
        assert db.session.scalar(select(PointsAccount.balance).where(
            PointsAccount.kind == PointsAccountKind.REDEMPTIONS)) == PRICE
