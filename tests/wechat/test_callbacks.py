"""WeChat callbacks (official account and mini-program): signatures, safe mode, parsing, dedup, replies.

Requests are built the way WeChat sends them: `signature`, `timestamp`, `nonce` and `openid` in the
query, and in safe mode `encrypt_type=aes` + `msg_signature` with the body encrypted by wechatpy.
Timestamps are the real clock, as the service checks them against its own; the tests of the age
window pin the clock the callback reads (`signature_clock`), so that a second ticking over between
signing and checking cannot move a timestamp across the window's edge.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import urlencode

import pytest
import xmltodict
from sqlalchemy import func, select
from wechatpy.crypto import WeChatCrypto

from app.extensions import db
from app.services import bot
from app.wechat.callbacks import MAX_BODY_BYTES, CallbackRejected, SubscriptionItem, open_callback
from models import CallbackReceipt, OfficialFollower
from tests import factories as f

APPS = ("official", "miniprogram")
GH_ID = "gh_sim_official"
MP_GH_ID = "gh_sim_miniprogram"


# --- building requests as WeChat does -------------------------------------------------------------

def account_conf(app, app_name: str) -> dict[str, str]:
    conf = app.extensions["settings"]["wechat"][app_name]
    return {key: conf[key] for key in ("token", "encoding_aes_key", "app_id")}


def signature_of(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signed_args(token: str, *, timestamp: int | None = None, nonce: str | None = None,
                openid: str = "o_user") -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or uuid.uuid4().hex[:10]
    return {"signature": signature_of(token, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": openid}


def encrypt(conf: dict[str, str], plaintext: str, args: dict[str, str], *, app_id: str | None = None,
            as_json: bool = False) -> tuple[str, dict[str, str]]:
    """Return (body, args) of a safe-mode push carrying `plaintext`."""
    crypto = WeChatCrypto(conf["token"], conf["encoding_aes_key"], app_id or conf["app_id"])
    envelope = xmltodict.parse(crypto.encrypt_message(plaintext, args["nonce"], args["timestamp"]))["xml"]
    args = {**args, "encrypt_type": "aes", "msg_signature": envelope["MsgSignature"]}
    if as_json:
        return json.dumps({"ToUserName": MP_GH_ID, "Encrypt": envelope["Encrypt"]}), args
    return f"<xml><ToUserName><![CDATA[{GH_ID}]]></ToUserName><Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>", args


def post(client, app_name: str, body: str | bytes, *, safe: bool = False, args: dict[str, str] | None = None,
         app_id: str | None = None, content_type: str | None = None, openid: str = "o_user"):
    conf = account_conf(client.application, app_name)
    args = signed_args(conf["token"], openid=openid) if args is None else args
    is_json = (body.lstrip()[:1] in ("{", b"{"))
    if safe:
        body, args = encrypt(conf, body if isinstance(body, str) else body.decode(), args, app_id=app_id, as_json=is_json)
    data = body.encode() if isinstance(body, str) else body
    content_type = content_type or ("application/json" if is_json else "text/xml")
    return client.post(f"/wechat/{app_name}/callback?{urlencode(args)}", data=data, content_type=content_type)


@pytest.fixture
def signature_clock(monkeypatch) -> int:
    """Pin the clock the callback checks timestamps against to the current whole second; return it."""
    now = int(time.time())
    monkeypatch.setattr("handlers.wechat_callback.now_utc", lambda: datetime.fromtimestamp(now, timezone.utc))
    return now


def text_xml(content: str, *, sender: str = "o_user", msg_id: str | None = None, create_time: int | None = None,
             to: str = GH_ID, msg_type: str = "text") -> str:
    msg_id = msg_id or str(uuid.uuid4().int % 10**18)
    create_time = int(time.time()) if create_time is None else create_time
    return (f"<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{sender}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def event_xml(event: str, *, sender: str = "o_user", create_time: int | None = None, event_key: str | None = None,
              to: str = GH_ID, extra: str = "") -> str:
    create_time = int(time.time()) if create_time is None else create_time
    key = f"<EventKey><![CDATA[{event_key}]]></EventKey>" if event_key is not None else ""
    return (f"<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{sender}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event>{key}{extra}</xml>")


def text_reply(response) -> dict[str, str]:
    """Parse a plaintext passive text reply."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("application/xml")
    reply = xmltodict.parse(response.get_data())["xml"]
    assert reply["MsgType"] == "text"
    assert int(reply["CreateTime"]) > 0
    return reply


def decrypt_reply(app, app_name: str, response) -> dict[str, str]:
    """Check and decrypt a safe-mode reply envelope; return the inner text reply."""
    assert response.status_code == 200, response.get_data(as_text=True)
    conf = account_conf(app, app_name)
    body = response.get_data(as_text=True)
    envelope = xmltodict.parse(body)["xml"]
    assert set(envelope) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    crypto = WeChatCrypto(conf["token"], conf["encoding_aes_key"], conf["app_id"])
    inner = crypto.decrypt_message(body, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"])
    reply = xmltodict.parse(inner)["xml"]
    assert reply["MsgType"] == "text"
    return reply


def body_text(response) -> str:
    return response.get_data(as_text=True)


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def followers(app) -> list[OfficialFollower]:
    with app.app_context():
        rows = db.session.scalars(select(OfficialFollower).order_by(OfficialFollower.id)).all()
        db.session.expunge_all()
        return rows


# --- GET: URL verification ------------------------------------------------------------------------

@pytest.mark.parametrize("app_name", APPS)
def test_get_with_right_signature_echoes_echostr_verbatim(app, client, app_name):
    conf = account_conf(app, app_name)
    echostr = "6409386837180932574 +/=&é"
    response = client.get(f"/wechat/{app_name}/callback?" + urlencode({**signed_args(conf["token"]), "echostr": echostr}))
    assert response.status_code == 200
    assert body_text(response) == echostr


@pytest.mark.parametrize("app_name", APPS)
def test_get_with_wrong_signature_is_refused(app, client, app_name):
    conf = account_conf(app, app_name)
    args = {**signed_args(conf["token"]), "echostr": "secret-echo"}
    args["signature"] = signature_of("not-the-token", args["timestamp"], args["nonce"])
    response = client.get(f"/wechat/{app_name}/callback?" + urlencode(args))
    assert response.status_code == 403
    assert "secret-echo" not in body_text(response)


@pytest.mark.parametrize("app_name", APPS)
def test_get_signed_with_the_other_apps_token_is_refused(app, client, app_name):
    other = "miniprogram" if app_name == "official" else "official"
    args = {**signed_args(account_conf(app, other)["token"]), "echostr": "echo"}
    assert client.get(f"/wechat/{app_name}/callback?" + urlencode(args)).status_code == 403


@pytest.mark.parametrize("app_name", APPS)
@pytest.mark.parametrize("missing", ["signature", "timestamp", "nonce", "all"])
def test_get_with_missing_params_is_refused(app, client, app_name, missing):
    args = {**signed_args(account_conf(app, app_name)["token"]), "echostr": "echo"}
    if missing == "all":
        args = {"echostr": "echo"}
    else:
        del args[missing]
    response = client.get(f"/wechat/{app_name}/callback?" + urlencode(args))
    assert response.status_code == 403
    assert "echo" != body_text(response)


@pytest.mark.parametrize("app_name", APPS)
@pytest.mark.parametrize("offset", [-301, 301, -10**6])
def test_get_with_stale_timestamp_is_refused(app, client, signature_clock, app_name, offset):
    conf = account_conf(app, app_name)
    args = {**signed_args(conf["token"], timestamp=signature_clock + offset), "echostr": "echo"}
    response = client.get(f"/wechat/{app_name}/callback?" + urlencode(args))
    assert response.status_code == 403 and body_text(response) == "stale_timestamp"


@pytest.mark.parametrize("app_name", APPS)
@pytest.mark.parametrize("offset", [-300, 300])
def test_get_with_a_timestamp_on_the_windows_edge_is_accepted(app, client, signature_clock, app_name, offset):
    conf = account_conf(app, app_name)
    args = {**signed_args(conf["token"], timestamp=signature_clock + offset), "echostr": "echo"}
    response = client.get(f"/wechat/{app_name}/callback?" + urlencode(args))
    assert response.status_code == 200 and body_text(response) == "echo"


def test_get_with_non_numeric_timestamp_is_refused(app, client):
    conf = account_conf(app, "official")
    nonce = "abc"
    args = {"signature": signature_of(conf["token"], "yesterday", nonce), "timestamp": "yesterday", "nonce": nonce,
            "echostr": "echo"}
    assert client.get("/wechat/official/callback?" + urlencode(args)).status_code == 403


def test_unknown_app_name_is_404(app, client):
    conf = account_conf(app, "official")
    args = {**signed_args(conf["token"]), "echostr": "echo"}
    assert client.get("/wechat/wecom/callback?" + urlencode(args)).status_code == 404
    response = client.post("/wechat/wecom/callback?" + urlencode(args), data=text_xml("帮助").encode(),
                           content_type="text/xml")
    assert response.status_code == 404


# --- POST: text messages --------------------------------------------------------------------------

def test_help_text_is_answered_with_from_and_to_swapped(app, client):
    before = int(time.time())
    reply = text_reply(post(client, "official", text_xml("帮助", sender="o_alice")))
    assert reply["ToUserName"] == "o_alice"
    assert reply["FromUserName"] == GH_ID
    assert reply["Content"] == bot.HELP_TEXT and "帮助" in reply["Content"]
    assert before - 5 <= int(reply["CreateTime"]) <= int(time.time()) + 5


def test_help_with_surrounding_whitespace_is_help(app, client):
    reply = text_reply(post(client, "official", text_xml("  帮助 \n")))
    assert reply["Content"] == bot.HELP_TEXT


@pytest.mark.parametrize("content", ["你好", "hello", "我的信息呀", "", "1"])
def test_any_other_text_gets_the_help_text(app, client, content):
    reply = text_reply(post(client, "official", text_xml(content)))
    assert reply["Content"] == bot.HELP_TEXT


def test_my_info_for_an_unknown_user_is_the_not_linked_text(app, client):
    reply = text_reply(post(client, "official", text_xml("我的信息", sender="o_nobody")))
    assert reply["ToUserName"] == "o_nobody"
    assert reply["Content"] == bot.NOT_LINKED_TEXT


def test_my_info_for_a_linked_volunteer_shows_masked_details(app, client, now):
    with app.app_context():
        tree = f.region_tree()
        owner = f.account("mp_alice", now)
        owner.oa_openid = "oa_alice"
        f.volunteer(owner, tree["community"], now, real_name="张三丰", mobile="13912345678")
        # A different account with only an mp openid equal to the sender must not match.
        f.account("oa_bob", now)
        db.session.commit()

    response = post(client, "official", text_xml("我的信息", sender="oa_alice"))
    reply = text_reply(response)
    assert reply["ToUserName"] == "oa_alice"
    content = reply["Content"]
    assert "139****5678" in content
    assert "13912345678" not in content and "13912345678" not in body_text(response)
    assert "张*丰" in content and "张三丰" not in content
    assert "一社区" in content and "审核中" in content

    # The openid is matched against oa_openid only: an mp openid does not count as linked.
    other = text_reply(post(client, "official", text_xml("我的信息", sender="oa_bob")))
    assert other["Content"] == bot.NOT_LINKED_TEXT


def test_my_info_in_safe_mode_is_masked_too(app, client, now):
    with app.app_context():
        tree = f.region_tree()
        owner = f.account("mp_carol", now)
        owner.oa_openid = "oa_carol"
        f.volunteer(owner, tree["community"], now, mobile="13912345678")
        db.session.commit()
    reply = decrypt_reply(app, "official", post(client, "official", text_xml("我的信息", sender="oa_carol"), safe=True))
    assert "139****5678" in reply["Content"] and "13912345678" not in reply["Content"]


@pytest.mark.parametrize("msg_type", ["image", "voice", "video", "shortvideo", "location", "link"])
def test_documented_user_message_types_get_the_help_text(app, client, msg_type):
    response = post(client, "official", text_xml("x", msg_type=msg_type))
    assert text_reply(response)["Content"] == bot.HELP_TEXT


@pytest.mark.parametrize("msg_type", ["somethingnew", "device_text", "notsure", "miniprogrampage"])
def test_message_types_wechat_does_not_document_are_answered_success(app, client, msg_type):
    response = post(client, "official", text_xml("帮助", msg_type=msg_type))
    assert response.status_code == 200 and body_text(response) == "success"


def test_unknown_event_is_answered_success(app, client):
    response = post(client, "official", event_xml("something_brand_new", event_key="k"))
    assert response.status_code == 200 and body_text(response) == "success"


def test_text_to_the_mini_program_is_answered_success(app, client):
    response = post(client, "miniprogram", text_xml("帮助", to=MP_GH_ID))
    assert response.status_code == 200 and body_text(response) == "success"


# --- POST: follow events --------------------------------------------------------------------------

def test_subscribe_is_welcomed_with_registration_help(app, client):
    reply = text_reply(post(client, "official", event_xml("subscribe", sender="o_new")))
    assert reply["ToUserName"] == "o_new" and reply["FromUserName"] == GH_ID
    assert "欢迎关注" in reply["Content"] and "注册" in reply["Content"]
    [follower] = followers(app)
    assert follower.openid == "o_new" and follower.is_subscribed and follower.scene is None
    assert follower.subscribed_at is not None
    assert count(app, CallbackReceipt) == 1


def test_subscribe_through_a_parametric_qr_records_the_scene(app, client):
    reply = text_reply(post(client, "official", event_xml("subscribe", sender="o_qr", event_key="qrscene_123",
                                                           extra="<Ticket><![CDATA[TICKET]]></Ticket>")))
    assert "欢迎关注" in reply["Content"]
    [follower] = followers(app)
    assert follower.openid == "o_qr" and follower.scene == "123" and follower.is_subscribed


def test_unsubscribe_answers_success_and_marks_the_follower(app, client):
    now = int(time.time())
    text_reply(post(client, "official", event_xml("subscribe", sender="o_leaver", event_key="qrscene_9",
                                                  create_time=now - 10)))
    response = post(client, "official", event_xml("unsubscribe", sender="o_leaver", create_time=now))
    assert response.status_code == 200 and body_text(response) == "success"
    [follower] = followers(app)
    assert follower.is_subscribed is False
    assert follower.unsubscribed_at is not None
    assert follower.scene is None  # no more of the user's data than needed
    assert count(app, CallbackReceipt) == 2


def test_unsubscribe_of_an_unknown_follower_is_recorded(app, client):
    response = post(client, "official", event_xml("unsubscribe", sender="o_stranger"))
    assert response.status_code == 200 and body_text(response) == "success"
    [follower] = followers(app)
    assert follower.openid == "o_stranger" and follower.is_subscribed is False


def test_follow_again_after_unsubscribing_resubscribes(app, client):
    now = int(time.time())
    post(client, "official", event_xml("subscribe", sender="o_back", create_time=now - 20))
    post(client, "official", event_xml("unsubscribe", sender="o_back", create_time=now - 10))
    text_reply(post(client, "official", event_xml("subscribe", sender="o_back", create_time=now, event_key="qrscene_5")))
    [follower] = followers(app)
    assert follower.is_subscribed and follower.scene == "5" and follower.unsubscribed_at is None


def test_retried_subscribe_is_applied_once_with_the_same_reply(app, client):
    xml = event_xml("subscribe", sender="o_retry", create_time=int(time.time()), event_key="qrscene_123")
    first, second, third = (post(client, "official", xml) for _ in range(3))
    contents = {text_reply(r)["Content"] for r in (first, second, third)}
    assert len(contents) == 1 and "欢迎关注" in contents.pop()
    assert len(followers(app)) == 1
    assert count(app, CallbackReceipt) == 1


def test_retried_subscribe_after_redis_lost_the_claim_is_still_applied_once(app, client):
    xml = event_xml("subscribe", sender="o_flush", create_time=int(time.time()))
    text_reply(post(client, "official", xml))
    app.extensions["redis"].flushdb()  # the fast path forgot: the database receipt must stop the repeat
    again = post(client, "official", xml)
    assert again.status_code == 200
    assert len(followers(app)) == 1
    assert count(app, CallbackReceipt) == 1


def test_without_redis_pushes_are_still_answered_and_deduplicated(make_app):
    app = make_app(redis={"url": "redis://127.0.0.1:1/0"})
    client = app.test_client()
    assert text_reply(post(client, "official", text_xml("帮助")))["Content"] == bot.HELP_TEXT
    xml = event_xml("subscribe", sender="o_noredis", create_time=int(time.time()))
    assert "欢迎关注" in text_reply(post(client, "official", xml))["Content"]
    assert post(client, "official", xml).status_code == 200
    assert len(followers(app)) == 1
    assert count(app, CallbackReceipt) == 1


def test_concurrent_deliveries_of_one_subscribe_apply_it_once(app):
    xml = event_xml("subscribe", sender="o_burst", create_time=int(time.time()), event_key="qrscene_77")
    responses = deliver_at_once(app, xml, 6)
    assert [r.status_code for r in responses] == [200] * 6
    answered = [r for r in responses if body_text(r) != "success"]
    assert answered and {text_reply(r)["Content"] for r in answered} == {bot.WELCOME_WITH_SCENE_TEXT}
    assert len(followers(app)) == 1 and count(app, CallbackReceipt) == 1


def test_subscribe_to_the_mini_program_callback_records_no_follower(app, client):
    response = post(client, "miniprogram", event_xml("subscribe", to=MP_GH_ID))
    assert response.status_code == 200 and body_text(response) == "success"
    assert followers(app) == [] and count(app, CallbackReceipt) == 0


# --- dedup ----------------------------------------------------------------------------------------

def test_same_msg_id_three_times_gets_the_same_reply(app, client, now):
    xml = text_xml("我的信息", sender="oa_dave", msg_id="7001")
    first = text_reply(post(client, "official", xml))
    # The answer is remembered: even if the user links their account in between, a retry repeats it.
    with app.app_context():
        tree = f.region_tree()
        owner = f.account("mp_dave", now)
        owner.oa_openid = "oa_dave"
        f.volunteer(owner, tree["community"], now)
        db.session.commit()
    second = text_reply(post(client, "official", xml))
    third = text_reply(post(client, "official", xml))
    assert first["Content"] == second["Content"] == third["Content"] == bot.NOT_LINKED_TEXT
    assert first["ToUserName"] == second["ToUserName"] == third["ToUserName"] == "oa_dave"


def test_same_msg_id_retried_in_safe_mode_gets_the_same_reply(app, client):
    xml = text_xml("帮助", msg_id="7002")
    replies = [decrypt_reply(app, "official", post(client, "official", xml, safe=True)) for _ in range(3)]
    assert {r["Content"] for r in replies} == {bot.HELP_TEXT}


def test_same_subscribe_event_twice_leaves_one_receipt(app, client):
    xml = event_xml("subscribe", sender="o_twice", create_time=int(time.time()))
    assert post(client, "official", xml).status_code == 200
    assert post(client, "official", xml).status_code == 200
    assert count(app, CallbackReceipt) == 1
    with app.app_context():
        receipt = db.session.scalar(select(CallbackReceipt))
        assert receipt.app == "official" and "o_twice" in receipt.dedup_key


def test_dedup_is_per_app(app, client):
    xml = text_xml("帮助", msg_id="7003")
    assert text_reply(post(client, "official", xml))["Content"] == bot.HELP_TEXT
    assert body_text(post(client, "miniprogram", xml)) == "success"
    assert text_reply(post(client, "official", xml))["Content"] == bot.HELP_TEXT


def test_different_msg_ids_are_different_messages(app, client, now):
    first = text_reply(post(client, "official", text_xml("我的信息", sender="oa_erin", msg_id="8001")))
    with app.app_context():
        tree = f.region_tree()
        owner = f.account("mp_erin", now)
        owner.oa_openid = "oa_erin"
        f.volunteer(owner, tree["community"], now)
        db.session.commit()
    second = text_reply(post(client, "official", text_xml("我的信息", sender="oa_erin", msg_id="8002")))
    assert first["Content"] == bot.NOT_LINKED_TEXT and "139****5678" in second["Content"]


# --- POST signature and timestamp -----------------------------------------------------------------

def test_post_with_wrong_signature_is_refused_without_side_effects(app, client):
    conf = account_conf(app, "official")
    xml = event_xml("subscribe", sender="o_forged", create_time=int(time.time()), event_key="qrscene_1")
    args = signed_args(conf["token"])
    args["signature"] = signature_of("forged", args["timestamp"], args["nonce"])
    response = post(client, "official", xml, args=args)
    assert response.status_code == 403
    assert "欢迎" not in body_text(response)
    assert followers(app) == [] and count(app, CallbackReceipt) == 0
    # Nothing was claimed either: the genuine push is then handled normally.
    assert "欢迎关注" in text_reply(post(client, "official", xml))["Content"]
    assert len(followers(app)) == 1


@pytest.mark.parametrize("app_name", APPS)
def test_post_without_signature_is_refused(app, client, app_name):
    response = client.post(f"/wechat/{app_name}/callback", data=text_xml("帮助").encode(), content_type="text/xml")
    assert response.status_code == 403


@pytest.mark.parametrize("offset", [-301, 301])
def test_post_with_stale_timestamp_is_refused(app, client, signature_clock, offset):
    conf = account_conf(app, "official")
    args = signed_args(conf["token"], timestamp=signature_clock + offset)
    response = post(client, "official", event_xml("subscribe", sender="o_late"), args=args)
    assert response.status_code == 403
    assert followers(app) == [] and count(app, CallbackReceipt) == 0


def test_post_signed_with_the_other_apps_token_is_refused(app, client):
    args = signed_args(account_conf(app, "miniprogram")["token"])
    assert post(client, "official", text_xml("帮助"), args=args).status_code == 403


# --- safe mode ------------------------------------------------------------------------------------

def test_safe_mode_text_gets_an_encrypted_reply(app, client):
    response = post(client, "official", text_xml("帮助", sender="o_safe"), safe=True)
    assert "帮助" not in body_text(response)  # nothing readable outside the envelope
    reply = decrypt_reply(app, "official", response)
    assert reply["ToUserName"] == "o_safe" and reply["FromUserName"] == GH_ID
    assert reply["Content"] == bot.HELP_TEXT


def test_safe_mode_subscribe_is_applied(app, client):
    reply = decrypt_reply(app, "official", post(client, "official", event_xml("subscribe", sender="o_safe2",
                                                                              event_key="qrscene_42"), safe=True))
    assert "欢迎关注" in reply["Content"]
    [follower] = followers(app)
    assert follower.openid == "o_safe2" and follower.scene == "42"


def test_safe_mode_with_wrong_msg_signature_is_refused(app, client):
    conf = account_conf(app, "official")
    body, args = encrypt(conf, event_xml("subscribe", sender="o_bad_ms"), signed_args(conf["token"]))
    args["msg_signature"] = signature_of(conf["token"], args["timestamp"], args["nonce"], "tampered")
    response = post(client, "official", body, args=args)
    assert response.status_code == 403
    assert followers(app) == []


def test_safe_mode_without_msg_signature_is_refused(app, client):
    conf = account_conf(app, "official")
    body, args = encrypt(conf, text_xml("帮助"), signed_args(conf["token"]))
    del args["msg_signature"]
    assert post(client, "official", body, args=args).status_code == 403


def test_safe_mode_with_tampered_ciphertext_is_refused(app, client):
    conf = account_conf(app, "official")
    body, args = encrypt(conf, text_xml("帮助"), signed_args(conf["token"]))
    envelope = xmltodict.parse(body)["xml"]
    tampered = envelope["Encrypt"][:-8] + ("A" * 8 if not envelope["Encrypt"].endswith("A" * 8) else "B" * 8)
    body = body.replace(envelope["Encrypt"], tampered)
    # msg_signature still covers the original ciphertext.
    assert post(client, "official", body, args=args).status_code == 403


def test_safe_mode_encrypted_for_another_app_id_is_refused(app, client):
    response = post(client, "official", event_xml("subscribe", sender="o_other_app"), safe=True,
                    app_id="wx_someone_else_000")
    assert response.status_code == 403
    assert followers(app) == [] and count(app, CallbackReceipt) == 0


def test_safe_mode_with_the_other_apps_key_is_refused(app, client):
    mini = account_conf(app, "miniprogram")
    official = account_conf(app, "official")
    # Signed correctly for the official account, but encrypted with the mini-program's key.
    crypto_conf = {**official, "encoding_aes_key": mini["encoding_aes_key"]}
    body, args = encrypt(crypto_conf, text_xml("帮助"), signed_args(official["token"]))
    assert post(client, "official", body, args=args).status_code in (400, 403)


def test_safe_mode_envelope_without_encrypt_is_refused(app, client):
    conf = account_conf(app, "official")
    args = {**signed_args(conf["token"]), "encrypt_type": "aes", "msg_signature": "0" * 40}
    assert post(client, "official", text_xml("帮助"), args=args).status_code == 400


def test_required_safe_mode_refuses_plaintext(make_app):
    app = make_app(wechat={"require_safe_mode": True})
    client = app.test_client()
    response = post(client, "official", event_xml("subscribe", sender="o_plain"))
    assert response.status_code == 403
    assert followers(app) == [] and count(app, CallbackReceipt) == 0
    assert post(client, "miniprogram", event_xml("subscribe_msg_popup_event", to=MP_GH_ID)).status_code == 403


def test_required_safe_mode_accepts_safe_mode(make_app):
    app = make_app(wechat={"require_safe_mode": True})
    client = app.test_client()
    reply = decrypt_reply(app, "official", post(client, "official", text_xml("帮助"), safe=True))
    assert reply["Content"] == bot.HELP_TEXT
    response = post(client, "miniprogram", POPUP_XML_ONE(), safe=True)
    assert response.status_code == 200 and body_text(response) == "success"


def test_required_safe_mode_still_verifies_urls(make_app):
    app = make_app(wechat={"require_safe_mode": True})
    conf = account_conf(app, "official")
    args = {**signed_args(conf["token"]), "echostr": "echo-123"}
    response = app.test_client().get("/wechat/official/callback?" + urlencode(args))
    assert response.status_code == 200 and body_text(response) == "echo-123"


def test_safe_mode_json_push_to_the_mini_program(app, client):
    response = post(client, "miniprogram", popup_json(list_value=[POPUP_ITEM_ACCEPT]), safe=True)
    assert response.status_code == 200 and body_text(response) == "success"


# --- mini-program subscribe-message events --------------------------------------------------------

POPUP_ITEM_ACCEPT = {"TemplateId": "tmpl_accept", "SubscribeStatusString": "accept", "PopupScene": "0"}
POPUP_ITEM_REJECT = {"TemplateId": "tmpl_reject", "SubscribeStatusString": "reject", "PopupScene": "2"}


def _popup_list_xml(item: dict[str, str]) -> str:
    return ("<List>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" if k != "PopupScene" else f"<{k}>{v}</{k}>"
                               for k, v in item.items()) + "</List>")


def POPUP_XML_ONE(create_time: int | None = None) -> str:  # noqa: N802 - reads like the constant it builds
    return event_xml("subscribe_msg_popup_event", sender="o_mp_user", to=MP_GH_ID, create_time=create_time,
                     extra="<SubscribeMsgPopupEvent>" + _popup_list_xml(POPUP_ITEM_ACCEPT) + "</SubscribeMsgPopupEvent>")


def popup_xml_several() -> str:
    lists = _popup_list_xml(POPUP_ITEM_ACCEPT) + _popup_list_xml(POPUP_ITEM_REJECT)
    return event_xml("subscribe_msg_popup_event", sender="o_mp_user", to=MP_GH_ID,
                     extra=f"<SubscribeMsgPopupEvent>{lists}</SubscribeMsgPopupEvent>")


def popup_json(*, list_value, wrapped: bool = False, event: str = "subscribe_msg_popup_event",
               wrapper: str = "SubscribeMsgPopupEvent") -> str:
    document = {"ToUserName": MP_GH_ID, "FromUserName": "o_mp_user", "CreateTime": str(int(time.time())),
                "MsgType": "event", "Event": event}
    if wrapped:
        document[wrapper] = {"List": list_value}
    else:
        document["List"] = list_value
    return json.dumps(document, ensure_ascii=False)


def sent_xml() -> str:
    items = (
        "<List><TemplateId><![CDATA[tmpl_ok]]></TemplateId><MsgID>1700827132819554304</MsgID>"
        "<ErrorCode>0</ErrorCode><ErrorStatus><![CDATA[success]]></ErrorStatus></List>"
        "<List><TemplateId><![CDATA[tmpl_blocked]]></TemplateId><MsgID>1700827132819554305</MsgID>"
        "<ErrorCode>20001</ErrorCode><ErrorStatus><![CDATA[fail_user_refuse]]></ErrorStatus></List>"
    )
    return event_xml("subscribe_msg_sent_event", sender="o_mp_user", to=MP_GH_ID,
                     extra=f"<SubscribeMsgSentEvent>{items}</SubscribeMsgSentEvent>")


def change_xml() -> str:
    return event_xml("subscribe_msg_change_event", sender="o_mp_user", to=MP_GH_ID,
                     extra="<SubscribeMsgChangeEvent><List><TemplateId><![CDATA[tmpl_accept]]></TemplateId>"
                           "<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString></List>"
                           "</SubscribeMsgChangeEvent>")


ACCEPT = SubscriptionItem(template_id="tmpl_accept", status="accept", popup_scene="0")
REJECT = SubscriptionItem(template_id="tmpl_reject", status="reject", popup_scene="2")
SENT_OK = SubscriptionItem(template_id="tmpl_ok", msg_id="1700827132819554304", error_code=0, error_status="success")
SENT_REFUSED = SubscriptionItem(template_id="tmpl_blocked", msg_id="1700827132819554305", error_code=20001,
                                error_status="fail_user_refuse")

SUBSCRIPTION_SHAPES = {
    "xml-one-list": (lambda: POPUP_XML_ONE(), (ACCEPT,)),
    "xml-several-lists": (popup_xml_several, (ACCEPT, REJECT)),
    "json-object-unwrapped": (lambda: popup_json(list_value=POPUP_ITEM_ACCEPT), (ACCEPT,)),
    "json-array-unwrapped": (lambda: popup_json(list_value=[POPUP_ITEM_ACCEPT, POPUP_ITEM_REJECT]), (ACCEPT, REJECT)),
    "json-object-wrapped": (lambda: popup_json(list_value=POPUP_ITEM_REJECT, wrapped=True), (REJECT,)),
    "json-array-wrapped": (lambda: popup_json(list_value=[POPUP_ITEM_ACCEPT, POPUP_ITEM_REJECT], wrapped=True),
                           (ACCEPT, REJECT)),
    "json-array-of-one": (lambda: popup_json(list_value=[POPUP_ITEM_REJECT]), (REJECT,)),
    "xml-sent": (sent_xml, (SENT_OK, SENT_REFUSED)),
    "json-sent-wrapped-int-codes": (
        lambda: popup_json(event="subscribe_msg_sent_event", wrapper="SubscribeMsgSentEvent", wrapped=True,
                           list_value={"TemplateId": "tmpl_ok", "MsgID": 1700827132819554304, "ErrorCode": 0,
                                       "ErrorStatus": "success"}),
        (SENT_OK,)),
    "json-sent-unwrapped": (
        lambda: popup_json(event="subscribe_msg_sent_event",
                           list_value=[{"TemplateId": "tmpl_blocked", "MsgID": "1700827132819554305",
                                        "ErrorCode": "20001", "ErrorStatus": "fail_user_refuse"}]),
        (SENT_REFUSED,)),
    "xml-change": (change_xml, (SubscriptionItem(template_id="tmpl_accept", status="reject"),)),
}


@pytest.mark.parametrize("shape", SUBSCRIPTION_SHAPES)
def test_subscribe_message_events_are_answered_success(app, client, shape):
    build, _ = SUBSCRIPTION_SHAPES[shape]
    response = post(client, "miniprogram", build())
    assert response.status_code == 200
    assert body_text(response) == "success"


@pytest.mark.parametrize("shape", SUBSCRIPTION_SHAPES)
def test_subscribe_message_events_in_safe_mode_are_answered_success(app, client, shape):
    build, _ = SUBSCRIPTION_SHAPES[shape]
    response = post(client, "miniprogram", build(), safe=True)
    assert response.status_code == 200 and body_text(response) == "success"


@pytest.mark.parametrize("shape", SUBSCRIPTION_SHAPES)
def test_open_callback_normalises_subscription_items(app, shape):
    build, expected = SUBSCRIPTION_SHAPES[shape]
    conf = account_conf(app, "miniprogram")
    body = build()
    opened = open_callback(conf, signed_args(conf["token"]), body.encode())
    message = opened.message
    assert opened.is_json == body.startswith("{") and not opened.is_encrypted
    assert message.msg_type == "event" and message.event.startswith("subscribe_msg_")
    assert message.from_user == "o_mp_user" and message.to_user == MP_GH_ID
    assert message.subscriptions == expected
    assert [item.template_id for item in message.subscriptions] == [item.template_id for item in expected]


@pytest.mark.parametrize("shape", ["xml-several-lists", "json-array-wrapped", "json-sent-unwrapped"])
def test_open_callback_normalises_subscription_items_in_safe_mode(app, shape):
    build, expected = SUBSCRIPTION_SHAPES[shape]
    conf = account_conf(app, "miniprogram")
    plaintext = build()
    body, args = encrypt(conf, plaintext, signed_args(conf["token"]), as_json=plaintext.startswith("{"))
    opened = open_callback(conf, args, body.encode(), require_safe_mode=True)
    assert opened.is_encrypted
    assert opened.message.subscriptions == expected


def test_open_callback_skips_items_without_template_id(app):
    conf = account_conf(app, "miniprogram")
    body = popup_json(list_value=[{"SubscribeStatusString": "accept"}, "junk", POPUP_ITEM_ACCEPT])
    opened = open_callback(conf, signed_args(conf["token"]), body.encode())
    assert opened.message.subscriptions == (ACCEPT,)


def test_open_callback_keeps_no_subscriptions_for_other_events(app):
    conf = account_conf(app, "official")
    opened = open_callback(conf, signed_args(conf["token"]),
                           event_xml("subscribe", event_key="qrscene_77").encode())
    assert opened.message.subscriptions == ()
    assert opened.message.scene == "77"
    assert opened.message.dedup_key.startswith("evt:o_user:")


def test_open_callback_uses_msg_id_as_dedup_key_for_messages(app):
    conf = account_conf(app, "official")
    opened = open_callback(conf, signed_args(conf["token"]), text_xml("帮助", msg_id="123456").encode())
    assert opened.message.dedup_key == "msg:123456"
    assert opened.message.content == "帮助" and opened.message.msg_type == "text"


def test_open_callback_reads_scan_scene_without_prefix(app):
    conf = account_conf(app, "official")
    opened = open_callback(conf, signed_args(conf["token"]), event_xml("SCAN", event_key="123").encode())
    assert opened.message.event == "scan" and opened.message.scene == "123"


# --- hostile and broken bodies --------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><ToUserName><![CDATA[gh_sim]]></ToUserName><FromUserName><![CDATA[o_evil]]></FromUserName>
<CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>&lol9;</Content><MsgId>666</MsgId></xml>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName><![CDATA[gh_sim]]></ToUserName><FromUserName><![CDATA[o_evil]]></FromUserName>
<CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>&xxe;</Content><MsgId>667</MsgId></xml>"""


@pytest.mark.parametrize("app_name", APPS)
def test_malformed_xml_is_400(app, client, app_name):
    for body in ("<xml><ToUserName>gh</ToUserName>", "<xml><a></b></xml>", "not xml at all", "<notxml/>", ""):
        response = post(client, app_name, body)
        assert response.status_code == 400, body


@pytest.mark.parametrize("safe", [False, True], ids=["plaintext", "safe"])
def test_billion_laughs_is_refused_quickly(app, client, safe):
    started = time.monotonic()
    response = post(client, "official", BILLION_LAUGHS.format(now=int(time.time())), safe=safe)
    assert response.status_code == 400
    assert time.monotonic() - started < 2
    assert "lollol" not in body_text(response)


@pytest.mark.parametrize("safe", [False, True], ids=["plaintext", "safe"])
def test_external_entity_is_refused_and_never_read(app, client, safe):
    response = post(client, "official", XXE.format(now=int(time.time())), safe=safe)
    assert response.status_code == 400
    assert "root:" not in body_text(response)


@pytest.mark.parametrize("declaration", ["<!DOCTYPE xml>", "<!doctype xml [ ]>", "<! ENTITY x 'y'>"])
def test_doctype_hidden_in_the_encrypted_payload_is_refused(app, client, declaration):
    plaintext = declaration + "\n" + text_xml("帮助")
    response = post(client, "official", plaintext, safe=True)
    assert response.status_code == 400


def test_user_text_that_quotes_a_doctype_is_still_answered(app, client):
    # WeChat sends the user's words verbatim inside CDATA: quoting HTML is not a DTD.
    response = post(client, "official", text_xml("<!DOCTYPE html> 是什么意思？"))
    assert text_reply(response)["Content"] == bot.HELP_TEXT


def test_doctype_after_a_processing_instruction_that_mimics_a_tag_is_refused(app, client):
    body = '<?xml version="1.0"?><?note <xml> ?>' + XXE.format(now=int(time.time())).split("?>", 1)[1]
    response = post(client, "official", body)
    assert response.status_code == 400
    assert "root:" not in body_text(response)


def test_json_push_quoting_a_doctype_is_accepted(app, client):
    item = dict(POPUP_ITEM_ACCEPT, PopupScene="<!DOCTYPE x [<!ENTITY y 'z'>]>")
    response = post(client, "miniprogram", popup_json(list_value=[item]))
    assert response.status_code == 200 and body_text(response) == "success"


@pytest.mark.parametrize("app_name", APPS)
def test_body_over_64_kib_is_413(app, client, app_name):
    padding = "x" * (MAX_BODY_BYTES + 1)
    response = post(client, app_name, text_xml(padding))
    assert response.status_code == 413


def test_body_over_64_kib_without_content_length_is_413(app, client):
    conf = account_conf(app, "official")
    data = text_xml("x" * (MAX_BODY_BYTES + 1)).encode()
    response = client.post("/wechat/official/callback?" + urlencode(signed_args(conf["token"])),
                           input_stream=io.BytesIO(data), content_type="text/xml",
                           headers={"Transfer-Encoding": "chunked"},
                           # What a WSGI server that de-chunks the body (granian, gunicorn, werkzeug's) announces.
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.request.content_length is None
    assert response.status_code == 413


def test_body_just_under_64_kib_is_accepted(app, client):
    now = int(time.time())
    base = text_xml("", msg_id="4242", create_time=now)
    body = text_xml("x" * (MAX_BODY_BYTES - len(base.encode())), msg_id="4242", create_time=now)
    assert len(body.encode()) == MAX_BODY_BYTES
    assert text_reply(post(client, "official", body))["Content"] == bot.HELP_TEXT


@pytest.mark.parametrize("body", ["{not json", '{"ToUserName": ', "{}", '{"a": [1, 2]}'])
def test_json_garbage_is_400(app, client, body):
    assert post(client, "miniprogram", body).status_code == 400


@pytest.mark.parametrize("app_name", APPS)
def test_missing_create_time_is_400(app, client, app_name):
    xml = ("<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[o_user]]></FromUserName>"
           "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[帮助]]></Content><MsgId>1</MsgId></xml>")
    assert post(client, app_name, xml).status_code == 400


def test_non_numeric_create_time_is_400(app, client):
    xml = re.sub(r"<CreateTime>\d+</CreateTime>", "<CreateTime>soon</CreateTime>", text_xml("帮助"))
    assert "soon" in xml
    assert post(client, "official", xml).status_code == 400


@pytest.mark.parametrize("missing", ["FromUserName", "ToUserName", "MsgType"])
def test_missing_required_fields_is_400(app, client, missing):
    document = xmltodict.parse(text_xml("帮助"))
    del document["xml"][missing]
    assert post(client, "official", xmltodict.unparse(document)).status_code == 400


def test_json_missing_create_time_is_400(app, client):
    document = json.loads(popup_json(list_value=POPUP_ITEM_ACCEPT))
    del document["CreateTime"]
    assert post(client, "miniprogram", json.dumps(document)).status_code == 400


def test_open_callback_rejections_carry_status_and_code(app):
    conf = account_conf(app, "official")
    with pytest.raises(CallbackRejected) as caught:
        open_callback(conf, signed_args(conf["token"]), b"<xml><oops></xml>")
    assert caught.value.status == 400 and caught.value.code == "malformed_body"
    with pytest.raises(CallbackRejected) as caught:
        open_callback(conf, signed_args(conf["token"]), b"x" * (MAX_BODY_BYTES + 1))
    assert caught.value.status == 413
    with pytest.raises(CallbackRejected) as caught:
        open_callback(conf, signed_args(conf["token"]), text_xml("帮助").encode(), require_safe_mode=True)
    assert caught.value.status == 403 and caught.value.code == "safe_mode_required"


# --- the push fast path (handlers/wechat_callback.answer_push_fast) --------------------------------

def test_concurrent_deliveries_of_one_text_message_get_one_answer(app, now):
    """Parallel repeats of a push without database effects: one SET NX wins, every delivery answers with it."""
    xml = text_xml("我的信息", sender="oa_burst", msg_id="9100")
    responses = deliver_at_once(app, xml, 8)
    assert len(responses) == 8
    assert {text_reply(r)["Content"] for r in responses} == {bot.NOT_LINKED_TEXT}
    # The answer is remembered once: after the sender links their account, a retry still repeats it.
    with app.app_context():
        owner = f.account("mp_burst", now)
        owner.oa_openid = "oa_burst"
        f.volunteer(owner, f.region_tree()["community"], now)
        db.session.commit()
    assert text_reply(post(app.test_client(), "official", xml))["Content"] == bot.NOT_LINKED_TEXT
    assert "139****5678" in text_reply(post(app.test_client(), "official", text_xml("我的信息", sender="oa_burst")))["Content"]


def test_a_repeat_after_redis_dropped_the_connection_gets_the_first_answer(app, client, now, monkeypatch):
    """The kept Redis connection failing once is reconnected and the answer still remembered."""
    from redis.connection import AbstractConnection

    xml = text_xml("我的信息", sender="oa_drop", msg_id="9200")
    real_send, failures = AbstractConnection.send_command, []

    def failing_once(self, *args, **kwargs):
        if args[:1] == ("SET",) and not failures:
            failures.append(args)
            self.disconnect()
            raise redis_lib().ConnectionError("connection dropped")
        return real_send(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_command", failing_once)
    assert text_reply(post(client, "official", xml))["Content"] == bot.NOT_LINKED_TEXT
    assert failures  # the SET went over the kept connection and failed once
    with app.app_context():
        owner = f.account("mp_drop", now)
        owner.oa_openid = "oa_drop"
        f.volunteer(owner, f.region_tree()["community"], now)
        db.session.commit()
    assert text_reply(post(client, "official", xml))["Content"] == bot.NOT_LINKED_TEXT


def redis_lib():
    import redis

    return redis


def test_push_answers_carry_the_headers_every_answer_gets(app, client):
    # The URL verification (GET) goes through Flask and its after-request hooks: whatever they add
    # to a non-console answer, the fast path's answers carry too.
    verification = client.get(f"/wechat/official/callback?{urlencode(signed_args(account_conf(app, 'official')['token']))}")
    added = {name: value for name, value in verification.headers.items() if name not in ("Content-Type", "Content-Length")}
    assert added["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" in added
    for response in (post(client, "official", text_xml("帮助")), post(client, "miniprogram", text_xml("帮助", to=MP_GH_ID)),
                     post(client, "official", text_xml("帮助"), args={"signature": "x", "timestamp": "1", "nonce": "n"})):
        assert {name: response.headers.get(name) for name in added} == added
        assert int(response.headers["Content-Length"]) == len(response.get_data())
    refused = post(client, "official", text_xml("帮助"), args={"signature": "x", "timestamp": "1", "nonce": "n"})
    assert refused.status == "403 FORBIDDEN" and refused.content_type == "text/plain; charset=utf-8"


def test_a_push_that_fails_unexpectedly_gets_the_apps_500(app, client, monkeypatch):
    from app.services import wechat_events

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(wechat_events, "handle", broken)
    response = post(client, "official", text_xml("帮助"))
    assert response.status_code == 500
    assert response.get_json() == {"error": {"code": "internal_error", "message": "服务器内部错误，请稍后再试"}}
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_other_methods_and_unknown_apps_still_go_through_flask(app, client):
    assert client.put("/wechat/official/callback", data=b"x").status_code == 405
    assert client.get("/wechat/other/callback").status_code == 404
    unknown = client.post(f"/wechat/other/callback?{urlencode(signed_args('t'))}", data=text_xml("帮助").encode(),
                          content_type="text/xml")
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("query", ["", "a=1&a=2&b=", "signature=%E4%BD%A0&nonce=%ZZ&x", "t=%FF%FE&u=caf\u00e9",
                                   "a+b=c+d&&=&k=%20v%20"])
def test_the_fast_path_reads_the_query_as_flask_does(app, query):
    from werkzeug.test import EnvironBuilder

    from handlers.wechat_callback import _query_args

    environ = EnvironBuilder(path="/wechat/official/callback", method="POST").get_environ()
    environ["QUERY_STRING"] = query.encode("utf-8").decode("latin1")
    with app.test_request_context(environ_overrides=environ):
        from flask import request

        assert list(_query_args(environ).items(multi=True)) == list(request.args.items(multi=True))


def test_a_push_declared_over_the_apps_body_limit_is_the_callbacks_413(app, client):
    conf = account_conf(app, "official")
    response = client.post(f"/wechat/official/callback?{urlencode(signed_args(conf['token']))}",
                           data=b"<xml>" + b" " * (1024 * 1024 + 10) + b"</xml>", content_type="text/xml")
    assert response.status_code == 413 and body_text(response) == "payload_too_large"


def deliver_at_once(app, xml: str, times: int) -> list:
    """The same push delivered `times` times in parallel, released together by a barrier; the answers."""
    import threading

    responses, barrier = [], threading.Barrier(times)

    def deliver():
        barrier.wait()
        responses.append(post(app.test_client(), "official", xml))

    threads = [threading.Thread(target=deliver) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return responses
