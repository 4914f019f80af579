"""Followers of the official account are linked to mini-program accounts by a worker step, with no transaction open during the lookups."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from jobs import followers
from models import Account, OfficialFollower
from tests import factories as f


def test_a_new_follower_is_linked_to_the_account_with_the_same_unionid(app, app_context, simulator, now):
    # The simulator gives code X the unionid simu_X in both apps, as an Open Platform binding would.
    account = f.account("sim_alice", now)
    account.unionid = "simu_alice"
    db.session.add(OfficialFollower(openid="sim_alice", is_subscribed=True, subscribed_at=now))
    db.session.add(OfficialFollower(openid="sim_stranger", is_subscribed=True, subscribed_at=now))
    db.session.commit()

    assert followers.link_new_followers(app.extensions["wechat_gateway"], now=now) == 1
    db.session.expire_all()
    assert db.session.get(Account, account.id).oa_openid == "sim_alice"
    checked = db.session.scalars(select(OfficialFollower).order_by(OfficialFollower.id)).all()
    assert all(row.link_checked_at is not None for row in checked)
    # Checked followers are not asked about again.
    assert followers.link_new_followers(app.extensions["wechat_gateway"], now=now) == 0


def test_wechat_outage_leaves_followers_for_the_next_pass(app, app_context, now):
    db.session.add(OfficialFollower(openid="sim_alice", is_subscribed=True, subscribed_at=now))
    db.session.commit()
    # No simulator: the gateway cannot connect, which is retryable.
    assert followers.link_new_followers(app.extensions["wechat_gateway"], now=now) == 0
    assert db.session.scalar(select(OfficialFollower.link_checked_at)) is None
