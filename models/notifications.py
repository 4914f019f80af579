"""The outbox: one row per message to one person through one channel."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, StrEnumType, UTCDateTime


class NotificationChannel(enum.StrEnum):
    MINIPROGRAM_SUBSCRIBE = "miniprogram_subscribe"


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    # The request left but no answer came back: WeChat may or may not have delivered it.
    AMBIGUOUS = "ambiguous"


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    # What, for whom, through which channel: written in the same transaction as its cause.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    channel: Mapped[NotificationChannel] = mapped_column(StrEnumType(NotificationChannel))
    # Channel-ready content (template id, fields, page) plus a plain-text rendering for the inbox.
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[NotificationStatus] = mapped_column(StrEnumType(NotificationStatus), default=NotificationStatus.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
