"""Every real message and event of wechatpy's test suite gets a proper answer, plaintext and in safe mode.

The samples (WeChat's wire format) are a copy of the shared reference file, kept next to this test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import xmltodict

from app.services import bot
from tests.wechat.test_callbacks import body_text, decrypt_reply, followers, post, text_reply

SAMPLES = json.loads(Path(__file__).with_name("wechat_samples.json").read_text(encoding="utf-8"))
IDS = [f"{i:02d}-{s['source'].rsplit('::', 1)[-1]}" for i, s in enumerate(SAMPLES)]
# What a mini-program push can be: customer-service messages and the subscribe-message events.
MINIPROGRAM_SAMPLES = [(s, i) for s, i in zip(SAMPLES, IDS)
                       if s["msg_type"] in ("text", "image") or (s["event"] or "").startswith("subscribe_msg_")]


def test_the_sample_file_is_complete():
    assert len(SAMPLES) == 51
    for sample in SAMPLES:
        fields = xmltodict.parse(sample["xml"])["xml"]
        assert fields["MsgType"] == sample["msg_type"]
        assert fields.get("Event") == sample["event"]


def expected_reply(sample: dict) -> str | None:
    """The bot's answer to a sample on the official account (None: `success`)."""
    if sample["msg_type"] == "event":
        if sample["event"] == "subscribe":
            fields = xmltodict.parse(sample["xml"])["xml"]
            return bot.WELCOME_WITH_SCENE_TEXT if (fields.get("EventKey") or "").startswith("qrscene_") else bot.WELCOME_TEXT
        return None
    if sample["msg_type"] not in ("text", "image", "voice", "video", "shortvideo", "location", "link"):
        return None  # notsure, device_text, device_event: types WeChat does not document for users
    return bot.HELP_TEXT


def check_answer(response, sample: dict, reply: dict | None) -> None:
    """HTTP 200 and either `success` or a text reply addressed back to the sender."""
    assert response.status_code == 200, body_text(response)
    fields = xmltodict.parse(sample["xml"])["xml"]
    expected = expected_reply(sample)
    if expected is None:
        assert body_text(response) == "success"
        return
    assert reply is not None
    assert reply["ToUserName"] == fields["FromUserName"]
    assert reply["FromUserName"] == fields["ToUserName"]
    assert reply["MsgType"] == "text"
    assert reply["Content"] == expected


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_official_account_answers_each_sample_in_plaintext(app, client, sample):
    response = post(client, "official", sample["xml"])
    reply = text_reply(response) if body_text(response) != "success" else None
    check_answer(response, sample, reply)
    if sample["event"] in ("subscribe", "unsubscribe"):
        [follower] = followers(app)
        assert follower.is_subscribed is (sample["event"] == "subscribe")


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_official_account_answers_each_sample_in_safe_mode(app, client, sample):
    response = post(client, "official", sample["xml"], safe=True)
    reply = decrypt_reply(app, "official", response) if body_text(response) != "success" else None
    check_answer(response, sample, reply)


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_official_account_answers_each_sample_when_safe_mode_is_required(make_app, sample):
    app = make_app(wechat={"require_safe_mode": True})
    client = app.test_client()
    assert post(client, "official", sample["xml"]).status_code == 403
    response = post(client, "official", sample["xml"], safe=True)
    reply = decrypt_reply(app, "official", response) if body_text(response) != "success" else None
    check_answer(response, sample, reply)


@pytest.mark.parametrize("safe", [False, True], ids=["plaintext", "safe"])
@pytest.mark.parametrize("sample", [s for s, _ in MINIPROGRAM_SAMPLES], ids=[i for _, i in MINIPROGRAM_SAMPLES])
def test_mini_program_answers_success(app, client, sample, safe):
    response = post(client, "miniprogram", sample["xml"], safe=safe)
    assert response.status_code == 200
    assert body_text(response) == "success"


# The push parser's fast pass (elements of text under the root) gives what xmltodict gives, or steps aside.
ODD_SHAPES = [
    b"<xml>\n <A> x </A>\n<B/><C></C><D><![CDATA[ \xe5\xb8\xae ]]></D></xml>",
    b"<xml><A>a&amp;b&#20320;</A><B>a<![CDATA[b]]>c</B><C>1<!-- x -->2<?pi y?></C></xml>",
    b"<?xml version='1.0' encoding='utf-8'?><!-- before --><xml><a:b>1</a:b><E>  </E></xml>  ",
    b"<other><A>1</A></other>",
    b"<xml><A>1</A><A>2</A></xml>",
    b"<xml a='1'><A>1</A></xml>",
    b"<xml><A b='1'>1</A></xml>",
    b"<xml><A><B>1</B></A></xml>",
    b"<xml>text<A>1</A></xml>",
    b"<xml></xml>",
    b"<xml/>",
    b"<xml><A>\xe9</A></xml>",
    b"<xml><A>1</A>",
    b"<xml><A>&undefined;</A></xml>",
]


def _outcome(parse, body: bytes):
    try:
        return "parsed", parse(body)
    except Exception as exc:  # noqa: BLE001
        return "raised", type(exc).__name__


@pytest.mark.parametrize("body", [s["xml"].encode() for s in SAMPLES] + ODD_SHAPES,
                         ids=IDS + [f"odd-{i}" for i in range(len(ODD_SHAPES))])
def test_the_flat_xml_pass_gives_what_xmltodict_gives(body):
    from app.wechat.callbacks import _ExpatWithoutDTD, _NotFlat, _parse_flat_xml, _parse_xml

    expected = _outcome(lambda b: xmltodict.parse(b, expat=_ExpatWithoutDTD, disable_entities=True), body)
    assert _outcome(_parse_xml, body) == expected
    flat = _outcome(_parse_flat_xml, body)
    assert flat == expected or flat == ("raised", _NotFlat.__name__)


@pytest.mark.parametrize("content", [bot.HELP_TEXT, "", "a ]]> b", "<b>&amp;</b>", "行1\n行2 {} {0} %s"])
def test_the_text_reply_is_wechatpys_rendering(content):
    from wechatpy.replies import TextReply

    from app.wechat.callbacks import text_reply_xml

    for timestamp in (0, 1733450000):
        expected = TextReply(source="gh_sim {x}", target="o_user<1>", content=content, time=timestamp).render()
        assert text_reply_xml("gh_sim {x}", "o_user<1>", content, timestamp) == expected
