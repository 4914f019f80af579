"""Link official-account followers to mini-program accounts through their unionid."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update

from app.extensions import db
from app.wechat.errors import WeChatError
from app.wechat.gateway import WeChatGateway
from models import Account, OfficialFollower

logger = logging.getLogger(__name__)


def link_new_followers(gateway: WeChatGateway, *, now: datetime, limit: int = 50) -> int:
    """Ask WeChat for the unionid of followers not yet checked; return how many accounts were linked.

    The callback cannot do this itself (it must answer within a second), so a worker does it.
    """
    pending = db.session.execute(
        select(OfficialFollower.id, OfficialFollower.openid)
        .where(OfficialFollower.is_subscribed.is_(True), OfficialFollower.link_checked_at.is_(None))
        .order_by(OfficialFollower.id).limit(limit)
    ).all()
    # No transaction stays open while WeChat answers: it would hold locks (on SQLite, the database).
    db.session.commit()
    linked = 0
    for follower_id, openid in pending:
        try:
            info = gateway.get_follower(openid)
        except WeChatError as exc:
            if exc.retryable:
                logger.info("follower lookup postponed: %s", exc)
                break
            info = {}
        follower = db.session.get(OfficialFollower, follower_id)
        follower.link_checked_at = now
        follower.unionid = info.get("unionid") or None
        if follower.unionid:
            linked += _link(follower)
        db.session.commit()
    return linked


def _link(follower: OfficialFollower) -> int:
    # Another account may hold this openid from an earlier link: it moves to the matching account.
    db.session.execute(update(Account).where(Account.oa_openid == follower.openid, Account.unionid != follower.unionid)
                       .values(oa_openid=None))
    return db.session.execute(
        update(Account).where(Account.unionid == follower.unionid).values(oa_openid=follower.openid)
    ).rowcount
