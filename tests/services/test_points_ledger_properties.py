"""A state machine over the points ledger: random earns, bonuses, gifts, corrections, expiries, holds
and their settlements, and retries of each with the same key, checked against a model after every step.

Invariants: the balances sum to zero (every transfer is balanced), no account but issuance is
negative, each balance equals its transfers' credits minus debits, and each idempotency key took
effect once (the transfers are exactly the successful keys). Refusals are predicted by the model,
so a wrong refusal fails as surely as a wrong success.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition, rule,
                                 run_state_machine_as_test)
from sqlalchemy import case, func, select

from app.errors import DomainError
from app.extensions import db
from app.services.points import ledger
from models.points import PointsAccount, PointsAccountKind as Kind, PointsEntry, PointsTransfer

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=timezone.utc)
REGION = 1
VOLUNTEERS = (11, 12, 13)
ORG = 21
HOLD_MINUTES = 60

amounts = st.integers(min_value=1, max_value=40)
volunteers = st.sampled_from(VOLUNTEERS)
picks = st.integers(min_value=0, max_value=10_000)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.savepoint = db.session.begin_nested()
        self.now = NOW
        self.serial = 0
        self.balances: dict[tuple[Kind, int], int] = {}
        self.done: list[tuple[str, object, int]] = []      # (key, the call to retry, transfer id)
        self.transfers: dict[int, dict] = {}                # id → the model's view of a successful transfer
        self.holds: list[int] = []

    def teardown(self) -> None:
        self.savepoint.rollback()

    # -- model helpers ----------------------------------------------------------------------------

    def key(self, what: str) -> str:
        self.serial += 1
        return f"{what}-{self.serial}"

    def bal(self, kind: Kind, owner: int) -> int:
        return self.balances.get((kind, owner), 0)

    def move(self, debit: tuple[Kind, int], credit: tuple[Kind, int], amount: int) -> None:
        self.balances[debit] = self.bal(*debit) - amount
        self.balances[credit] = self.bal(*credit) + amount

    def attempt(self, what: str, call, expected_error: str | None, debit, credit, amount: int, **facts):
        key = self.key(what)
        try:
            row = call(key)
        except DomainError as error:
            assert error.code == expected_error, (what, error.code, expected_error)
            return None
        assert expected_error is None, (what, "succeeded but the model expected", expected_error)
        self.move(debit, credit, amount)
        self.done.append((key, call, row.id))
        self.transfers[row.id] = {"debit": debit, "credit": credit, "amount": amount, "corrected": 0, **facts}
        return row

    # -- rules --------------------------------------------------------------------------------------

    @initialize(amount=st.integers(min_value=50, max_value=150))
    def seed(self, amount):
        """Start with points everywhere, so that spending is as often allowed as refused."""
        for volunteer in VOLUNTEERS:
            self.earn(volunteer, amount)
        self.fund_pool(amount)

    @rule(volunteer=volunteers, amount=amounts)
    def earn(self, volunteer, amount):
        self.attempt("earn", lambda k: ledger.earn(k, REGION, volunteer, amount, f"service_record:{volunteer}", self.now),
                     None, (Kind.ISSUANCE, REGION), (Kind.VOLUNTEER, volunteer), amount, code="earn")

    @rule(amount=amounts)
    def fund_pool(self, amount):
        pool = (Kind.ORG_POOL, ORG)
        self.attempt("fund", lambda k: ledger.transfer(
            k, ledger.account(Kind.ISSUANCE, REGION, self.now).id, ledger.account(Kind.ORG_POOL, ORG, self.now).id,
            amount, "fund", None, self.now), None, (Kind.ISSUANCE, REGION), pool, amount, code="fund")

    @rule(volunteer=volunteers, amount=amounts)
    def bonus(self, volunteer, amount):
        pool = (Kind.ORG_POOL, ORG)
        error = "insufficient_points" if self.bal(*pool) < amount else None
        self.attempt("bonus", lambda k: ledger.bonus(k, ORG, volunteer, amount, "activity:1", self.now),
                     error, pool, (Kind.VOLUNTEER, volunteer), amount, code="bonus")

    @rule(giver=volunteers, receiver=volunteers, amount=amounts)
    def gift(self, giver, receiver, amount):
        if giver == receiver:
            error = "points_same_account"
        else:
            error = "insufficient_points" if self.bal(Kind.VOLUNTEER, giver) < amount else None
        self.attempt("gift", lambda k: ledger.gift(k, giver, receiver, amount, None, self.now),
                     error, (Kind.VOLUNTEER, giver), (Kind.VOLUNTEER, receiver), amount, code="gift")

    @rule(volunteer=volunteers, amount=amounts)
    def expire_points(self, volunteer, amount):
        error = "insufficient_points" if self.bal(Kind.VOLUNTEER, volunteer) < amount else None
        self.attempt("expire", lambda k: ledger.expire_points(k, REGION, volunteer, amount, "year:2025", self.now),
                     error, (Kind.VOLUNTEER, volunteer), (Kind.EXPIRY, REGION), amount, code="expire")

    @precondition(lambda self: self.transfers)
    @rule(pick=picks, amount=amounts)
    def correct(self, pick, amount):
        ids = sorted(self.transfers)
        original_id = ids[pick % len(ids)]
        original = self.transfers[original_id]
        if original["code"] not in ("earn", "fund", "bonus", "gift", "expire"):
            error = "transfer_not_correctable"
        elif original["corrected"] + amount > original["amount"]:
            error = "correction_exceeds_transfer"
        elif original["credit"][0] != Kind.ISSUANCE and self.bal(*original["credit"]) < amount:
            error = "insufficient_points"
        else:
            error = None
        row = self.attempt("correct", lambda k: ledger.correct(k, original_id, amount, "correction:1", self.now),
                           error, original["credit"], original["debit"], amount, code="correct")
        if row is not None:
            original["corrected"] += amount

    @rule(volunteer=volunteers, amount=amounts)
    def hold(self, volunteer, amount):
        error = "insufficient_points" if self.bal(Kind.VOLUNTEER, volunteer) < amount else None
        expires_at = self.now + timedelta(minutes=HOLD_MINUTES)
        row = self.attempt("hold", lambda k: ledger.hold(k, REGION, volunteer, amount, "redemption:1", self.now,
                                                          expires_at),
                           error, (Kind.VOLUNTEER, volunteer), (Kind.HOLDS, REGION), amount, code="hold",
                           expires_at=expires_at, resolved=False)
        if row is not None:
            self.holds.append(row.id)

    @precondition(lambda self: self.holds)
    @rule(pick=picks, how=st.sampled_from(["post", "void", "hold_expire"]))
    def settle(self, pick, how):
        hold_id = self.holds[pick % len(self.holds)]
        pending = self.transfers[hold_id]
        expired = self.now >= pending["expires_at"]
        if pending["resolved"]:
            error = "hold_already_resolved"
        elif how == "post" and expired:
            error = "hold_expired"
        elif how == "hold_expire" and not expired:
            error = "hold_not_expired"
        else:
            error = None
        call = {"post": ledger.post, "void": ledger.void, "hold_expire": ledger.expire_hold}[how]
        target = (Kind.REDEMPTIONS, REGION) if how == "post" else pending["debit"]
        row = self.attempt(how, lambda k: call(k, hold_id, self.now), error, (Kind.HOLDS, REGION), target,
                           pending["amount"], code=how)
        if row is not None:
            pending["resolved"] = True

    @rule(minutes=st.sampled_from([10, 30, 90, 240]))
    def tick(self, minutes):
        self.now += timedelta(minutes=minutes)

    @precondition(lambda self: self.done)
    @rule(pick=picks)
    def retry(self, pick):
        key, call, transfer_id = self.done[pick % len(self.done)]
        assert call(key).id == transfer_id

    @precondition(lambda self: self.done)
    @rule(pick=picks, amount=amounts)
    def reuse_key_for_another_transfer(self, pick, amount):
        key, _, transfer_id = self.done[pick % len(self.done)]
        try:
            ledger.earn(key, REGION, VOLUNTEERS[0], 1000 + amount, "another", self.now)
        except DomainError as error:
            assert error.code == "idempotency_key_reused"
        else:
            raise AssertionError("a key was reused for another transfer")

    # -- invariants ---------------------------------------------------------------------------------

    @invariant()
    def balanced_and_nothing_negative(self):
        rows = db.session.execute(select(PointsAccount.kind, PointsAccount.owner_id, PointsAccount.balance)
                                  .execution_options(populate_existing=True)).all()
        assert sum(balance for _, _, balance in rows) == 0
        for kind, owner, balance in rows:
            assert balance >= 0 or Kind(kind) == Kind.ISSUANCE, (kind, owner, balance)
            assert balance == self.bal(Kind(kind), owner), (kind, owner)

    @invariant()
    def balances_are_the_sum_of_their_transfers(self):
        moved = {}
        for account_id, delta in db.session.execute(select(
                PointsAccount.id,
                func.coalesce(func.sum(case((PointsTransfer.credit_account_id == PointsAccount.id, PointsTransfer.amount),
                                            else_=-PointsTransfer.amount)), 0))
                .outerjoin(PointsTransfer, (PointsTransfer.credit_account_id == PointsAccount.id)
                           | (PointsTransfer.debit_account_id == PointsAccount.id))
                .group_by(PointsAccount.id)):
            moved[account_id] = delta
        for account_id, balance in db.session.execute(select(PointsAccount.id, PointsAccount.balance)):
            assert balance == moved[account_id], account_id

    @invariant()
    def entries_run_to_the_balance(self):
        """Two entries per transfer, and each account's entries are a running balance ending at its balance."""
        count = db.session.scalar(select(func.count()).select_from(PointsTransfer))
        entries = db.session.execute(select(PointsEntry.account_id, PointsEntry.amount, PointsEntry.balance_after)
                                     .order_by(PointsEntry.id)).all()
        assert len(entries) == 2 * count
        running: dict[int, int] = {}
        for account_id, amount, after in entries:
            running[account_id] = running.get(account_id, 0) + amount
            assert after == running[account_id]
        for account_id, balance in db.session.execute(select(PointsAccount.id, PointsAccount.balance)):
            assert running.get(account_id, 0) == balance

    @invariant()
    def each_key_took_effect_once(self):
        keys = db.session.scalars(select(PointsTransfer.idempotency_key)).all()
        assert sorted(keys) == sorted(key for key, _, _ in self.done)


def test_the_ledger_keeps_its_invariants_through_random_operations(app_context):
    run_state_machine_as_test(LedgerMachine, settings=settings(
        max_examples=30, stateful_step_count=30, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
