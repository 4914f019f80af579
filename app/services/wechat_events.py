"""Handle each WeChat push at most once: claim it, apply its effects, remember the reply."""

from __future__ import annotations

import json
import logging
from datetime import datetime

import redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.db import unit_of_work
from app.extensions import db
from app.services import bot
from app.wechat.callbacks import InboundMessage
from models import CallbackReceipt, OfficialFollower

logger = logging.getLogger(__name__)

# WeChat retries a push 3 times, 5 s apart; an hour covers every retry with a wide margin.
CLAIM_TTL_SECONDS = 3600
_IN_PROGRESS = "…"


def handle(app_name: str, message: InboundMessage, *, redis_client: redis.Redis, now: datetime) -> str | None:
    """Return the reply text for a push (None: answer `success`); a repeated push gets the first answer.

    A push is one unit of work, so this commits: the reply is remembered only once the push's
    effects are durable, and a failed push releases its claim so WeChat's retry can succeed.
    """
    claim_key = f"wechat:push:{app_name}:{message.dedup_key}"
    try:
        # Fast path: the first delivery claims the key; a retry finds it and gets the stored reply.
        if not redis_client.set(claim_key, _IN_PROGRESS, nx=True, ex=CLAIM_TTL_SECONDS):
            return _earlier_reply(redis_client, claim_key)
    except redis.RedisError:
        # Redis is an optimisation here: database receipts still stop repeated side effects.
        logger.warning("redis unavailable; handling push %s without the fast dedup path", message.dedup_key)
        claim_key = None
    try:
        with unit_of_work():
            reply = _dispatch(app_name, message, now=now)
    except Exception:
        if claim_key:
            _forget(redis_client, claim_key)
        raise
    if claim_key:
        try:
            redis_client.set(claim_key, json.dumps({"reply": reply}), ex=CLAIM_TTL_SECONDS)
        except redis.RedisError:
            pass
    return reply


def _dispatch(app_name: str, message: InboundMessage, *, now: datetime) -> str | None:
    if app_name == "official" and message.event in ("subscribe", "unsubscribe"):
        if not _claim_receipt(app_name, message, now):
            return None
        _record_follow(message, now)
        db.session.flush()
    if app_name == "official":
        return bot.reply_to(message)
    if message.subscriptions:
        # The credit ledger of subscribe messages consumes these (see the broadcasting work).
        logger.info("mini-program %s for %d template(s)", message.event, len(message.subscriptions))
    return None


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


def _earlier_reply(redis_client: redis.Redis, claim_key: str) -> str | None:
    try:
        stored = redis_client.get(claim_key)
    except redis.RedisError:
        return None
    if not stored or stored.decode() == _IN_PROGRESS:
        return None
    return json.loads(stored)["reply"]


def _forget(redis_client: redis.Redis, claim_key: str) -> None:
    try:
        redis_client.delete(claim_key)
    except redis.RedisError:
        pass
