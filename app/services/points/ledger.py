"""The points ledger: every change of a balance is one immutable transfer between two accounts.

The database applies a transfer to both balances (trigger on INSERT) and refuses an overdraft
(CHECK on points_accounts), so this module cannot corrupt the ledger even if it is wrong; what it
adds is a coded, Chinese refusal before the database has to, idempotency by the caller's key, and
the order of locks. Nothing here commits: the caller's transaction is the unit.

Concurrency (PostgreSQL): the two accounts are locked with SELECT … FOR UPDATE in ascending id
order, so two transfers over the same pair cannot deadlock, and the balance read under the lock is
the one the insert will change. The idempotency key is looked up again after the lock: a retry that
waited behind the first attempt then finds its committed transfer and returns it. The unique key
stays the final word if two attempts still meet at the insert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.db import upsert_insert
from app.errors import DomainError, NotFound
from app.extensions import db
from models.points import (HOLD_RESOLUTIONS, PointsAccount, PointsAccountKind, PointsEntry, PointsTransfer,
                           TransferCode)

Kind = PointsAccountKind
Code = TransferCode

# Transfers a correcting transfer may reverse; holds are settled by void instead, corrections are not corrected.
CORRECTABLE = frozenset({Code.EARN, Code.FUND, Code.BONUS, Code.GIFT, Code.EXPIRE})

# Which kinds of account each code moves points between (debit, credit); a correction reverses one of
# the correctable pairs. A call outside these is a programming error, not a user's: ValueError.
ROUTES: dict[TransferCode, frozenset[tuple[PointsAccountKind, PointsAccountKind]]] = {
    Code.EARN: frozenset({(Kind.ISSUANCE, Kind.VOLUNTEER)}),
    Code.FUND: frozenset({(Kind.ISSUANCE, Kind.ORG_POOL), (Kind.ISSUANCE, Kind.SPONSOR)}),
    Code.BONUS: frozenset({(Kind.ORG_POOL, Kind.VOLUNTEER)}),
    Code.GIFT: frozenset({(Kind.VOLUNTEER, Kind.VOLUNTEER)}),
    Code.EXPIRE: frozenset({(Kind.VOLUNTEER, Kind.EXPIRY)}),
    Code.HOLD: frozenset({(Kind.VOLUNTEER, Kind.HOLDS)}),
    Code.POST: frozenset({(Kind.HOLDS, Kind.REDEMPTIONS), (Kind.HOLDS, Kind.SPONSOR)}),
    Code.VOID: frozenset({(Kind.HOLDS, Kind.VOLUNTEER)}),
    Code.HOLD_EXPIRE: frozenset({(Kind.HOLDS, Kind.VOLUNTEER)}),
}
ROUTES[Code.CORRECT] = frozenset((credit, debit) for code in CORRECTABLE for debit, credit in ROUTES[code])


def insufficient(balance: int, amount: int) -> DomainError:
    return DomainError("insufficient_points", f"积分不足：可用 {balance} 分，需要 {amount} 分", 409,
                       context={"available": balance, "required": amount})


# ------------------------------------------------------------------------------------------ accounts

def account(kind: PointsAccountKind | str, owner_id: int, now: datetime) -> PointsAccount:
    """The account of (kind, owner), created if missing; safe when two requests create it at once."""
    kind = Kind(kind)
    found = db.session.scalar(select(PointsAccount).where(PointsAccount.kind == kind, PointsAccount.owner_id == owner_id))
    if found is not None:
        return found
    # INSERT … ON CONFLICT DO NOTHING: the loser of a race inserts nothing and reads the winner's row.
    db.session.execute(upsert_insert(PointsAccount).values(
        kind=kind.value, owner_id=owner_id, balance=0, version=0, allow_negative=kind == Kind.ISSUANCE,
        created_at=now).on_conflict_do_nothing(index_elements=["kind", "owner_id"]))
    return db.session.scalars(select(PointsAccount).where(
        PointsAccount.kind == kind, PointsAccount.owner_id == owner_id)).one()


def balance(account_id: int) -> int:
    value = db.session.scalar(select(PointsAccount.balance).where(PointsAccount.id == account_id))
    if value is None:
        raise NotFound("points_account_not_found", "找不到该积分账户")
    return value


def history(account_id: int, limit: int = 20, before_entry_id: int | None = None) -> list[tuple[PointsEntry, PointsTransfer]]:
    """The account's lines, newest first, each with the balance after it: keyset paging on (account_id, id)."""
    query = (select(PointsEntry, PointsTransfer).join(PointsTransfer, PointsTransfer.id == PointsEntry.transfer_id)
             .where(PointsEntry.account_id == account_id).order_by(PointsEntry.id.desc()).limit(limit))
    if before_entry_id is not None:
        query = query.where(PointsEntry.id < before_entry_id)
    return [(entry, row) for entry, row in db.session.execute(query)]


# ------------------------------------------------------------------------------------------ transfers

@dataclass(frozen=True)
class _Spec:
    """What a transfer is, for comparing a repeated idempotency key with the first request."""

    debit_account_id: int
    credit_account_id: int
    amount: int
    code: TransferCode
    reference: str | None = None
    corrects_transfer_id: int | None = None
    pending_transfer_id: int | None = None
    memo: str | None = None

    @classmethod
    def of(cls, row: PointsTransfer) -> "_Spec":
        return cls(row.debit_account_id, row.credit_account_id, row.amount, Code(row.code), row.reference,
                   row.corrects_transfer_id, row.pending_transfer_id, row.memo)


def _by_key(key: str) -> PointsTransfer | None:
    return db.session.scalar(select(PointsTransfer).where(PointsTransfer.idempotency_key == key))


def _replay(existing: PointsTransfer, spec: _Spec) -> PointsTransfer:
    if _Spec.of(existing) != spec:
        raise DomainError("idempotency_key_reused", "该幂等键已用于另一笔不同的积分转账", 409)
    return existing


def _lock(*account_ids: int) -> dict[int, PointsAccount]:
    """Lock the accounts in ascending id order (no deadlock between opposite transfers); fresh rows."""
    ids = sorted(set(account_ids))
    rows = db.session.scalars(select(PointsAccount).where(PointsAccount.id.in_(ids)).order_by(PointsAccount.id)
                              .with_for_update().execution_options(populate_existing=True)).all()
    if len(rows) != len(ids):
        raise NotFound("points_account_not_found", "找不到该积分账户")
    return {row.id: row for row in rows}


def _record(key: str, spec: _Spec, now: datetime, *, check=None, expires_at: datetime | None = None,
            event_at: datetime | None = None) -> PointsTransfer:
    if not isinstance(spec.amount, int) or spec.amount <= 0:
        raise DomainError("points_amount_invalid", "积分数必须是正整数", 422)
    if spec.debit_account_id == spec.credit_account_id:
        raise DomainError("points_same_account", "不能在同一账户内转账", 422)
    existing = _by_key(key)
    if existing is not None:
        return _replay(existing, spec)
    accounts = _lock(spec.debit_account_id, spec.credit_account_id)
    # Under the lock: a concurrent attempt with this key has committed or rolled back by now.
    existing = _by_key(key)
    if existing is not None:
        return _replay(existing, spec)
    if check is not None:
        check()
    debit = accounts[spec.debit_account_id]
    route = (Kind(debit.kind), Kind(accounts[spec.credit_account_id].kind))
    if route not in ROUTES[spec.code]:
        raise ValueError(f"a {spec.code} transfer does not go from {route[0]} to {route[1]}")
    if not debit.allow_negative and debit.balance < spec.amount:
        raise insufficient(debit.balance, spec.amount)
    row = PointsTransfer(idempotency_key=key, debit_account_id=spec.debit_account_id,
                         credit_account_id=spec.credit_account_id, amount=spec.amount, code=spec.code,
                         reference=spec.reference, corrects_transfer_id=spec.corrects_transfer_id,
                         pending_transfer_id=spec.pending_transfer_id, memo=spec.memo, expires_at=expires_at,
                         event_at=event_at or now, created_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        # The database had the last word: the key was taken meanwhile, or the CHECK refused the balance.
        existing = _by_key(key)
        if existing is not None:
            return _replay(existing, spec)
        current = balance(spec.debit_account_id)
        if current < spec.amount:
            raise insufficient(current, spec.amount) from None
        raise
    # The trigger moved both balances; the session's copies are stale.
    for acc in accounts.values():
        db.session.expire(acc)
    return row


def transfer(idem_key: str, debit_account_id: int, credit_account_id: int, amount: int, code: TransferCode | str,
             reference: str | None, now: datetime, *, event_at: datetime | None = None,
             memo: str | None = None) -> PointsTransfer:
    """Move `amount` from debit to credit once per key; a repeat returns the first transfer."""
    code = Code(code)
    if code in HOLD_RESOLUTIONS or code in (Code.HOLD, Code.CORRECT):
        raise ValueError(f"use hold/post/void/expire_hold/correct for {code}")
    return _record(idem_key, _Spec(debit_account_id, credit_account_id, amount, code, reference, memo=memo), now,
                   event_at=event_at)


def earn_locked(idem_key: str, issuance_account_id: int, volunteer_account_id: int, amount: int,
                reference: str | None, now: datetime) -> PointsTransfer:
    """An earning for a caller that holds both accounts' locks and owns the key: one INSERT.

    For the earning pass only, whose earning row (primary key: the record) is claimed in the same
    transaction, so no other transaction can be writing this key; a key taken anyway fails the
    INSERT, and the caller's transaction with it. Issuance may go negative and a volunteer is only
    credited, so there is no balance to check. The row is inserted with the session's next flush (the
    caller's next query or its commit), so a chunk of earnings is sent as one batched INSERT.
    """
    if not isinstance(amount, int) or amount <= 0:
        raise DomainError("points_amount_invalid", "积分数必须是正整数", 422)
    row = PointsTransfer(idempotency_key=idem_key, debit_account_id=issuance_account_id,
                         credit_account_id=volunteer_account_id, amount=amount, code=Code.EARN, reference=reference,
                         event_at=now, created_at=now)
    db.session.add(row)
    return row


def earn(idem_key: str, region_id: int, volunteer_id: int, amount: int, reference: str | None,
         now: datetime) -> PointsTransfer:
    issuance = account(Kind.ISSUANCE, region_id, now)
    return transfer(idem_key, issuance.id, account(Kind.VOLUNTEER, volunteer_id, now).id, amount, Code.EARN,
                    reference, now)


def bonus(idem_key: str, organization_id: int, volunteer_id: int, amount: int, reference: str | None,
          now: datetime, *, memo: str | None = None) -> PointsTransfer:
    pool = account(Kind.ORG_POOL, organization_id, now)
    return transfer(idem_key, pool.id, account(Kind.VOLUNTEER, volunteer_id, now).id, amount, Code.BONUS,
                    reference, now, memo=memo)


def gift(idem_key: str, from_volunteer_id: int, to_volunteer_id: int, amount: int, reference: str | None,
         now: datetime) -> PointsTransfer:
    giver = account(Kind.VOLUNTEER, from_volunteer_id, now)
    return transfer(idem_key, giver.id, account(Kind.VOLUNTEER, to_volunteer_id, now).id, amount, Code.GIFT,
                    reference, now)


def expire_points(idem_key: str, region_id: int, volunteer_id: int, amount: int, reference: str | None,
                  now: datetime) -> PointsTransfer:
    volunteer = account(Kind.VOLUNTEER, volunteer_id, now)
    return transfer(idem_key, volunteer.id, account(Kind.EXPIRY, region_id, now).id, amount, Code.EXPIRE,
                    reference, now)


# ------------------------------------------------------------------------------------------ corrections

def correct(idem_key: str, transfer_id: int, amount: int, reference: str | None, now: datetime) -> PointsTransfer:
    """Reverse `amount` of an earlier transfer (never more than what is left uncorrected)."""
    original = db.session.get(PointsTransfer, transfer_id)
    if original is None:
        raise NotFound("points_transfer_not_found", "找不到该积分转账")
    spec = _Spec(original.credit_account_id, original.debit_account_id, amount, Code.CORRECT, reference,
                 corrects_transfer_id=original.id)

    def check() -> None:
        if Code(original.code) not in CORRECTABLE:
            raise DomainError("transfer_not_correctable", "该转账不能冲正（冻结请撤销，冲正记录不能再冲正）", 409)
        # Read under the account locks: corrections of this transfer touch the same two accounts.
        done = db.session.scalar(select(func.coalesce(func.sum(PointsTransfer.amount), 0)).where(
            PointsTransfer.corrects_transfer_id == original.id))
        if done + amount > original.amount:
            raise DomainError("correction_exceeds_transfer", f"冲正数额超过原转账剩余的 {original.amount - done} 分", 409,
                              context={"remaining": original.amount - done})

    return _record(idem_key, spec, now, check=check)


# ------------------------------------------------------------------------------------------ two-phase holds

def hold(idem_key: str, region_id: int, volunteer_id: int, amount: int, reference: str | None, now: datetime,
         expires_at: datetime) -> PointsTransfer:
    """Reserve points at once: they leave the volunteer's balance for the region's holds account."""
    volunteer = account(Kind.VOLUNTEER, volunteer_id, now)
    holds = account(Kind.HOLDS, region_id, now)
    return _record(idem_key, _Spec(volunteer.id, holds.id, amount, Code.HOLD, reference), now, expires_at=expires_at)


def _resolve(idem_key: str, hold_id: int, code: TransferCode, now: datetime, *,
             sponsor_organization_id: int | None = None) -> PointsTransfer:
    pending = db.session.get(PointsTransfer, hold_id)
    if pending is None or Code(pending.code) != Code.HOLD:
        raise NotFound("hold_not_found", "找不到该积分冻结")
    holds = db.session.get(PointsAccount, pending.credit_account_id)
    if code == Code.POST and sponsor_organization_id is not None:
        target = account(Kind.SPONSOR, sponsor_organization_id, now).id
    elif code == Code.POST:
        target = account(Kind.REDEMPTIONS, holds.owner_id, now).id
    else:
        target = pending.debit_account_id
    spec = _Spec(pending.credit_account_id, target, pending.amount, code, pending.reference,
                 pending_transfer_id=pending.id)

    def check() -> None:
        # Under the lock of the holds account, so two settlements of one hold are serialised here.
        if db.session.scalar(select(PointsTransfer.id).where(PointsTransfer.pending_transfer_id == pending.id)):
            raise DomainError("hold_already_resolved", "该积分冻结已兑付、撤销或过期", 409)
        expired = pending.expires_at is not None and now >= pending.expires_at
        if code == Code.POST and expired:
            raise DomainError("hold_expired", "该积分冻结已过期，不能兑付", 409)
        if code == Code.HOLD_EXPIRE and not expired:
            raise DomainError("hold_not_expired", "该积分冻结尚未到期", 409)

    return _record(idem_key, spec, now, check=check)


def post(idem_key: str, hold_id: int, now: datetime, *, sponsor_organization_id: int | None = None) -> PointsTransfer:
    """The reward was handed over: the held points go to the region's redemptions account, or to the
    sponsor organisation's account (created on first use) when a sponsor's reward was honoured."""
    return _resolve(idem_key, hold_id, Code.POST, now, sponsor_organization_id=sponsor_organization_id)


def void(idem_key: str, hold_id: int, now: datetime) -> PointsTransfer:
    """The volunteer cancelled: the held points return."""
    return _resolve(idem_key, hold_id, Code.VOID, now)


def expire_hold(idem_key: str, hold_id: int, now: datetime) -> PointsTransfer:
    """The hold ran out unfulfilled: the held points return."""
    return _resolve(idem_key, hold_id, Code.HOLD_EXPIRE, now)
