"""The WeChat simulator: API endpoints (through Flask's test client) and signed callback pushes.

Time never passes for real in these tests: the simulator gets a fake clock and a fake sleep.
Pushes go to a throwaway receiver on a loopback port that checks them the way the service must
(signature, msg_signature, AES decryption with wechatpy).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import xmltodict
from flask import Flask, request
from werkzeug.serving import make_server
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature

from app.wechat.simulator import (
    create_simulator_app,
    event_message,
    push_callback,
    push_from_cli,
    sign_query,
    subscribe_msg_popup_event,
    subscribe_msg_sent_event,
    text_message,
)
from app.wechat.simulator.fields import validate_value

WECHAT: dict[str, Any] = {
    "api_base": "http://127.0.0.1:5100", "timeout_seconds": 5.0, "require_safe_mode": False,
    "callback_max_age_seconds": 300,
    "official": {"app_id": "wx_sim_official_0001", "app_secret": "sim-official-secret",
                 "token": "sim-official-token", "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"},
    "miniprogram": {"app_id": "wx_sim_miniprogram_01", "app_secret": "sim-miniprogram-secret",
                    "token": "sim-miniprogram-token", "encoding_aes_key": "GFEDCBA9876543210zyxwvutsrqponmlkjihgfedcba"},
    "templates": {"registration_result": "sim_tmpl_registration_result"},
}
OFFICIAL, MINI = WECHAT["official"], WECHAT["miniprogram"]
T0 = 1_790_000_000.0


class FakeClock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def sim(clock, sleeps) -> Flask:
    return create_simulator_app(WECHAT, clock=clock, sleep=sleeps.append)


@pytest.fixture
def client(sim):
    return sim.test_client()


def stable_token(client, account=MINI, **extra) -> dict[str, Any]:
    return client.post("/cgi-bin/stable_token", json={"grant_type": "client_credential", "appid": account["app_id"],
                                                       "secret": account["app_secret"], **extra}).json


def token_of(client, account=MINI) -> str:
    return stable_token(client, account)["access_token"]


def subscribe(client, token: str, data: dict[str, str] | None = None, **body) -> dict[str, Any]:
    payload = {"touser": "sim_alice", "template_id": "tmpl_a", "page": "pages/me/index",
               "data": {k: {"value": v} for k, v in (data or {"thing1": "你好"}).items()}, **body}
    return client.post(f"/cgi-bin/message/subscribe/send?access_token={token}", json=payload).json


def template(client, token: str, **body) -> dict[str, Any]:
    payload = {"touser": "sim_alice", "template_id": "tmpl_t", "data": {"thing1": {"value": "通知"}}, **body}
    return client.post(f"/cgi-bin/message/template/send?access_token={token}", json=payload).json


# --- access tokens ----------------------------------------------------------------------------------


def test_stable_token_is_idempotent_and_counted(client):
    first, second = stable_token(client), stable_token(client)
    assert first["access_token"] == second["access_token"]
    assert first["expires_in"] == 7200
    assert client.get("/_sim/stats").json["tokens_issued"] == {MINI["app_id"]: 1}


def test_force_refresh_issues_a_new_token_and_the_old_one_lives_five_more_minutes(client, clock):
    old = token_of(client)
    new = stable_token(client, force_refresh=True)["access_token"]
    assert new != old
    assert stable_token(client)["access_token"] == new
    clock.advance(299)
    assert subscribe(client, old)["errcode"] == 0
    clock.advance(2)
    assert subscribe(client, old)["errcode"] == 40001
    assert subscribe(client, new)["errcode"] == 0
    assert client.get("/_sim/stats").json["tokens_issued"][MINI["app_id"]] == 2


def test_token_expires_after_two_hours_and_is_rotated_before(client, clock):
    old = token_of(client)
    clock.advance(7200 - 299)  # less than 5 minutes left: normal mode hands out a new token
    rotated = stable_token(client)
    assert rotated["access_token"] != old and rotated["expires_in"] == 7200
    assert subscribe(client, old)["errcode"] == 0  # the old one still works until it expires
    clock.advance(300)
    assert subscribe(client, old)["errcode"] == 42001
    assert subscribe(client, rotated["access_token"])["errcode"] == 0


@pytest.mark.parametrize("change, errcode", [
    ({"appid": "wx_unknown"}, 40013),
    ({"secret": "wrong"}, 40125),
    ({"grant_type": "password"}, 40002),
])
def test_stable_token_errors(client, change, errcode):
    answer = stable_token(client, **change)
    assert answer["errcode"] == errcode and answer["errmsg"] and "access_token" not in answer
    assert client.get("/_sim/stats").json["tokens_issued"] == {}


def test_legacy_token_endpoint_issues_a_new_token_each_call(client, clock):
    query = {"grant_type": "client_credential", "appid": OFFICIAL["app_id"], "secret": OFFICIAL["app_secret"]}
    first = client.get("/cgi-bin/token", query_string=query).json["access_token"]
    second = client.get("/cgi-bin/token", query_string=query).json["access_token"]
    assert first != second
    assert token_of(client, OFFICIAL) not in (first, second)  # stable tokens are a separate pool
    clock.advance(301)
    assert template(client, first)["errcode"] == 40001
    assert template(client, second)["errcode"] == 0
    assert client.get("/cgi-bin/token", query_string={**query, "secret": "x"}).json["errcode"] == 40125


def test_api_calls_need_a_valid_token_of_the_right_app(client):
    url = "/cgi-bin/message/subscribe/send"
    body = {"touser": "sim_a", "template_id": "t", "data": {"thing1": {"value": "x"}}}
    assert client.post(url, json=body).json["errcode"] == 41001
    assert client.post(url + "?access_token=forged", json=body).json["errcode"] == 40001
    assert subscribe(client, token_of(client, OFFICIAL))["errcode"] == 48001  # an official-account token
    assert client.get("/_sim/messages").json["messages"] == []


# --- mini-program login -----------------------------------------------------------------------------


def jscode(client, code: str, account=MINI, **extra):
    return client.get("/sns/jscode2session", query_string={
        "appid": account["app_id"], "secret": account["app_secret"], "js_code": code,
        "grant_type": "authorization_code", **extra}).json


def test_jscode2session_maps_a_code_to_a_stable_identity(client):
    first, again, other = jscode(client, "alice"), jscode(client, "alice"), jscode(client, "bob")
    assert first == again
    assert first["openid"] == "sim_alice" and first["unionid"] == "simu_alice"
    import base64
    assert len(base64.b64decode(first["session_key"])) == 16
    assert other["session_key"] != first["session_key"]


@pytest.mark.parametrize("code", ["invalid", "invalid-123", "has space", "x" * 65, "中文", "a.b"])
def test_jscode2session_refuses_invalid_codes(client, code):
    assert jscode(client, code)["errcode"] == 40029


def test_jscode2session_checks_the_app(client):
    assert jscode(client, "alice", account=OFFICIAL)["errcode"] == 40013
    assert jscode(client, "alice", secret="wrong")["errcode"] == 40125


def test_jscode2session_answers_only_get_as_wechat_documents(client):
    answer = client.post("/sns/jscode2session", query_string={
        "appid": MINI["app_id"], "secret": MINI["app_secret"], "js_code": "alice",
        "grant_type": "authorization_code"})
    assert answer.status_code == 405


# --- subscribe messages -----------------------------------------------------------------------------


def test_subscribe_send_is_recorded(client):
    answer = subscribe(client, token_of(client), {"thing1": "李爱丽", "phrase2": "已通过", "time4": "2026-11-23 10:00"})
    assert answer["errcode"] == 0 and answer["errmsg"] == "ok" and isinstance(answer["msgid"], int)
    [message] = client.get("/_sim/messages").json["messages"]
    assert message["api"] == "subscribe" and message["app_id"] == MINI["app_id"]
    assert message["touser"] == "sim_alice" and message["template_id"] == "tmpl_a"
    assert message["data"]["phrase2"] == {"value": "已通过"}
    assert message["page"] == "pages/me/index" and message["msgid"] == answer["msgid"]
    assert message["received_at"].startswith("2026-")


@pytest.mark.parametrize("key, value", [("thing1", "字" * 21), ("phrase2", "六个汉字六个"), ("phrase2", "ok"),
                                        ("time4", "2026-11-23 10:00:00"), ("number3", "12a")])
def test_subscribe_field_limits_answer_47003_naming_the_field(client, key, value):
    answer = subscribe(client, token_of(client), {"thing1": "好", key: value})
    assert answer == {"errcode": 47003, "errmsg": f"argument invalid! data.{key}.value invalid"}
    assert client.get("/_sim/messages").json["messages"] == []


def test_subscribe_send_checks_openid_template_and_empty_values(client):
    token = token_of(client)
    assert subscribe(client, token, touser="o_real_openid")["errcode"] == 40003
    assert subscribe(client, token, template_id="")["errcode"] == 40037
    assert subscribe(client, token, {"thing1": " "})["errmsg"] == "argument invalid! data.thing1.value is empty"


@pytest.mark.parametrize("key, value, valid", [
    ("thing1", "字" * 20, True), ("time1", "15:01", True), ("time1", "2019年10月1日 15:01", True),
    ("time1", "2026-11-23 15:01", True), ("time1", "25:00", False), ("time1", "2026-02-30 10:00", False),
    ("date1", "2026-11-23", True), ("date1", "2026年11月23日", True), ("number1", "12.50", True),
    ("number1", "1" * 33, False), ("letter1", "abc", True), ("letter1", "ab1", False), ("symbol1", "#+", True),
    ("symbol1", "%%%%%%", False), ("character_string1", "AB-12_#", True), ("character_string1", "中文", False),
    ("amount1", "¥100.00", True), ("amount1", "100元", True), ("amount1", "一百", False),
    ("phone_number1", "+86 135-1111-2222", True), ("phone_number1", "1" * 18, False),
    ("car_number1", "粤B12345", True), ("car_number1", "粤B1234567", False), ("name1", "李爱丽", True),
    ("name1", "Alice Li", True), ("name1", "李a", False), ("name1", "字" * 11, False), ("phrase1", "已通过", True),
    ("first", "anything at all, unknown types are not checked", True),
])
def test_field_rules(key, value, valid):
    assert validate_value(key, value) is valid


def test_rate_limit_answers_45009_and_does_not_record(clock):
    client = create_simulator_app(WECHAT, rate_limit_per_second=2, clock=clock).test_client()
    token = token_of(client)
    assert [subscribe(client, token)["errcode"] for _ in range(3)] == [0, 0, 45009]
    assert len(client.get("/_sim/messages").json["messages"]) == 2
    assert client.get("/_sim/stats").json["rate_limited"] == 1
    clock.advance(0.5)  # one more token in the bucket
    assert [subscribe(client, token)["errcode"] for _ in range(2)] == [0, 45009]


def test_rate_limit_and_blocked_words_change_at_run_time(client):
    token = token_of(client)
    assert client.post("/_sim/config", json={"rate_limit_per_second": 1, "blocked_words": ["坏词"]}).json == {
        "rate_limit_per_second": 1.0, "blocked_words": ["坏词"]}
    assert [subscribe(client, token)["errcode"] for _ in range(2)] == [0, 45009]
    assert sec_check(client, "这是坏词")["result"]["suggest"] == "risky"
    assert sec_check(client, "赌博")["result"]["suggest"] == "pass"
    assert client.post("/_sim/config", json={"rate_limit_per_second": -1}).status_code == 400


# --- faults -----------------------------------------------------------------------------------------


def test_faults_answer_the_errcode_for_the_next_n_calls(client):
    token = token_of(client)
    assert client.post("/_sim/faults", json={"api": "subscribe", "errcode": 45009, "count": 2}).json["ok"] is True
    assert [subscribe(client, token)["errcode"] for _ in range(3)] == [45009, 45009, 0]
    assert len(client.get("/_sim/messages").json["messages"]) == 1
    assert client.get("/_sim/stats").json["faults_served"] == 2


def test_a_wildcard_fault_hits_any_api_and_faults_can_be_cleared(client):
    client.post("/_sim/faults", json={"api": "*", "errcode": -1, "count": 5})
    assert jscode(client, "alice") == {"errcode": -1, "errmsg": "system error"}
    assert stable_token(client)["errcode"] == -1
    assert len(client.get("/_sim/faults").json["faults"]) == 1
    client.delete("/_sim/faults")
    assert jscode(client, "alice")["openid"] == "sim_alice"


def test_a_delay_fault_sleeps_then_answers_normally(client, sleeps):
    token = token_of(client)
    client.post("/_sim/faults", json={"api": "template", "delay_seconds": 1.5, "count": 1})
    assert template(client, token_of(client, OFFICIAL))["errcode"] == 0
    assert sleeps == [1.5]
    assert subscribe(client, token)["errcode"] == 0 and sleeps == [1.5]


@pytest.mark.parametrize("spec", [{"api": "nope", "errcode": 1}, {"api": "subscribe"}, {"api": "subscribe", "errcode": 0},
                                  {"api": "subscribe", "errcode": 45009, "count": 0}])
def test_bad_fault_specs_are_refused(client, spec):
    assert client.post("/_sim/faults", json=spec).status_code == 400


# --- template and customer-service messages ---------------------------------------------------------


def test_template_client_msg_id_sends_once_within_ten_minutes(client, clock):
    token = token_of(client, OFFICIAL)
    first = template(client, token, client_msg_id="once")
    assert template(client, token, client_msg_id="once") == first
    assert template(client, token, client_msg_id="other")["msgid"] != first["msgid"]
    assert len(client.get("/_sim/messages", query_string={"api": "template"}).json["messages"]) == 2
    clock.advance(601)
    assert template(client, token, client_msg_id="once")["msgid"] != first["msgid"]
    assert client.get("/_sim/stats").json["deduplicated"] == 1


def test_custom_text_is_recorded_with_its_content(client):
    token = token_of(client, OFFICIAL)
    body = {"touser": "sim_alice", "msgtype": "text", "text": {"content": "你好"}}
    assert client.post(f"/cgi-bin/message/custom/send?access_token={token}", json=body).json["errcode"] == 0
    [message] = client.get("/_sim/messages", query_string={"api": "custom"}).json["messages"]
    assert message["content"] == "你好" and message["touser"] == "sim_alice"


def test_messages_filter_and_clear(client):
    mini, official = token_of(client), token_of(client, OFFICIAL)
    subscribe(client, mini, touser="sim_a", template_id="t1")
    subscribe(client, mini, touser="sim_b", template_id="t2")
    template(client, official, touser="sim_a", template_id="t1")
    messages = lambda **q: client.get("/_sim/messages", query_string=q).json["messages"]  # noqa: E731
    assert {(m["api"], m["touser"]) for m in messages(touser="sim_a")} == {("subscribe", "sim_a"), ("template", "sim_a")}
    assert [m["touser"] for m in messages(api="subscribe", template_id="t2")] == ["sim_b"]
    assert client.get("/_sim/stats").json["messages"] == {"subscribe": 2, "template": 1, "custom": 0, "robot": 0}
    assert client.delete("/_sim/messages").json == {"ok": True}
    assert messages() == []


# --- QR codes ---------------------------------------------------------------------------------------


def test_wxacode_is_a_png_and_checks_the_scene(client):
    token = token_of(client)
    url = f"/wxa/getwxacodeunlimit?access_token={token}"
    image = client.post(url, json={"scene": "a=1&b=2", "page": "pages/index/index", "width": 430})
    assert image.status_code == 200 and image.mimetype == "image/png" and image.data.startswith(b"\x89PNG")
    for scene in ("x" * 33, "", "含中文", "a%20b"):
        assert client.post(url, json={"scene": scene}).json["errcode"] == 40169
    assert client.post(url, json={"scene": "x" * 32}).data.startswith(b"\x89PNG")
    assert client.post(url, json={"scene": "a", "page": "/pages/index"}).json["errcode"] == 41030


def test_parametric_qr_create_and_show(client, clock):
    token = token_of(client, OFFICIAL)
    url = f"/cgi-bin/qrcode/create?access_token={token}"
    created = client.post(url, json={"expire_seconds": 3600, "action_name": "QR_STR_SCENE",
                                     "action_info": {"scene": {"scene_str": "checkin:42"}}}).json
    assert created["ticket"] and created["expire_seconds"] == 3600 and created["url"]
    shown = client.get("/cgi-bin/showqrcode", query_string={"ticket": created["ticket"]})
    assert shown.status_code == 200 and shown.data.startswith(b"\x89PNG")
    assert client.get("/cgi-bin/showqrcode", query_string={"ticket": "unknown"}).status_code == 404
    permanent = client.post(url, json={"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 7}}}).json
    assert "expire_seconds" not in permanent
    clock.advance(3600)
    assert client.get("/cgi-bin/showqrcode", query_string={"ticket": created["ticket"]}).status_code == 404
    assert client.get("/cgi-bin/showqrcode", query_string={"ticket": permanent["ticket"]}).status_code == 200


@pytest.mark.parametrize("body", [
    {"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": "x" * 65}}},
    {"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": ""}}},
    {"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 0}}},
    {"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100001}}},
    {"action_name": "QR_SCENE", "expire_seconds": 2592001, "action_info": {"scene": {"scene_id": 1}}},
    {"action_name": "QR_NOPE", "action_info": {"scene": {"scene_id": 1}}},
    {"action_name": "QR_SCENE", "action_info": {}},
])
def test_parametric_qr_refuses_bad_scenes(client, body):
    token = token_of(client, OFFICIAL)
    assert client.post(f"/cgi-bin/qrcode/create?access_token={token}", json=body).json["errcode"] == 40097


# --- content security and users ---------------------------------------------------------------------


def sec_check(client, content: str) -> dict[str, Any]:
    return client.post(f"/wxa/msg_sec_check?access_token={token_of(client)}",
                       json={"version": 2, "openid": "sim_alice", "scene": 2, "content": content}).json


def test_msg_sec_check(client):
    passed = sec_check(client, "周末一起去社区服务")
    assert passed["errcode"] == 0 and passed["result"] == {"suggest": "pass", "label": 100}
    risky = sec_check(client, "这里有赌博内容")
    assert risky["result"]["suggest"] == "risky" and risky["result"]["label"] != 100
    assert any(d.get("keyword") == "赌博" for d in risky["detail"])
    assert sec_check(client, "字" * 2501)["errcode"] == 47003


def test_user_info_gives_the_unionid_of_the_same_person(client):
    token = token_of(client, OFFICIAL)
    info = client.get("/cgi-bin/user/info", query_string={"access_token": token, "openid": "sim_alice"}).json
    assert info["subscribe"] == 1 and info["openid"] == "sim_alice" and info["unionid"] == jscode(client, "alice")["unionid"]
    gone = client.get("/cgi-bin/user/info", query_string={"access_token": token, "openid": "sim_unfollowed"}).json
    assert gone["subscribe"] == 0


def test_health(client):
    assert client.get("/_sim/health").json == {"ok": True}


# --- callback bodies --------------------------------------------------------------------------------

# Verbatim from WeChat's documentation / wechatpy's tests (shared/reference/wechat-samples.json).
SAMPLE_TEXT = """<xml>
<ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[fromUser]]></FromUserName>
<CreateTime>1348831860</CreateTime>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[this is a test]]></Content>
<MsgId>1234567890123456</MsgId>
</xml>"""
SAMPLE_SCAN = """<xml>
<ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[FromUser]]></FromUserName>
<CreateTime>123456789</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[SCAN]]></Event>
<EventKey><![CDATA[123123]]></EventKey>
<Ticket><![CDATA[TICKET]]></Ticket>
</xml>"""
SAMPLE_POPUP = """<xml>
<ToUserName><![CDATA[gh_123456789abc]]></ToUserName>
<FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>
<CreateTime>1610969440</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[subscribe_msg_popup_event]]></Event>
<SubscribeMsgPopupEvent>
<List>
<TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>
<SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString>
<PopupScene>2</PopupScene>
</List>
<List>
<TemplateId><![CDATA[9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI]]></TemplateId>
<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>
<PopupScene>2</PopupScene>
</List>
</SubscribeMsgPopupEvent>
</xml>"""
SAMPLE_SENT = """<xml>
<ToUserName><![CDATA[gh_123456789abc]]></ToUserName>
<FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>
<CreateTime>1610969468</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[subscribe_msg_sent_event]]></Event>
<SubscribeMsgSentEvent>
<List>
<TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>
<MsgID>1700827132819554304</MsgID>
<ErrorCode>0</ErrorCode>
<ErrorStatus><![CDATA[success]]></ErrorStatus>
</List>
</SubscribeMsgSentEvent>
</xml>"""


def test_builders_produce_wechats_wire_format():
    assert text_message("fromUser", "toUser", "this is a test", msg_id=1234567890123456,
                        create_time=1348831860) == SAMPLE_TEXT
    assert event_message("FromUser", "toUser", "SCAN", "123123", "TICKET", create_time=123456789) == SAMPLE_SCAN
    assert subscribe_msg_popup_event("otFpruAK8D-E6EfStSYonYSBZ8_4", "gh_123456789abc", [
        {"TemplateId": "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc", "SubscribeStatusString": "accept", "PopupScene": 2},
        {"TemplateId": "9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI", "SubscribeStatusString": "reject", "PopupScene": "2"},
    ], create_time=1610969440) == SAMPLE_POPUP
    assert subscribe_msg_sent_event("otFpruAK8D-E6EfStSYonYSBZ8_4", "gh_123456789abc", [
        {"TemplateId": "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc", "MsgID": 1700827132819554304, "ErrorCode": 0,
         "ErrorStatus": "success"},
    ], create_time=1610969468) == SAMPLE_SENT


def test_builders_escape_cdata_and_parse_with_wechatpy():
    message = parse_message(text_message("sim_a", "gh_x", "a ]]> b <c>", create_time=1))
    assert message.type == "text" and message.content == "a ]]> b <c>" and message.source == "sim_a"
    event = parse_message(event_message("sim_a", "gh_x", "subscribe", "qrscene_42", "T", create_time=1))
    assert event.event == "subscribe_scan" and event.scene_id == "42"


@pytest.mark.parametrize("count", [1, 2])
def test_subscription_event_list_is_an_object_for_one_item_and_an_array_for_several(count):
    items = [{"TemplateId": f"t{i}"} for i in range(count)]
    as_json = json.loads(subscribe_msg_popup_event("sim_a", "gh_x", items, fmt="json", create_time=1))
    as_xml = xmltodict.parse(subscribe_msg_popup_event("sim_a", "gh_x", items, create_time=1))["xml"]
    xml_list = as_xml["SubscribeMsgPopupEvent"]["List"]
    if count == 1:
        assert as_json["List"] == {"TemplateId": "t0", "SubscribeStatusString": "accept", "PopupScene": "0"}
        assert isinstance(xml_list, dict)
    else:
        assert [item["TemplateId"] for item in as_json["List"]] == ["t0", "t1"]
        assert [item["TemplateId"] for item in xml_list] == ["t0", "t1"]


def test_sign_query():
    query = sign_query("tok", timestamp=1700000000, nonce="123")
    assert query == {"signature": hashlib.sha1("".join(sorted(["tok", "1700000000", "123"])).encode()).hexdigest(),
                     "timestamp": "1700000000", "nonce": "123"}


# --- pushing callbacks ------------------------------------------------------------------------------


class Receiver:
    """A stand-in for the service: verifies pushes as WeChat's docs say and answers like the service."""

    def __init__(self):
        self.received: list[dict[str, Any]] = []
        self.slow_calls = 0
        # Pushes still being answered: a slow one that a test's push gave up on lands after that test.
        self.in_flight = 0
        self.settled = threading.Condition()
        self.app = Flask("receiver")
        self.app.add_url_rule("/wechat/<name>/callback", view_func=self.callback, methods=["POST"])

    def wait_until_settled(self, timeout: float = 5.0) -> None:
        with self.settled:
            assert self.settled.wait_for(lambda: self.in_flight == 0, timeout), "a push is still being answered"

    def callback(self, name: str):
        with self.settled:
            self.in_flight += 1
        try:
            return self._answer(name)
        finally:
            with self.settled:
                self.in_flight -= 1
                self.settled.notify_all()

    def _answer(self, name: str):
        account = WECHAT[name]
        args, raw = request.args, request.get_data(as_text=True)
        if args.get("slow") and not self.slow_calls:
            self.slow_calls += 1
            time.sleep(1.0)
        check_signature(account["token"], args["signature"], args["timestamp"], args["nonce"])  # raises if wrong
        crypto = WeChatCrypto(account["token"], account["encoding_aes_key"], account["app_id"])
        is_json = raw.lstrip().startswith("{")
        plaintext = raw
        if args.get("encrypt_type") == "aes":
            envelope = json.loads(raw) if is_json else raw
            plaintext = crypto.decrypt_message(envelope, args["msg_signature"], args["timestamp"], args["nonce"])
        self.received.append({"args": dict(args), "raw": raw, "plaintext": plaintext, "path": request.path})
        message = json.loads(plaintext) if is_json else xmltodict.parse(plaintext)["xml"]
        if is_json or message.get("MsgType") != "text":
            return "success"
        reply = (f"<xml><ToUserName><![CDATA[{message['FromUserName']}]]></ToUserName>"
                 f"<FromUserName><![CDATA[{message['ToUserName']}]]></FromUserName><CreateTime>1</CreateTime>"
                 f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[收到：{message['Content']}]]></Content></xml>")
        if args.get("encrypt_type") == "aes":
            return crypto.encrypt_message(reply, "777", args["timestamp"])
        return reply


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    target = Receiver()
    server = make_server("127.0.0.1", 0, target.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield target, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def service(receiver) -> tuple[Receiver, str]:
    target, url = receiver
    target.wait_until_settled()  # so nothing an earlier test sent lands in this one's record
    target.received.clear()
    return target, url


@pytest.mark.parametrize("safe_mode", [False, True])
def test_push_text_plain_and_safe_mode(service, safe_mode):
    target, url = service
    body = text_message("sim_alice", "gh_sim_official", "帮助")
    result = push_callback(url, OFFICIAL, body, path="/wechat/official/callback", safe_mode=safe_mode)
    assert result.status_code == 200 and result.attempts_made == 1
    [got] = target.received
    assert got["plaintext"] == body and got["args"]["openid"] == "sim_alice"
    assert xmltodict.parse(result.reply_text)["xml"]["Content"] == "收到：帮助"
    if safe_mode:
        assert got["args"]["encrypt_type"] == "aes" and "帮助" not in got["raw"]
        assert xmltodict.parse(got["raw"])["xml"]["ToUserName"] == "gh_sim_official"
        assert "<Encrypt>" in result.raw_body and "收到" not in result.raw_body
    else:
        assert "encrypt_type" not in got["args"] and got["raw"] == body


@pytest.mark.parametrize("safe_mode", [False, True])
@pytest.mark.parametrize("count", [1, 3])
def test_push_json_subscription_events(service, safe_mode, count):
    target, url = service
    items = [{"TemplateId": f"tmpl_{i}", "SubscribeStatusString": "accept", "PopupScene": 0} for i in range(count)]
    body = subscribe_msg_popup_event("sim_alice", "gh_sim_miniprogram", items, fmt="json")
    result = push_callback(url, MINI, body, path="/wechat/miniprogram/callback", safe_mode=safe_mode, fmt="json")
    assert result.status_code == 200 and result.reply_text == "success"
    [got] = target.received
    pushed = json.loads(got["plaintext"])
    assert pushed == json.loads(body)
    assert isinstance(pushed["List"], dict if count == 1 else list)
    if safe_mode:
        assert set(json.loads(got["raw"])) == {"ToUserName", "Encrypt"}


@pytest.mark.parametrize("count", [1, 2])
def test_push_xml_sent_event_in_safe_mode(service, count):
    target, url = service
    items = [{"TemplateId": f"tmpl_{i}", "MsgID": 100 + i} for i in range(count)]
    body = subscribe_msg_sent_event("sim_alice", "gh_sim_miniprogram", items)
    push_callback(url, MINI, body, path="/wechat/miniprogram/callback", safe_mode=True)
    listed = xmltodict.parse(target.received[0]["plaintext"])["xml"]["SubscribeMsgSentEvent"]["List"]
    assert isinstance(listed, dict if count == 1 else list)


def test_push_retries_like_wechat_when_no_answer_comes(service):
    target, url = service
    target.slow_calls = 0
    body = event_message("sim_alice", "gh_sim_official", "unsubscribe")
    result = push_callback(url, OFFICIAL, body, path="/wechat/official/callback?slow=1", timeout=0.3, attempts=3)
    assert result.status_code == 200 and result.attempts_made == 2


def test_push_gives_up_after_the_attempts(service):
    target, url = service
    target.slow_calls = 0
    body = event_message("sim_alice", "gh_sim_official", "unsubscribe")
    result = push_callback(url, OFFICIAL, body, path="/wechat/official/callback?slow=1", timeout=0.3)
    assert result.timed_out and result.status_code is None and result.attempts_made == 1


@pytest.mark.parametrize("kind, account, options, expected", [
    ("text", "official", {"content": "帮助"}, {"MsgType": "text", "Content": "帮助"}),
    ("subscribe", "official", {"event_key": "qrscene_42"}, {"Event": "subscribe", "EventKey": "qrscene_42"}),
    ("scan", "official", {"event_key": "42"}, {"Event": "SCAN", "EventKey": "42"}),
    ("unsubscribe", "official", {}, {"Event": "unsubscribe"}),
    ("popup", "miniprogram", {}, {"Event": "subscribe_msg_popup_event"}),
    ("sent", "miniprogram", {"event_key": "a,b"}, {"Event": "subscribe_msg_sent_event"}),
    ("event", "official", {"event": "CLICK", "event_key": "menu_help"}, {"Event": "CLICK", "EventKey": "menu_help"}),
])
@pytest.mark.parametrize("safe, fmt", [(False, "xml"), (True, "json")])
def test_push_from_cli(service, kind, account, options, expected, safe, fmt):
    target, url = service
    result = push_from_cli(WECHAT, url, kind, account=account, openid="sim_demo", safe=safe, fmt=fmt, **options)
    assert result.status_code == 200
    [got] = target.received
    assert got["path"] == f"/wechat/{account}/callback"
    pushed = json.loads(got["plaintext"]) if fmt == "json" else xmltodict.parse(got["plaintext"])["xml"]
    assert pushed["FromUserName"] == "sim_demo" and pushed["ToUserName"] == f"gh_sim_{account}"
    assert {key: pushed[key] for key in expected} == expected
    if kind == "popup":
        listed = pushed["List"] if fmt == "json" else pushed["SubscribeMsgPopupEvent"]["List"]
        assert listed["TemplateId"] == WECHAT["templates"]["registration_result"]
    if kind == "sent":
        listed = pushed["List"] if fmt == "json" else pushed["SubscribeMsgSentEvent"]["List"]
        assert [item["TemplateId"] for item in listed] == ["a", "b"]


def test_push_from_cli_needs_a_scene_to_scan(service):
    _, url = service
    with pytest.raises(ValueError):
        push_from_cli(WECHAT, url, "scan")
