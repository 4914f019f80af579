"""Link official-account followers to mini-program accounts through their unionid."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from app.extensions import db
from app.wechat.errors import WeChatError
from app.wechat.gateway import WeChatGateway
from models import Account, OfficialFollower

logger = logging.getLogger(__name__)


def pending(*, limit: int = 50) -> list[tuple[int, str]]:
    """(id, openid) of followers whose unionid was not asked for yet, oldest first."""
    return [tuple(row) for row in db.session.execute(
        select(OfficialFollower.id, OfficialFollower.openid)
        .where(OfficialFollower.is_subscribed.is_(True), OfficialFollower.link_checked_at.is_(None))
        .order_by(OfficialFollower.id).limit(limit)
    )]


def lookup(gateway: WeChatGateway, openid: str) -> dict[str, Any] | None:
    """Ask WeChat about a follower (no transaction may be open); None: WeChat is unavailable, ask later.

    The callback cannot do this itself (it must answer within a second), so a worker does it. A
    permanent error (the openid is no longer valid) is an answer: nothing to link.
    """
    try:
        return gateway.get_follower(openid)
    except WeChatError as exc:
        if exc.retryable:
            logger.info("follower lookup postponed: %s", exc)
            return None
        return {}


def record(follower_id: int, info: dict[str, Any], *, now: datetime) -> int:
    """Note that the follower was checked and link their account by unionid; return how many accounts were linked."""
    follower = db.session.get(OfficialFollower, follower_id)
    if follower is None:
        return 0
    follower.link_checked_at = now
    follower.unionid = info.get("unionid") or None
    linked = _link(follower) if follower.unionid else 0
    db.session.flush()
    return linked


def _link(follower: OfficialFollower) -> int:
    # Another account may hold this openid from an earlier link: it moves to the matching account.
    db.session.execute(update(Account).where(Account.oa_openid == follower.openid, Account.unionid != follower.unionid)
                       .values(oa_openid=None))
    return db.session.execute(
        update(Account).where(Account.unionid == follower.unionid).values(oa_openid=follower.openid)
    ).rowcount
