"""Message sends: mini-program subscribe messages, official-account template and customer-service messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.wechat.simulator import fields
from app.wechat.simulator.api import (
    BOTH, MINIPROGRAM, OFFICIAL, error, error_answer, is_openid, json_body, ok, state, wechat_api,
)
from app.wechat.simulator.state import SimulatorState

blueprint = Blueprint("wechat_sim_messages", __name__)

# WeCom group robots: content limits in bytes by message type.
ROBOT_CONTENT_MAX_BYTES = {"text": 2048, "markdown": 4096}
CUSTOM_MSG_TYPES = {"text", "image", "voice", "video", "music", "news", "mpnews", "mpnewsarticle", "msgmenu",
                    "wxcard", "miniprogrampage", "link"}


def _record(api: str, app_id: str, fields_: dict[str, Any]) -> Response:
    return jsonify(record_answer(state(), api, app_id, fields_))


def record_answer(sim: SimulatorState, api: str, app_id: str, fields_: dict[str, Any]) -> dict[str, Any]:
    """Record an accepted send: WeChat's answer, with its msgid, or 45009 beyond the rate limit.

    Nothing is logged per message (what was sent is at /_sim/messages).
    """
    outcome, message = sim.record_send(api, app_id, fields_)
    if outcome == "rate_limited":
        return error_answer(45009)
    assert message is not None
    return {"errcode": 0, "errmsg": "ok", "msgid": message["msgid"]}


def _addressing_errcode(touser: Any, template_id: Any) -> int | None:
    """WeChat's errcode for a send without a valid recipient (40003) or template (40037), in that order."""
    if not is_openid(touser):
        return 40003
    if not isinstance(template_id, str) or not template_id.strip():
        return 40037
    return None


def subscribe_answer(sim: SimulatorState, app_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A mini-program subscribe message whose caller passed the gate: validate, record, answer."""
    touser, template_id = body.get("touser"), body.get("template_id")
    refused = _addressing_errcode(touser, template_id)
    if refused:
        return error_answer(refused)
    page = body.get("page")
    if page is not None and (not isinstance(page, str) or len(page) > 1024):
        return error_answer(41030)
    mp_state = body.get("miniprogram_state", "formal")
    if mp_state not in ("developer", "trial", "formal"):
        return error_answer(47003, "argument invalid! miniprogram_state invalid")
    lang = body.get("lang", "zh_CN")
    if lang not in ("zh_CN", "en_US", "zh_HK", "zh_TW"):
        return error_answer(47003, "argument invalid! lang invalid")
    problem = fields.check_data(body.get("data"))
    if problem:
        return error_answer(47003, problem)
    return record_answer(sim, "subscribe", app_id, {
        "touser": touser, "template_id": template_id, "data": body["data"], "page": page,
        "miniprogram_state": mp_state, "lang": lang,
    })


def template_answer(sim: SimulatorState, app_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """An official-account template message whose caller passed the gate; field values are not
    type-checked (OA rules differ)."""
    touser, template_id = body.get("touser"), body.get("template_id")
    refused = _addressing_errcode(touser, template_id)
    if refused:
        return error_answer(refused)
    data = body.get("data")
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "value" in v for v in data.values()):
        return error_answer(47001)
    miniprogram = body.get("miniprogram")
    if miniprogram is not None and not (isinstance(miniprogram, dict) and miniprogram.get("appid")):
        return error_answer(47001)
    client_msg_id = body.get("client_msg_id")
    if client_msg_id is not None and (not isinstance(client_msg_id, str) or len(client_msg_id) > 64):
        return error_answer(47001)
    return record_answer(sim, "template", app_id, {
        "touser": touser, "template_id": template_id, "data": data, "url": body.get("url"),
        "miniprogram": miniprogram, "client_msg_id": client_msg_id,
    })


# The sends the fast path (fast.py) serves without Flask: path -> (api, apps, answer function).
FAST_SENDS = {
    "/cgi-bin/message/subscribe/send": ("subscribe", MINIPROGRAM, subscribe_answer),
    "/cgi-bin/message/template/send": ("template", OFFICIAL, template_answer),
}


def _send(answer: Callable[[SimulatorState, str, dict[str, Any]], dict[str, Any]], app_id: str) -> Response:
    body, errcode = json_body()
    return jsonify(error_answer(errcode) if body is None else answer(state(), app_id, body))


@blueprint.post("/cgi-bin/message/subscribe/send")
@wechat_api("subscribe", MINIPROGRAM)
def subscribe_send(app_id: str) -> Response:
    return _send(subscribe_answer, app_id)


@blueprint.post("/cgi-bin/message/template/send")
@wechat_api("template", OFFICIAL)
def template_send(app_id: str) -> Response:
    """Official-account template message; field values are not type-checked (OA rules differ)."""
    return _send(template_answer, app_id)


@blueprint.post("/cgi-bin/message/custom/send")
@wechat_api("custom", BOTH)
def custom_send(app_id: str) -> Response:
    body, errcode = json_body()
    if body is None:
        return error(errcode)
    if not is_openid(body.get("touser")):
        return error(40003)
    msgtype = body.get("msgtype")
    if msgtype not in CUSTOM_MSG_TYPES:
        return error(40008)
    content = None
    if msgtype == "text":
        content = (body.get("text") or {}).get("content") if isinstance(body.get("text"), dict) else None
        if not isinstance(content, str) or not content:
            return error(47001)
    return _record("custom", app_id, {"touser": body["touser"], "msgtype": msgtype, "content": content,
                                      msgtype: body.get(msgtype)})




@blueprint.post("/cgi-bin/webhook/send")
@wechat_api("robot", None)
def robot_send(_: str | None) -> Response:
    """A WeCom group-robot post: the key in the query is the credential; text ≤ 2048 bytes, 20 a minute."""
    webhook_key = request.args.get("key", "")
    if not webhook_key:
        return error(93000, "invalid webhook url")
    body, errcode = json_body()
    if body is None:
        return error(errcode)
    msgtype = body.get("msgtype")
    if msgtype not in ROBOT_CONTENT_MAX_BYTES:
        return error(40008, "invalid message type")
    item = body.get(msgtype)
    content = item.get("content") if isinstance(item, dict) else None
    if not isinstance(content, str) or not content:
        return error(44004, "empty content")
    if len(content.encode()) > ROBOT_CONTENT_MAX_BYTES[msgtype]:
        return error(40058, f"content exceed max length {ROBOT_CONTENT_MAX_BYTES[msgtype]}")
    outcome, _message = state().record_robot_post(webhook_key, {"msgtype": msgtype, "content": content})
    if outcome == "rate_limited":
        return error(45009, "api freq out of limit")
    return ok()
