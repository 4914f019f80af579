"""Writing messages: one outbox row per message and recipient, in the transaction of its cause.

The channel is chosen when the row is written, in this order: a mini-program subscribe message
if the person has a credit for its template (one is spent), else an official-account template
message if they follow the account, else the in-app inbox only. Every person's message is in
their inbox whatever the channel (`inbox`). Delivery is `app.services.delivery`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db, settings
from app.services import subscriptions
from app.services.message_fields import fit, fit_fields
from models import Account, Notification, NotificationChannel, NotificationStatus, OfficialFollower

INBOX_TEXT_MAX = 2000


@dataclass(frozen=True)
class Message:
    """What to tell a person, ready for every channel.

    kind: what the message is about (signup_result, activity_reminder …); with the caller's key it
    makes the idempotency key. template: the purpose name in `[wechat.templates]`. fields: that
    template's data, fitted to WeChat's limits on the way in. title and text: the plain rendering
    shown in the inbox and sent through the official account.
    """

    kind: str
    template: str
    title: str
    text: str
    fields: Mapping[str, str | int | float | datetime | date] = field(default_factory=dict)
    page: str | None = None


def notify(account_id: int, key: str, message: Message, *, now: datetime,
           activity_id: int | None = None) -> Notification | None:
    """Write `message` for one person in the caller's transaction; a repeated (kind, key) adds nothing.

    The key names what the message is about and for whom (a sign-up id, an account id): it is
    unique across everyone's messages of the kind.
    """
    template_id = settings()["wechat"]["templates"][message.template]
    try:
        # The savepoint undoes a spent credit together with an insert that lost to a repeat.
        with db.session.begin_nested():
            if subscriptions.spend(account_id, template_id, now=now):
                channel, payload = NotificationChannel.MINIPROGRAM_SUBSCRIBE, subscribe_payload(message, template_id)
            elif follows_official_account(account_id):
                channel, payload = NotificationChannel.OFFICIAL_TEMPLATE, official_payload(message, now)
            else:
                channel, payload = NotificationChannel.INBOX, inbox_payload(message)
            row = Notification(
                idempotency_key=f"{message.kind}:{key}", account_id=account_id, kind=message.kind, channel=channel,
                payload=payload, activity_id=activity_id, attempts=0, next_attempt_at=now, created_at=now,
                status=NotificationStatus.SKIPPED if channel is NotificationChannel.INBOX else NotificationStatus.PENDING,
            )
            db.session.add(row)
        return row
    except IntegrityError:
        return None


def inbox_payload(message: Message) -> dict:
    return {"title": fit(message.title, 40), "text": message.text[:INBOX_TEXT_MAX], "page": message.page}


def subscribe_payload(message: Message, template_id: str) -> dict:
    return {**inbox_payload(message), "template_id": template_id, "data": fit_fields(message.fields)}


def official_payload(message: Message, now: datetime) -> dict:
    """The official account's general notice template, opening the mini-program page if there is one."""
    wechat = settings()["wechat"]
    payload = {**inbox_payload(message), "template_id": wechat["official_templates"]["notice"],
               "data": fit_fields({"thing1": message.title, "thing2": message.text, "time3": now})}
    if message.page:
        payload["miniprogram"] = {"appid": wechat["miniprogram"]["app_id"], "pagepath": message.page}
    return payload


def follows_official_account(account_id: int) -> bool:
    return bool(db.session.scalar(
        select(OfficialFollower.is_subscribed).join(Account, Account.oa_openid == OfficialFollower.openid)
        .where(Account.id == account_id)
    ))


def withdraw_pending(activity_id: int, kinds: tuple[str, ...]) -> int:
    """Withdraw the not-yet-sent messages of these kinds about an activity; return how many."""
    return db.session.execute(
        update(Notification)
        .where(Notification.activity_id == activity_id, Notification.kind.in_(kinds),
               Notification.status == NotificationStatus.PENDING)
        .values(status=NotificationStatus.WITHDRAWN)
    ).rowcount


# --- the inbox ------------------------------------------------------------------------------

def inbox(account_id: int, *, before_id: int | None = None, limit: int = 20) -> list[Notification]:
    """A person's messages, newest first, whatever channel carried them (withdrawn ones excepted)."""
    query = (select(Notification)
             .where(Notification.account_id == account_id, Notification.status != NotificationStatus.WITHDRAWN)
             .order_by(Notification.id.desc()).limit(limit))
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    return list(db.session.scalars(query))


def unread_count(account_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Notification)
        .where(Notification.account_id == account_id, Notification.read_at.is_(None),
               Notification.status != NotificationStatus.WITHDRAWN)
    ) or 0


def mark_read(account_id: int, message_ids: list[int], *, now: datetime) -> int:
    """Mark some of a person's own messages read; others' ids change nothing."""
    return db.session.execute(
        update(Notification)
        .where(Notification.account_id == account_id, Notification.id.in_(message_ids), Notification.read_at.is_(None))
        .values(read_at=now)
    ).rowcount


def erase_for_account(account_id: int) -> int:
    """Withdraw the person's pending messages and erase the text of all but those in flight; return how many withdrawn.

    For account deletion. The rows stay (an announcement's delivery counts include them). A row
    `sending` is in a worker's hands and may already have reached WeChat: its outcome is still
    recorded as it comes, so it keeps its status and payload.
    """
    withdrawn = db.session.execute(
        update(Notification).where(Notification.account_id == account_id, Notification.status == NotificationStatus.PENDING)
        .values(status=NotificationStatus.WITHDRAWN).execution_options(synchronize_session=False)).rowcount
    db.session.execute(
        update(Notification).where(Notification.account_id == account_id, Notification.status != NotificationStatus.SENDING)
        .values(payload={"text": ""}).execution_options(synchronize_session=False))
    return withdrawn
