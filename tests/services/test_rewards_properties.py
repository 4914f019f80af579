"""A state machine over redemption: random redeems, voids, scans (token or code), expiries and retries,
checked against a model after every step. Invariants: units are conserved (stock + held + fulfilled
= the initial stock), stock is never negative, every balance is what the model says and the ledger
sums to zero, each settlement took effect once. Refusals are predicted by the model.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, select

from app.errors import DomainError
from app.extensions import db
from app.services.points import ledger
from app.services.rewards import catalogue, redemptions
from models import PointsAccount, Redemption, RedemptionStatus, Reward
from tests import factories as f

STOCK, PRICE, LIMIT, START = 3, 20, 2, 50
picks = st.integers(min_value=0, max_value=10_000)


def machine_for(world):
    class RedemptionMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.savepoint = db.session.begin_nested()
            self.stock = STOCK
            self.balances = {person.id: START for person in world["people"]}
            self.rows: dict[int, dict] = {}

        def teardown(self) -> None:
            self.savepoint.rollback()
            db.session.expire_all()

        def counted(self, volunteer_id):
            return sum(1 for row in self.rows.values() if row["volunteer"] == volunteer_id
                       and row["status"] in ("held", "fulfilled"))

        def expect(self, call, expected):
            try:
                result = call()
            except DomainError as error:
                assert error.code == expected, (error.code, expected)
                return None
            assert expected is None, ("succeeded, the model expected", expected)
            return result

        @rule(who=st.sampled_from(range(3)))
        def redeem(self, who):
            person = world["people"][who]
            if self.counted(person.id) >= LIMIT:
                expected = "redemption_limit_reached"
            elif self.balances[person.id] < PRICE:
                expected = "insufficient_points"
            elif self.stock == 0:
                expected = "out_of_stock"
            else:
                expected = None
            row = self.expect(lambda: redemptions.redeem(person.account, world["reward_id"], now=world["now"]), expected)
            if row is not None:
                self.stock -= 1
                self.balances[person.id] -= PRICE
                self.rows[row.id] = {"volunteer": person.id, "status": "held", "token": row.pickup_token,
                                     "code": row.pickup_code, "account": person.account}

        def pick(self, n):
            ids = sorted(self.rows)
            return ids[n % len(ids)]

        @precondition(lambda self: self.rows)
        @rule(n=picks)
        def void(self, n):
            rid = self.pick(n)
            row = self.rows[rid]
            held = row["status"] == "held"
            self.expect(lambda: redemptions.void(row["account"], rid, now=world["now"]),
                        None if held else "redemption_not_held")
            if held:
                row["status"] = "voided"
                self.stock += 1
                self.balances[row["volunteer"]] += PRICE

        @precondition(lambda self: self.rows)
        @rule(n=picks, by_code=st.booleans())
        def scan(self, n, by_code):
            rid = self.pick(n)
            row = self.rows[rid]
            held = row["status"] == "held"
            how = {"code": row["code"]} if by_code else {"token": row["token"]}
            expected = None if held else ("pickup_code_invalid" if by_code else "redemption_not_held")
            self.expect(lambda: redemptions.fulfil(world["organizer_id"], world["org_id"], now=world["now"], **how),
                        expected)
            if held:
                row["status"] = "fulfilled"

        @precondition(lambda self: self.rows)
        @rule(n=picks)
        def expire(self, n):
            rid = self.pick(n)
            row = self.rows[rid]
            later = db.session.get(Redemption, rid).hold_expires_at
            assert redemptions.expire(rid, now=later) is (row["status"] == "held")
            if row["status"] == "held":
                row["status"] = "expired"
                self.stock += 1
                self.balances[row["volunteer"]] += PRICE

        @invariant()
        def conserved(self):
            stock = db.session.scalar(select(Reward.stock).where(Reward.id == world["reward_id"]))
            assert stock == self.stock >= 0
            statuses = dict(db.session.execute(select(Redemption.status, func.count()).group_by(Redemption.status)).all())
            live = statuses.get(RedemptionStatus.HELD, 0) + statuses.get(RedemptionStatus.FULFILLED, 0)
            assert stock + live == STOCK
            for volunteer_id, expected in self.balances.items():
                assert ledger.account(ledger.Kind.VOLUNTEER, volunteer_id, world["now"]).balance == expected
            assert db.session.scalar(select(func.sum(PointsAccount.balance))) == 0

    return RedemptionMachine


def test_redemption_keeps_its_invariants_through_random_operations(app_context, now):
    w = f.World(now).build("tree", "org", "organizer")
    reward = catalogue.publish(w.organizer.id, w.org.id, {
        "kind": "goods", "title": "环保袋", "points_price": PRICE, "stock": STOCK, "limit_per_person": LIMIT,
        "valid_from": now - timedelta(days=1), "valid_until": now + timedelta(days=30), "pickup_place": "服务站"}, now=now)
    people = [w.alice, w.bob, f.approved_volunteer("rw_prop_carol", w.tree["community"], now)]
    for person in people:
        ledger.earn(f"earn-prop-{person.id}", reward.region_id, person.id, START, None, now)
    db.session.flush()
    world = {"now": now, "reward_id": reward.id, "org_id": w.org.id, "organizer_id": w.organizer.id, "people": people}
    run_state_machine_as_test(machine_for(world), settings=settings(
        max_examples=25, stateful_step_count=15, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
