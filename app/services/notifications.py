"""Writing messages: the one outbox writer. One row per message and recipient, in the transaction of its cause.

Nothing else inserts `notifications` rows or spells an idempotency key: `notify` writes one
person's message, `notify_many` one message to many people (an announcement's fan-out batch),
`notify_team` a team's group-chat post; `idempotency_key` is the one key builder, also as SQL for
"has this person had it" filters. Kinds are `NotificationKind`.

The channel is chosen when the row is written, in this order: a mini-program subscribe message
if the person has a credit for its template (one is spent), else an official-account template
message if they follow the account, else the in-app inbox only. Every person's message is in
their inbox whatever the channel (`inbox`). Delivery is `app.services.delivery`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Union

from sqlalchemy import ColumnElement, String, cast, func, literal, select, update
from sqlalchemy.exc import IntegrityError

from app.db import insert_unless_present, upsert_insert
from app.extensions import db, settings
from app.services import subscriptions
from app.services.message_fields import fit, fit_fields
from models import Account, Notification, NotificationChannel, NotificationStatus, OfficialFollower

INBOX_TEXT_MAX = 2000


class NotificationKind(enum.StrEnum):
    """What a message is about: the first part of its idempotency key, stored as `notifications.kind`."""

    REGISTRATION_RESULT = "registration_result"
    SIGNUP_RESULT = "signup_result"
    ACTIVITY_TIME_CHANGED = "activity_time_changed"
    ACTIVITY_CANCELLED = "activity_cancelled"
    REMINDER_DAY_BEFORE = "reminder_day_before"
    REMINDER_HOURS_BEFORE = "reminder_hours_before"
    SERVICE_THANKS = "service_thanks"
    CAMPAIGN_INVITATION = "campaign_invitation"
    CAMPAIGN_PLANNING = "campaign_planning"
    TRAINING_REMINDER = "training_reminder"
    TRAINING_COMPLIANCE = "training_compliance"
    ANNOUNCEMENT = "announcement"
    CORRECTION_REQUEST = "correction_request"
    CORRECTION_RESULT = "correction_result"
    ACCOUNT_STATUS = "account_status"  # a volunteer suspended or reinstated
    BULLETIN_PUBLISHED = "bulletin_published"  # a month's bulletin frozen, to the node's admins and organisers below
    QUARTERLY_REPORT_REMINDER = "quarterly_report_reminder"  # a unit's quarterly report still to submit
    TRANSFER_REQUEST = "transfer_request"  # a volunteer applies to move here, to the receiving side
    TRANSFER_RESULT = "transfer_result"  # the receiving side's decision, to the volunteer
    TRANSFER_RELEASED = "transfer_released"  # a volunteer moved away, to the releasing side
    DECLARATION_RESULT = "declaration_result"  # a self-declaration confirmed or refused, to the volunteer
    RETROACTIVE_RESULT = "retroactive_result"  # a 补录 approved or refused, to the organiser who entered it
    CERTIFICATE_PROGRESS = "certificate_progress"  # a certificate in publicity, issued, refused or revoked, to its holder
    STAR_RESULT = "star_result"  # a star awarded, refused (at review or by an objection) or revoked, to the volunteer
    REDEMPTION_PROGRESS = "redemption_progress"  # a reward held (pick-up code), handed over or expired, to the volunteer
    STAR_REVIEW_REQUEST = "star_review_request"  # a star application opened, to the admins of the level that approves it


# A part of a key: a value (an id, a timestamp, a state), or (tag, value) written together, e.g. ("s", 12) → "s12".
# A value may be a SQL column expression; then the key is one too.
KeyPart = Union[str, int, Any, tuple[str, Any]]


def idempotency_key(kind: NotificationKind | str, *parts: KeyPart) -> Union[str, ColumnElement]:
    """The key of a message: "kind:part:part…", unique across everyone's messages.

    With a column among the parts it is the same key computed in SQL, for filters such as "no
    reminder yet for this sign-up": `idempotency_key(kind, ("s", Signup.id), stamp)`.
    """
    pieces: list[Any] = [str(NotificationKind(kind))]
    for part in parts:
        tag, value = part if isinstance(part, tuple) else ("", part)
        pieces.append(f":{tag}")
        pieces.append(value if _is_sql(value) else str(value))
    if not any(_is_sql(piece) for piece in pieces):
        return "".join(pieces)
    # Adjacent text becomes one literal; columns are cast to text and concatenated (`||`).
    terms: list[Any] = []
    for piece in pieces:
        if _is_sql(piece):
            terms.append(cast(piece, String))
        elif terms and isinstance(terms[-1], str):
            terms[-1] += piece
        else:
            terms.append(piece)
    expression = literal(terms[0]) if isinstance(terms[0], str) else terms[0]
    for term in terms[1:]:
        expression = expression + (literal(term) if isinstance(term, str) else term)
    return expression


def _is_sql(value: Any) -> bool:
    return isinstance(value, ColumnElement) or hasattr(value, "__clause_element__")


@dataclass(frozen=True)
class Message:
    """What to tell a person, ready for every channel.

    kind: what the message is about (a `NotificationKind`; a plain string must name one); with the
    caller's key it makes the idempotency key. template: the purpose name in `[wechat.templates]`.
    fields: that template's data, fitted to WeChat's limits on the way in. title and text: the
    plain rendering shown in the inbox and sent through the official account; summary, if given,
    replaces the text in the official account's notice (where the title is already shown).
    """

    kind: NotificationKind
    template: str
    title: str
    text: str
    fields: Mapping[str, str | int | float | datetime | date] = field(default_factory=dict)
    page: str | None = None
    summary: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", NotificationKind(self.kind))


def _key(kind: NotificationKind, key: str | Sequence[KeyPart]) -> str:
    return idempotency_key(kind, key) if isinstance(key, str) else idempotency_key(kind, *key)  # type: ignore[return-value]


def notify(account_id: int, key: str | Sequence[KeyPart], message: Message, *, now: datetime,
           activity_id: int | None = None) -> Notification | None:
    """Write `message` for one person in the caller's transaction; a repeated (kind, key) adds nothing.

    The key names what the message is about and for whom (a sign-up id, an account id): it is
    unique across everyone's messages of the kind. A string is one part; a sequence is the parts
    of `idempotency_key`.
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
            row = Notification(**_row(_key(message.kind, key), message.kind, channel, payload, now=now,
                                      account_id=account_id, activity_id=activity_id))
            db.session.add(row)
        return row
    except IntegrityError:
        return None


def notify_many(recipients: Iterable[tuple[int, str | Sequence[KeyPart]]], message: Message, *, now: datetime,
                activity_id: int | None = None, announcement_id: int | None = None) -> tuple[int, int]:
    """Write one message for many people, (account id, key) each, in a few statements; (written, inbox only).

    People who already have the message keep their row and their credit: existing keys are read
    first, credits are spent for the rest in one UPDATE … RETURNING, and the rows go in with
    INSERT … ON CONFLICT DO NOTHING.
    """
    wechat = settings()["wechat"]
    template_id = wechat["templates"][message.template]
    keys = {_key(message.kind, key): account_id for account_id, key in recipients}
    if not keys:
        return 0, 0
    have_row = set(db.session.scalars(select(Notification.idempotency_key)
                                      .where(Notification.idempotency_key.in_(list(keys)))))
    todo = {key: account_id for key, account_id in keys.items() if key not in have_row}
    paid = subscriptions.spend_many(todo.values(), template_id, now=now)
    followers = _followers(set(todo.values()) - paid)
    by_channel = {NotificationChannel.MINIPROGRAM_SUBSCRIBE: subscribe_payload(message, template_id),
                  NotificationChannel.OFFICIAL_TEMPLATE: official_payload(message, now),
                  NotificationChannel.INBOX: inbox_payload(message)}
    rows = []
    for key, account_id in todo.items():
        channel = (NotificationChannel.MINIPROGRAM_SUBSCRIBE if account_id in paid
                   else NotificationChannel.OFFICIAL_TEMPLATE if account_id in followers else NotificationChannel.INBOX)
        rows.append(_row(key, message.kind, channel, by_channel[channel], now=now, account_id=account_id,
                         activity_id=activity_id, announcement_id=announcement_id))
    if rows:
        db.session.execute(upsert_insert(Notification).on_conflict_do_nothing(index_elements=["idempotency_key"]), rows)
    return len(rows), sum(1 for row in rows if row["channel"] is NotificationChannel.INBOX)


def notify_team(team_id: int, key: str | Sequence[KeyPart], kind: NotificationKind, text: str, *, now: datetime,
                announcement_id: int | None = None) -> bool:
    """Queue a post to a team's group chat (its WeCom robot); a repeated (kind, key) adds nothing."""
    kind = NotificationKind(kind)
    return insert_unless_present(Notification, _row(_key(kind, key), kind, NotificationChannel.WECOM_ROBOT,
                                                    {"text": text}, now=now, team_id=team_id,
                                                    announcement_id=announcement_id)) is not None


def _row(key: str, kind: NotificationKind, channel: NotificationChannel, payload: dict, *, now: datetime,
         account_id: int | None = None, team_id: int | None = None, activity_id: int | None = None,
         announcement_id: int | None = None) -> dict:
    """The one shape of an outbox row; inbox-only rows are `skipped` (no channel sends them)."""
    return dict(idempotency_key=key, account_id=account_id, team_id=team_id, kind=str(kind), channel=channel,
                payload=payload, activity_id=activity_id, announcement_id=announcement_id, attempts=0,
                next_attempt_at=now, created_at=now,
                status=NotificationStatus.SKIPPED if channel is NotificationChannel.INBOX else NotificationStatus.PENDING)


def _followers(account_ids: set[int]) -> set[int]:
    if not account_ids:
        return set()
    return set(db.session.scalars(
        select(Account.id).join(OfficialFollower, OfficialFollower.openid == Account.oa_openid)
        .where(Account.id.in_(account_ids), OfficialFollower.is_subscribed.is_(True))
    ))


def inbox_payload(message: Message) -> dict:
    return {"title": fit(message.title, 40), "text": message.text[:INBOX_TEXT_MAX], "page": message.page}


def subscribe_payload(message: Message, template_id: str) -> dict:
    return {**inbox_payload(message), "template_id": template_id, "data": fit_fields(message.fields)}


def official_payload(message: Message, now: datetime) -> dict:
    """The official account's general notice template, opening the mini-program page if there is one."""
    wechat = settings()["wechat"]
    payload = {**inbox_payload(message), "template_id": wechat["official_templates"]["notice"],
               "data": fit_fields({"thing1": message.title, "thing2": message.summary or message.text, "time3": now})}
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
