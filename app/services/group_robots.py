"""Team group chats through WeCom group robots: the webhook per team, and digests of queued messages.

A robot posts at most 20 messages a minute and a text of at most 2048 bytes. Messages for a team
queue as outbox rows; when a robot may post, everything queued for it that fits in one text goes
out as one digest, so a busy team gets fewer, longer posts instead of losing any.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from app import pii
from app.errors import DomainError
from app.extensions import db
from models import Notification, NotificationChannel, NotificationStatus, Team

TEXT_MAX_BYTES = 2048
ROWS_PER_DIGEST = 50
# WeCom webhook keys are UUIDs; anything far from that is a paste error.
KEY_MIN, KEY_MAX = 16, 64


@dataclass(frozen=True)
class QueuedRow:
    id: int
    attempts: int
    text: str


@dataclass(frozen=True)
class Digest:
    team_id: int
    webhook_key: str
    content: str
    rows: tuple[QueuedRow, ...]


def set_webhook(team: Team, webhook_key: str | None, *, pii_key: str) -> None:
    """Store (or with None, remove) the team's robot; the key is the credential, so it is encrypted."""
    if webhook_key is None:
        team.robot_webhook_key_encrypted = None
        return
    key = webhook_key.strip()
    if "key=" in key:  # people paste the whole webhook URL
        key = key.split("key=", 1)[1].split("&", 1)[0]
    if not (KEY_MIN <= len(key) <= KEY_MAX) or not all(c.isalnum() or c == "-" for c in key):
        raise DomainError("invalid_webhook_key", "群机器人 Webhook 地址无效，请从企业微信群机器人设置中复制完整地址", 422,
                          fields={"webhook_key": "格式不正确"})
    team.robot_webhook_key_encrypted = pii.encrypt(key, pii_key)


def has_webhook(team: Team) -> bool:
    return team.robot_webhook_key_encrypted is not None


def fit_bytes(text: str, limit: int) -> str:
    """Cut text to at most `limit` UTF-8 bytes without splitting a character, marking the cut."""
    if len(text.encode()) <= limit:
        return text
    cut = text.encode()[: limit - len("…".encode())].decode(errors="ignore")
    return cut + "…"


def compose(texts: list[str]) -> tuple[str, int]:
    """The digest text of as many queued texts as fit in one post, and how many it holds (at least one)."""
    if len(texts) == 1:
        return fit_bytes(texts[0], TEXT_MAX_BYTES), 1
    header = "【{n} 条新通知】"
    body, taken = "", 0
    for index, text in enumerate(texts, start=1):
        entry = f"\n\n{index}. {text}"
        if len((header.format(n=index) + body + entry).encode()) > TEXT_MAX_BYTES:
            break
        body, taken = body + entry, index
    if taken == 0:
        return fit_bytes(texts[0], TEXT_MAX_BYTES), 1
    if taken == 1:
        return texts[0], 1
    return header.format(n=taken) + body, taken


def claim_digest(team_id: int, *, now: datetime, pii_key: str) -> Digest | None:
    """Claim the team's queued messages that fit in one post; commits the claim."""
    queued = db.session.execute(
        select(Notification.id, Notification.attempts, Notification.payload)
        .where(Notification.team_id == team_id, Notification.channel == NotificationChannel.WECOM_ROBOT,
               Notification.status == NotificationStatus.PENDING, Notification.next_attempt_at <= now)
        .order_by(Notification.id).limit(ROWS_PER_DIGEST).with_for_update(skip_locked=True)
    ).all()
    if not queued:
        db.session.commit()
        return None
    team = db.session.get(Team, team_id)
    if team is None or not has_webhook(team):
        db.session.execute(
            update(Notification).where(Notification.id.in_([row.id for row in queued]))
            .values(status=NotificationStatus.FAILED, last_error="the team has no group robot configured")
        )
        db.session.commit()
        return None
    content, taken = compose([row.payload["text"] for row in queued])
    rows = tuple(QueuedRow(row.id, row.attempts + 1, row.payload["text"]) for row in queued[:taken])
    db.session.execute(
        update(Notification).where(Notification.id.in_([row.id for row in rows]))
        .values(status=NotificationStatus.SENDING, claimed_at=now, attempts=Notification.attempts + 1)
    )
    key = pii.decrypt(team.robot_webhook_key_encrypted, pii_key)
    db.session.commit()
    return Digest(team_id, key, content, rows)
