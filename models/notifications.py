"""The outbox: one row per message to one recipient (a person, or a team's group chat)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, StrEnumType, UTCDateTime


class NotificationChannel(enum.StrEnum):
    MINIPROGRAM_SUBSCRIBE = "miniprogram_subscribe"
    OFFICIAL_TEMPLATE = "official_template"
    WECOM_ROBOT = "wecom_robot"
    # No push channel reaches the person: the message is in the in-app inbox only.
    INBOX = "inbox"


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    # The request left but no answer came back: WeChat may or may not have delivered it.
    AMBIGUOUS = "ambiguous"
    # Nothing to push (inbox only): the inbox shows it, no channel sends it.
    SKIPPED = "skipped"
    # A reminder that no longer applies (the activity moved or was cancelled) before it was sent.
    WITHDRAWN = "withdrawn"


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # The workers' claim: a channel's pending rows by due time. Partial, so rows leave it once sent.
        Index("ix_notifications_due", "channel", "next_attempt_at", "id",
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
        # The sweep for rows a dead worker left in flight.
        Index("ix_notifications_in_flight", "claimed_at",
              postgresql_where=text("status = 'sending'"), sqlite_where=text("status = 'sending'")),
        Index("ix_notifications_announcement_status", "announcement_id", "status"),
        Index("ix_notifications_account_created", "account_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # What and for whom, written in the same transaction as its cause. The channel is chosen once,
    # when the row is written, so it is a column and not part of the key: a repeat of the cause
    # whose channel would now differ (a credit spent meanwhile) must still add nothing.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    # A person's message has an account; a team group-chat message has a team.
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    channel: Mapped[NotificationChannel] = mapped_column(StrEnumType(NotificationChannel))
    # Channel-ready content (template id, fields, page) plus `text`, the plain rendering for the inbox.
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[NotificationStatus] = mapped_column(StrEnumType(NotificationStatus), default=NotificationStatus.PENDING)
    announcement_id: Mapped[int | None] = mapped_column(ForeignKey("announcements.id", ondelete="CASCADE"))
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When a worker took the row for sending; a row left `sending` long after this was in flight
    # in a worker that died.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # WeChat's msgid of an accepted send, and the final result its subscribe_msg_sent_event reported.
    wechat_msgid: Mapped[int | None] = mapped_column(BigInteger, index=True)
    delivery_errcode: Mapped[int | None] = mapped_column(Integer)
    delivery_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
