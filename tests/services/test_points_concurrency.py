"""The points ledger under real concurrency: threads with their own app contexts (own sessions and
connections) released together by a barrier, calling the service as a handler would, then committing.

The control at the end bypasses the service: naive spenders read the balance without a lock and
insert transfers with plain SQL. More of them pass their own check than the balance covers (the race
happens), yet the database lets exactly the covered ones commit: the guarantee is the database's.
That control needs row-level concurrency, so it runs on PostgreSQL only; SQLite serialises writers
(BEGIN IMMEDIATE), where the rest of this module still runs.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.errors import DomainError
from app.extensions import db
from app.services.points import ledger
from models.points import PointsAccount, PointsAccountKind as Kind, PointsTransfer

THREADS = 20
REGION, ALICE, BOB = 1, 11, 12


def at_once(app, work, count: int = THREADS) -> list:
    """Run work(i) in `count` threads released together; each commits, or rolls back and returns the error code."""
    barrier = threading.Barrier(count)

    def run(i: int):
        with app.app_context():
            barrier.wait(timeout=30)
            try:
                result = work(i)
                db.session.commit()
                return result
            except DomainError as error:
                db.session.rollback()
                return error.code
            except IntegrityError:
                db.session.rollback()
                return "integrity_error"

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


@pytest.fixture
def funded(app, now):
    """Alice holds 10 points."""
    with app.app_context():
        ledger.earn("earn-alice", REGION, ALICE, 10, "service_record:1", now)
        account_id = ledger.account(Kind.VOLUNTEER, ALICE, now).id
        db.session.commit()
    return account_id


def state(app, account_id: int) -> dict:
    with app.app_context():
        return {"balance": ledger.balance(account_id),
                "sum": db.session.scalar(sa.select(sa.func.sum(PointsAccount.balance))),
                "transfers": db.session.scalar(sa.select(sa.func.count()).select_from(PointsTransfer))}


def test_twenty_holds_against_a_balance_covering_ten_let_exactly_ten_through(app, funded, now):
    outcomes = at_once(app, lambda i: ledger.hold(f"hold-{i}", REGION, ALICE, 1, f"redemption:{i}", now,
                                                  now + timedelta(hours=1)).id)
    assert sum(isinstance(o, int) for o in outcomes) == 10
    assert outcomes.count("insufficient_points") == 10
    assert state(app, funded) == {"balance": 0, "sum": 0, "transfers": 11}


def test_gifts_both_ways_at_once_never_deadlock_nor_overdraw(app, funded, now):
    with app.app_context():
        ledger.earn("earn-bob", REGION, BOB, 10, None, now)
        bob = ledger.account(Kind.VOLUNTEER, BOB, now).id
        db.session.commit()
    outcomes = at_once(app, lambda i: ledger.gift(f"gift-{i}", *((ALICE, BOB) if i % 2 else (BOB, ALICE)), 3, None,
                                                  now).id)
    assert all(isinstance(o, int) or o == "insufficient_points" for o in outcomes)
    assert state(app, funded)["sum"] == 0
    balances = ledger_balances(app, funded, bob)
    assert min(balances) >= 0 and sum(balances) == 20


def ledger_balances(app, *account_ids: int) -> tuple[int, ...]:
    with app.app_context():
        return tuple(ledger.balance(a) for a in account_ids)


def test_twenty_retries_of_one_key_at_once_make_one_transfer(app, funded, now):
    outcomes = at_once(app, lambda i: ledger.hold("one-tap", REGION, ALICE, 4, "redemption:1", now,
                                                  now + timedelta(hours=1)).id)
    assert len(set(outcomes)) == 1 and isinstance(outcomes[0], int)
    assert state(app, funded) == {"balance": 6, "sum": 0, "transfers": 2}


def test_one_hold_settled_from_twenty_sides_at_once_is_settled_once(app, funded, now):
    with app.app_context():
        hold_id = ledger.hold("hold", REGION, ALICE, 4, "redemption:1", now, now + timedelta(hours=1)).id
        db.session.commit()
    settle = (ledger.post, ledger.void)
    outcomes = at_once(app, lambda i: settle[i % 2](f"settle-{i}", hold_id, now).id)
    assert sum(isinstance(o, int) for o in outcomes) == 1
    assert outcomes.count("hold_already_resolved") == THREADS - 1
    balance = state(app, funded)
    assert balance["transfers"] == 3 and balance["sum"] == 0 and balance["balance"] in (6, 10)


def test_twenty_first_uses_of_an_account_at_once_create_it_once(app, now):
    outcomes = at_once(app, lambda i: ledger.account(Kind.VOLUNTEER, 77, now).id)
    assert len(set(outcomes)) == 1 and isinstance(outcomes[0], int)


def test_control_naive_spenders_race_past_their_check_and_the_database_stops_them(app, funded, now):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite serialises writers; the race this control provokes cannot happen there")
        bob = ledger.account(Kind.VOLUNTEER, BOB, now).id
        db.session.commit()
    passed_check = []

    def naive(i: int):
        # What a service without locks would do: read, decide, write.
        available = db.session.scalar(sa.text("SELECT balance FROM points_accounts WHERE id = :id"), {"id": funded})
        time.sleep(0.05)
        if available >= 1:
            passed_check.append(i)
            db.session.execute(sa.text(
                "INSERT INTO points_transfers (idempotency_key, debit_account_id, credit_account_id, amount, code, "
                "event_at, created_at) VALUES (:k, :d, :c, 1, 'gift', :now, :now)"),
                {"k": f"naive-{i}", "d": funded, "c": bob, "now": now})
        return "inserted"

    outcomes = at_once(app, naive)
    assert len(passed_check) > 10  # the race happened: more spenders believed the balance covered them
    assert outcomes.count("inserted") == 10
    assert outcomes.count("integrity_error") == THREADS - 10
    assert state(app, funded) == {"balance": 0, "sum": 0, "transfers": 11}
