"""Linking new official-account followers to accounts: one step of the delivery worker.

Each follower is looked up at WeChat with no transaction open (a lookup may take the whole WeChat
timeout, and an open transaction would hold its locks meanwhile), and what WeChat said is
committed per follower, so a worker stopping mid-batch loses nothing it already learned.
"""

from __future__ import annotations

from datetime import datetime

from app.db import unit_of_work
from app.services import followers
from app.wechat.gateway import WeChatGateway


def link_new_followers(gateway: WeChatGateway, *, now: datetime, limit: int = 50) -> int:
    """Ask WeChat for the unionid of followers not yet checked; return how many accounts were linked."""
    with unit_of_work():
        waiting = followers.pending(limit=limit)
    linked = 0
    for follower_id, openid in waiting:
        info = followers.lookup(gateway, openid)
        if info is None:
            break  # WeChat is unavailable: the rest wait for the next pass
        with unit_of_work():
            linked += followers.record(follower_id, info, now=now)
    return linked
