"""The WeChat API endpoints: shared protocol helpers, access tokens, login, content security, users.

Same paths, parameters, answers and errcodes as WeChat; errors are JSON with HTTP 200, as on WeChat.
Message sends are in api_messages.py, QR codes in api_codes.py.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from app.wechat.simulator.state import SimulatorState

logger = logging.getLogger(__name__)
blueprint = Blueprint("wechat_sim_api", __name__)

EXTENSION = "wechat_simulator"
OFFICIAL, MINIPROGRAM = frozenset({"official"}), frozenset({"miniprogram"})
BOTH = OFFICIAL | MINIPROGRAM
ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40008: "invalid message type",
    40013: "invalid appid",
    40029: "invalid code",
    40037: "invalid template_id",
    40097: "invalid args",
    40125: "invalid appsecret",
    40129: "invalid scene",
    40169: "invalid length for scene, or the data is not json string",
    41001: "access_token missing",
    41008: "missing code",
    41030: "invalid page",
    42001: "access_token expired",
    43101: "user refuse to accept the msg",
    44002: "empty post data",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    47001: "data format error",
    47003: "argument invalid!",
    48001: "api unauthorized",
}
JS_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
SEC_CHECK_MAX_CHARS = 2500


def state() -> SimulatorState:
    return current_app.extensions[EXTENSION]


def error_answer(errcode: int, errmsg: str | None = None) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": errmsg or ERRMSG.get(errcode, "simulated error")}


def error(errcode: int, errmsg: str | None = None) -> Response:
    return jsonify(error_answer(errcode, errmsg))


def ok(**answer: Any) -> Response:
    return jsonify({"errcode": 0, "errmsg": "ok", **answer})


def parse_json_body(raw: bytes) -> tuple[dict[str, Any] | None, int]:
    """A POSTed body as a JSON object, or an errcode: 44002 empty, 47001 not a JSON object."""
    if not raw.strip():
        return None, 44002
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, 47001
    return (body, 0) if isinstance(body, dict) else (None, 47001)


def json_body() -> tuple[dict[str, Any] | None, int]:
    """The POSTed JSON object (wechatpy sends it without a Content-Type), or an errcode."""
    return parse_json_body(request.get_data())


def gate(sim: SimulatorState, api: str, apps: frozenset[str] | None,
         access_token: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """What every WeChat API call meets first: (an error answer or None, the caller's app id).

    An injected fault is served first (its delay, then its errcode if it has one); then, if `apps`
    is given, the access token must be valid and belong to one of them (app id None without).
    """
    fault = sim.take_fault(api)
    if fault is not None:
        if fault.delay_seconds:
            sim.sleep(fault.delay_seconds)
        if fault.errcode is not None:
            return error_answer(fault.errcode), None
    if apps is None:
        return None, None
    errcode, app_id = sim.check_token(access_token)
    if errcode:
        return error_answer(errcode), None
    if sim.by_app_id[app_id].name not in apps:  # type: ignore[index]
        return error_answer(48001), None
    return None, app_id


def wechat_api(api: str, apps: frozenset[str] | None) -> Callable:
    """Serve an injected fault first; then, if `apps` is given, require an access token of one of them.

    The view gets the caller's app id (None for APIs without a token).
    """

    def decorate(view: Callable[[str | None], Response]) -> Callable[[], Response]:
        @functools.wraps(view)
        def wrapper() -> Response:
            refused, app_id = gate(state(), api, apps, request.args.get("access_token") if apps else None)
            return jsonify(refused) if refused is not None else view(app_id)

        return wrapper

    return decorate


def is_openid(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("sim_") and 4 < len(value) <= 128


def _credentials(app_id: Any, secret: Any, *, only: frozenset[str] = BOTH) -> int:
    app = state().by_app_id.get(app_id) if isinstance(app_id, str) else None
    if app is None or app.name not in only:
        return 40013
    return 0 if secret == app.app_secret else 40125


# --- access tokens ------------------------------------------------------------------------------


@blueprint.post("/cgi-bin/stable_token")
@wechat_api("stable_token", None)
def stable_token(_: str | None) -> Response:
    body, errcode = json_body()
    if body is None:
        return error(errcode)
    if body.get("grant_type") != "client_credential":
        return error(40002)
    errcode = _credentials(body.get("appid"), body.get("secret"))
    if errcode:
        return error(errcode)
    force_refresh = body.get("force_refresh", False)
    if not isinstance(force_refresh, bool):
        return error(47001)
    token, expires_in = state().issue_token(body["appid"], endpoint="stable_token", force_refresh=force_refresh)
    return jsonify({"access_token": token, "expires_in": expires_in})


@blueprint.get("/cgi-bin/token")
@wechat_api("token", None)
def legacy_token(_: str | None) -> Response:
    """Every call issues a new token; the previous one stays valid 5 more minutes, as on WeChat."""
    if request.args.get("grant_type") != "client_credential":
        return error(40002)
    errcode = _credentials(request.args.get("appid"), request.args.get("secret"))
    if errcode:
        return error(errcode)
    token, expires_in = state().issue_token(request.args["appid"], endpoint="token")
    return jsonify({"access_token": token, "expires_in": expires_in})


# --- mini-program login -------------------------------------------------------------------------


@blueprint.route("/sns/jscode2session", methods=["GET"])
@wechat_api("jscode2session", None)
def jscode2session(_: str | None) -> Response:
    """Code X → openid sim_X, unionid simu_X and a session_key that is stable per X.

    Only GET, as WeChat documents it, so a client that POSTs fails here before it fails in production.
    """
    args = request.args
    errcode = _credentials(args.get("appid"), args.get("secret"), only=MINIPROGRAM)
    if errcode:
        return error(errcode)
    if args.get("grant_type") != "authorization_code":
        return error(40002)
    code = args.get("js_code", "")
    if not code:
        return error(41008)
    if not JS_CODE.fullmatch(code) or code.startswith("invalid"):
        return error(40029)
    secret = state().apps["miniprogram"].app_secret.encode()
    session_key = base64.b64encode(hmac.new(secret, b"session_key:" + code.encode(), hashlib.sha256).digest()[:16])
    return jsonify({"openid": f"sim_{code}", "session_key": session_key.decode(), "unionid": f"simu_{code}"})


# Codes of the getPhoneNumber button: phone_<11 digits>[_anything] proves that mainland number;
# phone86_… is the same; phone<cc>_<digits> (e.g. phone1_2025550123) a number abroad.
PHONE_CODE = re.compile(r"phone(\d{0,3})_(\d{5,15})(?:_[A-Za-z0-9-]*)?")


@blueprint.post("/wxa/business/getuserphonenumber")
@wechat_api("getuserphonenumber", MINIPROGRAM)
def get_user_phone_number(app_id: str) -> Response:
    """A code → the number it names, with WeChat's watermark; a code used before → 40029, as on WeChat."""
    body, errcode = json_body()
    if body is None:
        return error(errcode)
    code = body.get("code")
    if not isinstance(code, str) or not code:
        return error(41008)
    match = PHONE_CODE.fullmatch(code)
    if match is None or not state().use_phone_code(code):
        return error(40029)
    country, number = match.group(1) or "86", match.group(2)
    return ok(phone_info={"phoneNumber": number if country == "86" else f"+{country}{number}",
                          "purePhoneNumber": number, "countryCode": country,
                          "watermark": {"timestamp": int(state().clock()), "appid": app_id}})


# --- content security and users -----------------------------------------------------------------


@blueprint.post("/wxa/msg_sec_check")
@wechat_api("msg_sec_check", MINIPROGRAM)
def msg_sec_check(_: str) -> Response:
    body, errcode = json_body()
    if body is None:
        return error(errcode)
    if body.get("version") != 2:
        return error(47001, "data format error: version must be 2")
    if not is_openid(body.get("openid")):
        return error(40003)
    if body.get("scene") not in (1, 2, 3, 4):
        return error(40129)
    content = body.get("content")
    if not isinstance(content, str):
        return error(47001)
    if len(content) > SEC_CHECK_MAX_CHARS:
        return error(47003, "argument invalid! content too long")
    hits = [word for word in state().config()["blocked_words"] if word in content]
    suggest, label = ("risky", 20001) if hits else ("pass", 100)
    detail: list[dict[str, Any]] = [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label,
                                     "prob": 90 if hits else 0}]
    detail += [{"strategy": "keyword", "errcode": 0, "suggest": "risky", "label": label, "level": 20, "keyword": w}
               for w in hits]
    return ok(result={"suggest": suggest, "label": label}, detail=detail, trace_id=secrets.token_hex(12))


@blueprint.get("/cgi-bin/user/info")
@wechat_api("user_info", OFFICIAL)
def user_info(_: str) -> Response:
    """Every sim_ openid follows, except those starting with sim_unfollow (subscribe 0)."""
    openid = request.args.get("openid", "")
    if not is_openid(openid):
        return error(40003)
    unionid = "simu_" + openid[len("sim_"):]
    if openid.startswith("sim_unfollow"):
        return jsonify({"subscribe": 0, "openid": openid, "unionid": unionid})
    return jsonify({
        "subscribe": 1, "openid": openid, "language": request.args.get("lang", "zh_CN"),
        "subscribe_time": 1_700_000_000, "unionid": unionid, "remark": "", "groupid": 0, "tagid_list": [],
        "subscribe_scene": "ADD_SCENE_QR_CODE", "qr_scene": 0, "qr_scene_str": "",
    })
