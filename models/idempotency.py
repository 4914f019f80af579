"""The first answer to a client's write, by (account, operation, nonce): a repeat gets it again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class IdempotentRequest(Base):
    """A write that took effect, with the answer it got; written in the same transaction as the effect."""

    __tablename__ = "idempotent_requests"
    # The guarantee: a second transaction with the same nonce cannot commit beside the first.
    __table_args__ = (UniqueConstraint("account_id", "operation", "nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    operation: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(64))
    # SHA-256 of the request's target and body: the same nonce with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    answer: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
