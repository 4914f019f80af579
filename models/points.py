"""Points (积分): a double-entry ledger of accounts and immutable transfers between them.

Every transfer moves a positive amount from one account (debit) to another (credit), so the sum of
all balances is zero by construction. The balances are applied by a database trigger on INSERT into
points_transfers (migration 0022), not by Python: a CHECK then refuses any balance below zero on an
account that may not go negative, whoever writes. Transfers are never updated (a trigger refuses);
a mistake is undone by a correcting transfer. The same trigger writes one entry per side with the
account's running balance (pgledger style), so an account's history with its balance after each
line is one index range scan, however long the ledger grows.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, StrEnumType, UTCDateTime


class PointsAccountKind(enum.StrEnum):
    VOLUNTEER = "volunteer"          # owner: volunteers.id
    ORG_POOL = "org_pool"            # an organisation's bonus pool; owner: organizations.id
    SPONSOR = "sponsor"              # a reward sponsor; owner: organizations.id (sponsors are organisations)
    ISSUANCE = "issuance"            # system, per region: where earned points come from; the only kind that goes negative
    REDEMPTIONS = "redemptions"      # system, per region: points spent on rewards end here
    EXPIRY = "expiry"                # system, per region: expired points end here
    HOLDS = "holds"                  # system, per region: points reserved by pending redemption holds


SYSTEM_KINDS = frozenset({PointsAccountKind.ISSUANCE, PointsAccountKind.REDEMPTIONS, PointsAccountKind.EXPIRY,
                          PointsAccountKind.HOLDS})


class TransferCode(enum.StrEnum):
    EARN = "earn"                    # issuance → volunteer, for service hours
    FUND = "fund"                    # issuance → an organisation's pool or a sponsor
    BONUS = "bonus"                  # org pool → volunteer
    GIFT = "gift"                    # volunteer → volunteer (二次公益)
    CORRECT = "correct"              # reverses (part of) an earlier transfer; corrects_transfer_id says which
    EXPIRE = "expire"                # volunteer → expiry, points that reached their end
    HOLD = "hold"                    # volunteer → holds: a pending redemption reserves the points at once
    POST = "post"                    # holds → redemptions: the hold was fulfilled
    VOID = "void"                    # holds → volunteer: the hold was cancelled
    HOLD_EXPIRE = "hold_expire"      # holds → volunteer: the hold ran out unfulfilled


# The codes that settle a hold; exactly one of them may point at a hold (unique pending_transfer_id).
HOLD_RESOLUTIONS = frozenset({TransferCode.POST, TransferCode.VOID, TransferCode.HOLD_EXPIRE})


class PointsAccount(Base):
    __tablename__ = "points_accounts"
    __table_args__ = (
        # One account per (kind, owner): the get-or-create relies on it under concurrency.
        UniqueConstraint("kind", "owner_id"),
        CheckConstraint("allow_negative OR balance >= 0", name="balance_not_negative"),
        CheckConstraint("NOT allow_negative OR kind = 'issuance'", name="only_issuance_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[PointsAccountKind] = mapped_column(StrEnumType(PointsAccountKind))
    # Polymorphic by kind (volunteer, organisation or region id), hence no foreign key.
    owner_id: Mapped[int] = mapped_column(Integer)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    # Bumped by the trigger with every transfer touching the account: a cheap "has it moved" for readers.
    version: Mapped[int] = mapped_column(Integer, default=0)
    allow_negative: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PointsTransfer(Base):
    __tablename__ = "points_transfers"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        # A hold is settled once: post, void and hold_expire each name it here.
        UniqueConstraint("pending_transfer_id"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
        Index("ix_points_transfers_debit_account_id_id", "debit_account_id", "id"),
        Index("ix_points_transfers_credit_account_id_id", "credit_account_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128))
    debit_account_id: Mapped[int] = mapped_column(ForeignKey("points_accounts.id", ondelete="RESTRICT"))
    credit_account_id: Mapped[int] = mapped_column(ForeignKey("points_accounts.id", ondelete="RESTRICT"))
    amount: Mapped[int] = mapped_column(BigInteger)
    code: Mapped[TransferCode] = mapped_column(StrEnumType(TransferCode))
    # What caused it, e.g. "service_record:42" or "redemption:7"; free text so any noun can be named.
    reference: Mapped[str | None] = mapped_column(String(128))
    corrects_transfer_id: Mapped[int | None] = mapped_column(ForeignKey("points_transfers.id", ondelete="RESTRICT"),
                                                             index=True)
    pending_transfer_id: Mapped[int | None] = mapped_column(ForeignKey("points_transfers.id", ondelete="RESTRICT"))
    # Why, in the giver's words (an organiser's bonus: 「暴雨夜坚守岗位」); set at insert like every column.
    memo: Mapped[str | None] = mapped_column(String(100))
    # For holds: when it may be expired.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    event_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PointsEntry(Base):
    """One side of a transfer on one account, with the balance right after it. Written only by the trigger."""

    __tablename__ = "points_entries"
    __table_args__ = (
        UniqueConstraint("transfer_id", "account_id"),
        Index("ix_points_entries_account_id_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("points_accounts.id", ondelete="RESTRICT"))
    transfer_id: Mapped[int] = mapped_column(ForeignKey("points_transfers.id", ondelete="RESTRICT"))
    # Signed: negative on the debited account, positive on the credited one.
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
