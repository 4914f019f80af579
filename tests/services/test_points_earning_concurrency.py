"""Earning passes and gifts at once: threads with their own sessions (as the job's double fire, or a
volunteer tapping "give" on two phones) earn each record once and keep the yearly gift limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.services.points import earning, giving, ledger, rules as points_rules
from models import (ActivityStatus, PointsAccount, PointsAccountKind, PointsTransfer, RecordKind, RecordSource, ServiceRecord,
                    TransferCode, Volunteer)
from models.points_rules import PointsEarning
from tests.services.test_points_concurrency import at_once


@pytest.fixture
def world(world):
    world.build("tree", "org", "admin", "alice", "bob")
    world["held"] = world.add_activity(starts_in=-timedelta(days=30), status=ActivityStatus.FINISHED)
    world.alice.volunteer_number, world.bob.volunteer_number = "V0001", "V0002"
    for _ in range(12):
        db.session.add(ServiceRecord(volunteer_id=world.alice.id, activity_id=world.held.id,
                                     kind=RecordKind.ATTENDANCE, source=RecordSource.SCAN, minutes=60,
                                     created_at=world.now))
    db.session.commit()
    return world


def test_passes_at_once_earn_each_record_once(app, world):
    now, alice = world.now, world.alice.id
    db.session.commit()   # end the read the ids began: SQLite's BEGIN IMMEDIATE would hold the write lock
    at_once(app, lambda i: earning.catch_up(now=now), count=4)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PointsEarning)) == 12
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PointsTransfer).where(
            PointsTransfer.code == TransferCode.EARN)) == 12
        assert ledger.balance(ledger.account(PointsAccountKind.VOLUNTEER, alice, now).id) == 120


def test_gifts_at_once_keep_the_yearly_limit(app, world):
    points_rules.set_rules(world.admin.id, world.tree["district"].id, {"gift_max_per_year": 50}, now=world.now)
    db.session.commit()
    earning.catch_up(now=world.now)
    now, alice_id = world.now, world.alice.id
    db.session.commit()

    def give(i):
        return giving.gift(db.session.get(Volunteer, alice_id), "V0002", 10, f"tap-{i}", now=now).id

    outcomes = at_once(app, give, count=10)
    assert sum(isinstance(o, int) for o in outcomes) == 5
    assert outcomes.count("gift_limit_exceeded") == 5


def test_a_chunk_of_earnings_and_gifts_both_ways_at_once_neither_deadlock_nor_lose_a_point(app, world):
    # A pass earns a chunk of both volunteers' records in one transaction while they give each other
    # points: the chunk locks every account it moves first, in id order like a gift, so no lock cycle.
    now, alice_id, bob_id = world.now, world.alice.id, world.bob.id
    earning.catch_up(now=now)                       # alice holds 120
    db.session.add(ServiceRecord(volunteer_id=bob_id, activity_id=world.held.id, kind=RecordKind.ATTENDANCE,
                                 source=RecordSource.SCAN, minutes=60, created_at=now))
    giving.gift(db.session.get(Volunteer, alice_id), "V0002", 30, "seed", now=now)   # bob holds 30
    for volunteer_id in [alice_id, bob_id] * 20:
        db.session.add(ServiceRecord(volunteer_id=volunteer_id, activity_id=world.held.id, kind=RecordKind.ATTENDANCE,
                                     source=RecordSource.SCAN, minutes=30, created_at=now))
    db.session.commit()

    def work(i):
        if i < 2:
            return earning.catch_up(now=now)["records"]
        giver, number = (alice_id, "V0002") if i % 2 else (bob_id, "V0001")
        return giving.gift(db.session.get(Volunteer, giver), number, 1, f"both-ways-{i}", now=now).id

    at_once(app, work, count=10)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PointsEarning)) == 12 + 1 + 40
        balances = {volunteer_id: ledger.balance(ledger.account(PointsAccountKind.VOLUNTEER, volunteer_id, now).id)
                    for volunteer_id in (alice_id, bob_id)}
        # 4 gifts each way cancel out: alice 120 − 30 + 20 × 5, bob 30 + 10 + 20 × 5.
        assert balances == {alice_id: 190, bob_id: 140}
        assert db.session.scalar(sa.select(sa.func.sum(PointsAccount.balance))) == 0
