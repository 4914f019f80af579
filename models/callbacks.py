"""What WeChat callbacks leave behind: processed-push receipts and official-account followers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class CallbackReceipt(Base):
    """A push whose side effects are committed; the unique key makes a retried push a no-op."""

    __tablename__ = "callback_receipts"
    __table_args__ = (UniqueConstraint("app", "dedup_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app: Mapped[str] = mapped_column(String(16))
    dedup_key: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class OfficialFollower(Base):
    """A user who follows (or followed) the official account."""

    __tablename__ = "official_followers"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    is_subscribed: Mapped[bool] = mapped_column(default=True)
    # The parametric QR scene the user followed through, if any (qrscene_… without the prefix).
    scene: Mapped[str | None] = mapped_column(String(64))
    subscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Learnt from WeChat's user/info after the follow; links this openid to a mini-program account.
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)
    # When a worker last asked WeChat for the unionid (None: not asked yet).
    link_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
