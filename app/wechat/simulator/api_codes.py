"""QR codes: official-account parametric QR codes (create + show) and unlimited mini-program codes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.wechat.simulator import qr
from app.wechat.simulator.api import MINIPROGRAM, OFFICIAL, error, json_body, state, wechat_api

blueprint = Blueprint("wechat_sim_codes", __name__)

QR_ACTIONS = {"QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"}
QR_MAX_EXPIRE_SECONDS = 2_592_000
QR_DEFAULT_EXPIRE_SECONDS = 60


def _qr_scene(action: str, scene: Any) -> str | int | None:
    if not isinstance(scene, dict):
        return None
    if action in ("QR_STR_SCENE", "QR_LIMIT_STR_SCENE"):
        value = scene.get("scene_str")
        return value if isinstance(value, str) and 1 <= len(value) <= 64 else None
    value = scene.get("scene_id")
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    upper = 100_000 if action == "QR_LIMIT_SCENE" else 2**32 - 1
    return value if 1 <= value <= upper else None


@blueprint.post("/cgi-bin/qrcode/create")
@wechat_api("qrcode", OFFICIAL)
def qrcode_create(_: str) -> Response:
    body, errcode = json_body()
    if body is None:
        return error(errcode)
    action = body.get("action_name")
    if action not in QR_ACTIONS:
        return error(40097, "invalid args: action_name")
    action_info = body.get("action_info")
    scene = _qr_scene(action, action_info.get("scene") if isinstance(action_info, dict) else None)
    if scene is None:
        return error(40097, "invalid args: action_info.scene")
    permanent = action.startswith("QR_LIMIT")
    expire_seconds = None
    if not permanent:
        expire_seconds = body.get("expire_seconds", QR_DEFAULT_EXPIRE_SECONDS)
        if isinstance(expire_seconds, bool) or not isinstance(expire_seconds, int) \
                or not 1 <= expire_seconds <= QR_MAX_EXPIRE_SECONDS:
            return error(40097, "invalid args: expire_seconds")
    ticket = state().add_ticket(action_name=action, scene=scene, expire_seconds=expire_seconds)
    answer: dict[str, Any] = {"ticket": ticket.ticket, "url": ticket.url}
    if expire_seconds is not None:
        answer["expire_seconds"] = expire_seconds
    return jsonify(answer)


@blueprint.get("/cgi-bin/showqrcode")
@wechat_api("showqrcode", None)
def showqrcode(_: str | None) -> Response:
    """On WeChat this is mp.weixin.qq.com; no token, only the ticket. Unknown or expired → 404."""
    ticket = state().ticket(request.args.get("ticket", ""))
    if ticket is None:
        return Response("ticket not found", status=404, mimetype="text/plain")
    return Response(qr.png(ticket.url), mimetype="image/png")


@blueprint.post("/wxa/getwxacodeunlimit")
@wechat_api("wxacode", MINIPROGRAM)
def getwxacodeunlimit(_: str) -> Response:
    body, errcode = json_body()
    if body is None:
        return error(errcode)
    scene = body.get("scene")
    if not isinstance(scene, str) or not qr.WXACODE_SCENE.fullmatch(scene):
        return error(40169)
    page = body.get("page")
    if page is not None and (not isinstance(page, str) or page.startswith("/") or "?" in page):
        return error(41030)
    if body.get("env_version", "release") not in ("release", "trial", "develop"):
        return error(40097, "invalid args: env_version")
    width = body.get("width", qr.DEFAULT_WIDTH)
    if isinstance(width, bool) or not isinstance(width, int):
        return error(47001)
    # WeChat clamps the width into 280–1280 rather than refusing it.
    return Response(qr.png(qr.wxacode_content(scene, page), width=qr.clamp_width(width)), mimetype="image/png")


