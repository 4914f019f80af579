"""Mini-program subscribe-message credits: one send per "accept" tap, counted by us."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class SubscriptionCredit(Base):
    """How many subscribe messages of one template we may still send one person.

    WeChat offers no way to ask; each accepted authorisation allows exactly one send.
    """

    __tablename__ = "subscription_credits"
    __table_args__ = (
        UniqueConstraint("account_id", "template_id"),
        CheckConstraint("remaining >= 0", name="remaining_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    template_id: Mapped[str] = mapped_column(String(64))
    remaining: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SubscriptionGrant(Base):
    """One reported "accept", from the mini-program or from WeChat's popup event.

    The same tap usually arrives twice (the mini-program reports it, WeChat pushes the event): a
    grant from one source within the matching window of an unmatched grant from the other is the
    same tap and adds no credit.
    """

    __tablename__ = "subscription_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique per report: the mini-program's report id or the push's own identity.
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    template_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # "app" or "event"
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    matched_grant_id: Mapped[int | None] = mapped_column(ForeignKey("subscription_grants.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
