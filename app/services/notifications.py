"""The outbox: write messages with the cause that produced them; deliver them from rows later."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.wechat.errors import WeChatError
from app.wechat.gateway import WeChatGateway
from models import Account, Notification, NotificationChannel, NotificationStatus

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# Subscribe-message field limits (WeChat answers 47003 beyond them): thing ≤ 20 characters, phrase ≤ 5.
THING_MAX = 20
PHRASE_MAX = 5


def fit(text: str, limit: int) -> str:
    """Shorten text to a field limit, ending with an ellipsis so a reader sees it was cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def enqueue(account_id: int, kind: str, key: str, *, channel: NotificationChannel, payload: Mapping,
            now: datetime) -> Notification | None:
    """Add one message to the outbox in the caller's transaction; a repeated key adds nothing."""
    idempotency_key = f"{kind}:{key}:{channel.value}"
    try:
        with db.session.begin_nested():
            row = Notification(idempotency_key=idempotency_key, account_id=account_id, kind=kind, channel=channel,
                               payload=dict(payload), status=NotificationStatus.PENDING, attempts=0,
                               next_attempt_at=now, created_at=now)
            db.session.add(row)
        return row
    except IntegrityError:
        return None


def deliver_due(gateway: WeChatGateway, *, now: datetime, limit: int = 100) -> dict[str, int]:
    """Send due pending messages, one commit per message; return counts by outcome."""
    counts = {"sent": 0, "failed": 0, "retry": 0, "ambiguous": 0}
    due_ids = list(db.session.scalars(
        select(Notification.id).where(Notification.status == NotificationStatus.PENDING,
                                      Notification.next_attempt_at <= now).order_by(Notification.id).limit(limit)
    ))
    db.session.commit()
    for notification_id in due_ids:
        outcome = _deliver_one(gateway, notification_id, now)
        if outcome:
            counts[outcome] += 1
    return counts


def _deliver_one(gateway: WeChatGateway, notification_id: int, now: datetime) -> str | None:
    # Claim with a conditional update so two workers never send the same row.
    claimed = db.session.execute(
        update(Notification).where(Notification.id == notification_id, Notification.status == NotificationStatus.PENDING)
        .values(status=NotificationStatus.SENDING, attempts=Notification.attempts + 1)
    ).rowcount
    db.session.commit()
    if not claimed:
        return None
    row = db.session.get(Notification, notification_id)
    account = db.session.get(Account, row.account_id)
    channel, payload, openid = row.channel, dict(row.payload), account.mp_openid
    # No transaction stays open while WeChat answers: it would hold locks (on SQLite, the database).
    db.session.commit()
    try:
        _send(gateway, channel, payload, openid)
    except WeChatError as exc:
        row = db.session.get(Notification, notification_id)
        row.last_error = str(exc)[:500]
        if exc.ambiguous:
            # WeChat's send APIs take no idempotency key: resending could deliver twice.
            row.status = NotificationStatus.AMBIGUOUS
            outcome = "ambiguous"
        elif exc.retryable and row.attempts < MAX_ATTEMPTS:
            row.status = NotificationStatus.PENDING
            row.next_attempt_at = now + timedelta(seconds=30 * 2 ** (row.attempts - 1))
            outcome = "retry"
        else:
            row.status = NotificationStatus.FAILED
            outcome = "failed"
        logger.info("notification %s: %s (%s)", row.id, outcome, exc)
    else:
        row = db.session.get(Notification, notification_id)
        row.status = NotificationStatus.SENT
        row.sent_at = now
        row.last_error = None
        outcome = "sent"
    db.session.commit()
    return outcome


def _send(gateway: WeChatGateway, channel: NotificationChannel, payload: Mapping, openid: str) -> None:
    if channel is NotificationChannel.MINIPROGRAM_SUBSCRIBE:
        gateway.send_subscribe_message(openid, payload["template_id"], payload["data"], page=payload.get("page"))
    else:  # pragma: no cover - a new channel without a sender is a programming error
        raise ValueError(f"no sender for channel {channel}")
