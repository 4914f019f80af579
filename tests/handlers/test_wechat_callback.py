"""The callback handler answers from local state only: no WeChat call stands between a push and its reply."""

from __future__ import annotations

import hashlib
import time

from models import OfficialFollower
from sqlalchemy import select

from app.extensions import db


class NoWeChat:
    """A gateway that fails the test if anything touches it."""

    def __getattr__(self, name):
        raise AssertionError(f"callback handling called the WeChat gateway ({name})")


def signed_query(token: str) -> str:
    timestamp, nonce = str(int(time.time())), "n0nce"
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return f"signature={signature}&timestamp={timestamp}&nonce={nonce}&openid=sim_x"


def push(client, xml: str):
    return client.post("/wechat/official/callback?" + signed_query("sim-official-token"), data=xml.encode(),
                       content_type="text/xml")


def test_text_and_follow_pushes_are_answered_without_calling_wechat(app, client, monkeypatch):
    monkeypatch.setitem(app.extensions, "wechat_gateway", NoWeChat())
    now = int(time.time())
    text = push(client, f"<xml><ToUserName><![CDATA[gh_sim]]></ToUserName><FromUserName><![CDATA[sim_x]]></FromUserName>"
                        f"<CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                        f"<Content><![CDATA[我的信息]]></Content><MsgId>9001</MsgId></xml>")
    assert text.status_code == 200 and "小程序" in text.get_data(as_text=True)
    follow = push(client, f"<xml><ToUserName><![CDATA[gh_sim]]></ToUserName><FromUserName><![CDATA[sim_x]]></FromUserName>"
                          f"<CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
                          f"<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_77]]></EventKey></xml>")
    assert follow.status_code == 200 and "欢迎关注" in follow.get_data(as_text=True)
    with app.app_context():
        follower = db.session.scalar(select(OfficialFollower))
        assert follower.openid == "sim_x" and follower.scene == "77" and follower.link_checked_at is None
