"""Handle each WeChat push at most once: claim it, apply its effects, remember the reply."""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import datetime, timezone
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.db import unit_of_work
from app.extensions import db, settings
from app.services import bot, checkins, official_qr, subscriptions
from app.wechat.callbacks import InboundMessage
from models import Account, CallbackReceipt, OfficialFollower

logger = logging.getLogger(__name__)

# WeChat retries a push 3 times, 5 s apart; an hour covers every retry with a wide margin.
ANSWER_TTL_SECONDS = 3600
# What _dispatch returns for a push whose effects an earlier delivery already applied.
_REPEATED: Any = object()


def handle(app_name: str, message: InboundMessage, *, redis_client: redis.Redis, now: datetime) -> str | None:
    """Return the reply text for a push (None: answer `success`); a repeated push gets the first answer.

    Effects happen at most once because every push that changes data claims a database receipt in
    the same transaction as its effects (`_claim_receipt`); a retry finds the receipt and changes
    nothing. Redis only remembers the first answer, so a retry is answered the same way: one
    round trip (SET NX) on a first delivery, a second (GET) only on a retry. Without Redis the
    receipts still hold; a retry is then answered `success`.
    """
    reply = _dispatch(app_name, message, now=now)
    answer_key = f"wechat:push:{app_name}:{message.dedup_key}"
    try:
        redis_client = _own_connection(redis_client)
        if reply is _REPEATED:
            # Only the delivery that applied the effects may decide the answer.
            stored = redis_client.get(answer_key)
            return json.loads(stored)["reply"] if stored else None
        if _set_first_answer(redis_client, answer_key, json.dumps({"reply": reply})):
            return reply
        stored = redis_client.get(answer_key)
    except redis.RedisError:
        logger.warning("redis unavailable; push %s answered without the remembered reply", message.dedup_key)
        return None if reply is _REPEATED else reply
    return json.loads(stored)["reply"] if stored else reply


_threads = threading.local()


def _own_connection(client: redis.Redis) -> redis.Redis:
    """`client`'s pool and settings, on a connection this thread keeps (redis-py's single-connection client).

    The push's one round trip is most of its cost. A plain client checks a connection out of the
    pool and back in for every command, and the check-out asks the socket whether stray data is
    waiting (a non-blocking recv between two fcntl calls); a kept connection sends and reads only.
    One per thread (gthread workers run several) and per process (a fork must not share a socket);
    a failed command drops its connection and the next one reconnects, as with the plain client.
    """
    if not isinstance(client, redis.Redis) or client.connection is not None:
        return client
    kept = getattr(_threads, "kept", None)
    if kept is None or kept[0] is not client or kept[1] != os.getpid():
        kept = _threads.kept = (client, os.getpid(), redis.Redis(connection_pool=client.connection_pool,
                                                                   single_connection_client=True))
    return kept[2]


def _set_first_answer(client: redis.Redis, key: str, value: str) -> bool:
    """`SET key value NX EX ANSWER_TTL_SECONDS` on the kept connection: True if this delivery stored it.

    The command is sent and read on the connection itself, without redis-py's per-command layers
    (retry policy, metrics, response callbacks). A connection that fails is dropped and the command
    sent once more on a new one, as redis-py's retry would; a second failure raises. A resend after
    a lost reply is harmless: SET NX then finds the key and the caller reads the stored answer.
    """
    connection = client.connection
    if connection is None:
        return bool(client.set(key, value, nx=True, ex=ANSWER_TTL_SECONDS))
    for attempt in (1, 2):
        try:
            connection.send_command("SET", key, value, "EX", ANSWER_TTL_SECONDS, "NX")
            return connection.read_response() is not None
        except (redis.ConnectionError, redis.TimeoutError):
            connection.disconnect()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _dispatch(app_name: str, message: InboundMessage, *, now: datetime) -> str | None:
    is_checkin_scan = (app_name == "official" and message.event in ("scan", "subscribe")
                       and (message.scene or "").startswith(official_qr.SCENE_PREFIX))
    if app_name == "official" and message.event in ("subscribe", "unsubscribe"):
        # Only pushes with effects open a unit of work: most pushes are answered without a session.
        with unit_of_work():
            if not _claim_receipt(app_name, message, now):
                return _REPEATED
            _record_follow(message, now)
            if is_checkin_scan:
                return bot.WELCOME_TEXT + "\n" + _official_scan(message, now)
    if is_checkin_scan:
        with unit_of_work():
            if not _claim_receipt(app_name, message, now):
                return _REPEATED
            return _official_scan(message, now)
    if app_name == "official" and bot.has_effects(message):
        with unit_of_work():
            if not _claim_receipt(app_name, message, now):
                return _REPEATED
            return bot.reply_to(message, now=now)
    if app_name == "official":
        return bot.reply_to(message, now=now)
    if message.subscriptions and message.event in _SUBSCRIPTION_EVENTS:
        with unit_of_work():
            if not _claim_receipt(app_name, message, now):
                return _REPEATED
            _apply_subscription_event(message, now)
    return None


_SUBSCRIPTION_EVENTS = ("subscribe_msg_popup_event", "subscribe_msg_change_event", "subscribe_msg_sent_event")


def _apply_subscription_event(message: InboundMessage, now: datetime) -> None:
    """Credits from accept taps, none left after a rejection, and the final results of our sends."""
    if message.event == "subscribe_msg_sent_event":
        results = {int(item.msg_id): int(item.error_code or 0) for item in message.subscriptions
                   if item.msg_id and item.msg_id.isdigit()}
        subscriptions.record_delivery_results(results, now=now)
        return
    account_id = db.session.scalar(select(Account.id).where(Account.mp_openid == message.from_user))
    if account_id is None:
        logger.info("%s from an openid without an account; ignored", message.event)
        return
    granted_at = datetime.fromtimestamp(message.create_time, timezone.utc)
    for item in message.subscriptions:
        if message.event == "subscribe_msg_popup_event" and item.status == "accept":
            subscriptions.grant(account_id, item.template_id, source="event",
                                dedup_key=f"event:{message.dedup_key}:{item.template_id}", granted_at=granted_at, now=now)
        elif item.status == "reject":
            subscriptions.clear(account_id, item.template_id, now=now)


def _official_scan(message: InboundMessage, now: datetime) -> str:
    rules = checkins.Rules.from_settings(settings()["checkin"])
    return official_qr.scan(message.from_user, message.scene or "", rules=rules, now=now)


def _claim_receipt(app_name: str, message: InboundMessage, now: datetime) -> bool:
    """Insert the push's receipt in the effects' transaction; False if it was already handled."""
    try:
        with db.session.begin_nested():
            db.session.add(CallbackReceipt(app=app_name, dedup_key=message.dedup_key[:255], created_at=now))
        return True
    except IntegrityError:
        return False


def _record_follow(message: InboundMessage, now: datetime) -> None:
    follower = db.session.scalar(select(OfficialFollower).where(OfficialFollower.openid == message.from_user))
    if follower is None:
        follower = OfficialFollower(openid=message.from_user)
        db.session.add(follower)
    if message.event == "subscribe":
        follower.is_subscribed = True
        follower.subscribed_at = now
        follower.scene = message.scene
        follower.unsubscribed_at = None
    else:
        follower.is_subscribed = False
        follower.unsubscribed_at = now
        # WeChat's rule: on unsubscribe, keep no more of the user's data than needed.
        follower.scene = None
