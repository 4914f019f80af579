"""The points ledger's refusals, one by one, and what the database itself refuses."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.errors import DomainError
from app.extensions import db
from app.services.points import ledger
from models.points import PointsAccount, PointsAccountKind as Kind, PointsTransfer

REGION, ALICE, BOB, ORG = 1, 11, 12, 21


def code_of(call) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


@pytest.fixture
def alice(app_context, now):
    """Alice with 100 points earned."""
    ledger.earn("earn-alice", REGION, ALICE, 100, "service_record:1", now)
    return ledger.account(Kind.VOLUNTEER, ALICE, now)


def test_an_earn_moves_points_from_issuance_and_the_ledger_sums_to_zero(alice, now):
    assert ledger.balance(alice.id) == 100
    issuance = ledger.account(Kind.ISSUANCE, REGION, now)
    assert issuance.allow_negative and ledger.balance(issuance.id) == -100
    assert db.session.scalar(sa.select(sa.func.sum(PointsAccount.balance))) == 0
    assert alice.version == 1


def test_the_history_shows_each_line_with_the_balance_after_it(alice, now):
    ledger.gift("gift-1", ALICE, BOB, 30, None, now)
    ledger.hold("hold-1", REGION, ALICE, 20, "redemption:1", now, now + timedelta(hours=1))
    lines = ledger.history(alice.id)
    assert [(e.amount, e.balance_after, t.code) for e, t in lines] == [(-20, 50, "hold"), (-30, 70, "gift"),
                                                                        (100, 100, "earn")]
    older = ledger.history(alice.id, limit=1, before_entry_id=lines[0][0].id)
    assert [e.id for e, _ in older] == [lines[1][0].id]


def test_account_is_got_or_created_once(app_context, now):
    first = ledger.account(Kind.VOLUNTEER, ALICE, now)
    assert ledger.account("volunteer", ALICE, now).id == first.id
    assert not first.allow_negative


def test_a_repeated_key_returns_the_first_transfer_and_moves_nothing(alice, now):
    again = ledger.earn("earn-alice", REGION, ALICE, 100, "service_record:1", now + timedelta(minutes=5))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PointsTransfer)) == 1
    assert again.idempotency_key == "earn-alice" and ledger.balance(alice.id) == 100


def test_a_repeated_key_with_another_body_is_refused(alice, now):
    assert code_of(lambda: ledger.earn("earn-alice", REGION, ALICE, 99, "service_record:1", now)) == "idempotency_key_reused"
    assert code_of(lambda: ledger.gift("earn-alice", ALICE, BOB, 100, "service_record:1", now)) == "idempotency_key_reused"


def test_spending_more_than_the_balance_is_refused(alice, now):
    with pytest.raises(DomainError) as caught:
        ledger.gift("gift-1", ALICE, BOB, 101, None, now)
    assert (caught.value.code, caught.value.status, caught.value.context) == (
        "insufficient_points", 409, {"available": 100, "required": 101})
    assert code_of(lambda: ledger.bonus("bonus-1", ORG, ALICE, 1, None, now)) == "insufficient_points"
    ledger.gift("gift-2", ALICE, BOB, 100, None, now)
    assert ledger.balance(alice.id) == 0


def test_amounts_must_be_positive_and_accounts_distinct(alice, now):
    assert code_of(lambda: ledger.gift("g0", ALICE, BOB, 0, None, now)) == "points_amount_invalid"
    assert code_of(lambda: ledger.gift("g-", ALICE, BOB, -5, None, now)) == "points_amount_invalid"
    assert code_of(lambda: ledger.gift("g=", ALICE, ALICE, 5, None, now)) == "points_same_account"
    assert code_of(lambda: ledger.transfer("gx", alice.id, 999_999, 5, "gift", None, now)) == "points_account_not_found"
    assert code_of(lambda: ledger.balance(999_999)) == "points_account_not_found"


def test_a_correction_reverses_at_most_what_is_left(alice, now):
    earned = db.session.scalar(sa.select(PointsTransfer).where(PointsTransfer.idempotency_key == "earn-alice"))
    ledger.correct("fix-1", earned.id, 60, "correction_record:1", now)
    assert ledger.balance(alice.id) == 40
    assert code_of(lambda: ledger.correct("fix-2", earned.id, 41, None, now)) == "correction_exceeds_transfer"
    fix = ledger.correct("fix-3", earned.id, 40, None, now)
    assert fix.corrects_transfer_id == earned.id and ledger.balance(alice.id) == 0
    assert code_of(lambda: ledger.correct("fix-4", fix.id, 1, None, now)) == "transfer_not_correctable"
    assert code_of(lambda: ledger.correct("fix-5", 999_999, 1, None, now)) == "points_transfer_not_found"


def test_a_correction_cannot_take_back_points_already_spent(alice, now):
    earned = db.session.scalar(sa.select(PointsTransfer).where(PointsTransfer.idempotency_key == "earn-alice"))
    ledger.gift("gift", ALICE, BOB, 90, None, now)
    assert code_of(lambda: ledger.correct("fix", earned.id, 20, None, now)) == "insufficient_points"


def test_a_hold_takes_the_points_at_once_and_a_post_settles_it_once(alice, now):
    held = ledger.hold("hold-1", REGION, ALICE, 30, "redemption:1", now, now + timedelta(hours=1))
    assert ledger.balance(alice.id) == 70
    assert code_of(lambda: ledger.gift("gift", ALICE, BOB, 71, None, now)) == "insufficient_points"
    ledger.post("post-1", held.id, now + timedelta(minutes=10))
    assert ledger.balance(ledger.account(Kind.REDEMPTIONS, REGION, now).id) == 30
    assert ledger.balance(ledger.account(Kind.HOLDS, REGION, now).id) == 0
    assert code_of(lambda: ledger.void("void-1", held.id, now)) == "hold_already_resolved"
    assert code_of(lambda: ledger.post("post-2", held.id, now)) == "hold_already_resolved"
    assert ledger.post("post-1", held.id, now).pending_transfer_id == held.id  # the retry


def test_a_void_returns_the_points(alice, now):
    held = ledger.hold("hold-1", REGION, ALICE, 30, "redemption:1", now, now + timedelta(hours=1))
    ledger.void("void-1", held.id, now)
    assert ledger.balance(alice.id) == 100


def test_a_hold_expires_only_after_its_time_and_cannot_be_posted_then(alice, now):
    held = ledger.hold("hold-1", REGION, ALICE, 30, "redemption:1", now, now + timedelta(hours=1))
    assert code_of(lambda: ledger.expire_hold("exp-1", held.id, now + timedelta(minutes=59))) == "hold_not_expired"
    assert code_of(lambda: ledger.post("post-1", held.id, now + timedelta(hours=1))) == "hold_expired"
    ledger.expire_hold("exp-2", held.id, now + timedelta(hours=1))
    assert ledger.balance(alice.id) == 100


def test_only_holds_are_settled_and_holds_only_by_settlement(alice, now):
    earned = db.session.scalar(sa.select(PointsTransfer).where(PointsTransfer.idempotency_key == "earn-alice"))
    assert code_of(lambda: ledger.post("post", earned.id, now)) == "hold_not_found"
    assert code_of(lambda: ledger.void("void", 999_999, now)) == "hold_not_found"
    held = ledger.hold("hold-1", REGION, ALICE, 30, "redemption:1", now, now + timedelta(hours=1))
    assert code_of(lambda: ledger.correct("fix", held.id, 1, None, now)) == "transfer_not_correctable"
    with pytest.raises(ValueError):
        ledger.transfer("raw-post", held.credit_account_id, alice.id, 30, "post", None, now)


def test_a_transfer_goes_only_between_the_kinds_its_code_names(alice, now):
    pool = ledger.account(Kind.ORG_POOL, ORG, now)
    with pytest.raises(ValueError):
        ledger.transfer("earn-to-pool", ledger.account(Kind.ISSUANCE, REGION, now).id, pool.id, 5, "earn", None, now)
    with pytest.raises(ValueError):
        ledger.transfer("gift-to-pool", alice.id, pool.id, 5, "gift", None, now)
    ledger.transfer("fund", ledger.account(Kind.ISSUANCE, REGION, now).id, pool.id, 5, "fund", None, now)
    assert ledger.balance(pool.id) == 5


def test_points_expire_into_the_expiry_account(alice, now):
    ledger.expire_points("expire-2025", REGION, ALICE, 100, "year:2025", now)
    assert ledger.balance(alice.id) == 0
    assert ledger.balance(ledger.account(Kind.EXPIRY, REGION, now).id) == 100


# ------------------------------------------------------------------ what the database refuses on its own

def raw(sql: str, **params) -> None:
    with db.session.begin_nested():
        db.session.execute(sa.text(sql), params)


def test_the_database_refuses_an_overdraft_written_directly(alice, now):
    bob = ledger.account(Kind.VOLUNTEER, BOB, now)
    with pytest.raises(IntegrityError):
        raw("INSERT INTO points_transfers (idempotency_key, debit_account_id, credit_account_id, amount, code, "
            "event_at, created_at) VALUES ('raw', :d, :c, 101, 'gift', :now, :now)", d=alice.id, c=bob.id, now=now)
    assert ledger.balance(alice.id) == 100


def test_the_database_refuses_non_positive_and_self_transfers(alice, now):
    bob = ledger.account(Kind.VOLUNTEER, BOB, now)
    for amount, credit in ((0, bob.id), (-1, bob.id), (1, alice.id)):
        with pytest.raises(IntegrityError):
            raw("INSERT INTO points_transfers (idempotency_key, debit_account_id, credit_account_id, amount, code, "
                "event_at, created_at) VALUES (:k, :d, :c, :a, 'gift', :now, :now)",
                k=f"raw-{amount}-{credit}", d=alice.id, c=credit, a=amount, now=now)


def test_the_database_applies_a_direct_insert_to_both_balances(alice, now):
    bob = ledger.account(Kind.VOLUNTEER, BOB, now)
    raw("INSERT INTO points_transfers (idempotency_key, debit_account_id, credit_account_id, amount, code, "
        "event_at, created_at) VALUES ('raw', :d, :c, 40, 'gift', :now, :now)", d=alice.id, c=bob.id, now=now)
    assert (ledger.balance(alice.id), ledger.balance(bob.id)) == (60, 40)


def test_the_database_refuses_a_changed_transfer_or_entry(alice):
    with pytest.raises(DBAPIError):
        raw("UPDATE points_transfers SET amount = 1000")
    with pytest.raises(DBAPIError):
        raw("UPDATE points_entries SET balance_after = 1000")
    assert ledger.balance(alice.id) == 100


def test_the_database_refuses_a_volunteer_account_allowed_negative_or_born_with_points(alice, now):
    with pytest.raises(DBAPIError):
        raw("INSERT INTO points_accounts (kind, owner_id, balance, version, allow_negative, created_at) "
            "VALUES ('volunteer', 99, 0, 0, :t, :now)", t=True, now=now)
    with pytest.raises(DBAPIError):
        raw("INSERT INTO points_accounts (kind, owner_id, balance, version, allow_negative, created_at) "
            "VALUES ('volunteer', 98, 500, 0, :f, :now)", f=False, now=now)


def test_on_postgresql_balances_move_only_through_transfers_and_transfers_are_never_deleted(alice):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no pg_trigger_depth(); the suite empties tables with DELETE (see ARCHITECTURE.md)")
    with pytest.raises(DBAPIError, match="only through points_transfers"):
        raw("UPDATE points_accounts SET balance = balance + 1000 WHERE id = :id", id=alice.id)
    with pytest.raises(DBAPIError, match="immutable"):
        raw("DELETE FROM points_transfers")
    with pytest.raises(DBAPIError, match="immutable"):
        raw("DELETE FROM points_entries")
    with pytest.raises(DBAPIError, match="only by points_transfers"):
        raw("INSERT INTO points_entries (account_id, transfer_id, amount, balance_after) "
            "SELECT account_id, transfer_id + 0, 5, 5 FROM points_entries LIMIT 1")
    assert ledger.balance(alice.id) == 100
