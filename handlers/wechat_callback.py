"""WeChat callbacks of the official account and the mini-program: verify, dedup, answer fast."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, request

from app.extensions import get_redis, settings
from app.services import wechat_events
from app.timeutil import current_time, now_utc
from app.wechat.callbacks import MAX_BODY_BYTES, CallbackRejected, open_callback, render_reply, verify_signature

logger = logging.getLogger(__name__)
blueprint = Blueprint("wechat_callback", __name__, url_prefix="/wechat")
APPS = ("official", "miniprogram")


def _plain(body: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> Response:
    return Response(body, status=status, content_type=content_type)


@blueprint.get("/<app_name>/callback")
def verify_url(app_name: str):
    """URL verification: echo `echostr` when the signature is WeChat's."""
    conf = _app_settings(app_name)
    wechat = settings()["wechat"]
    try:
        verify_signature(conf["token"], request.args, now=int(now_utc().timestamp()),
                         max_age=wechat["callback_max_age_seconds"])
    except CallbackRejected as exc:
        logger.info("callback verification refused for %s: %s", app_name, exc.code)
        return _plain(exc.code, exc.status)
    return _plain(request.args.get("echostr", ""))


@blueprint.post("/<app_name>/callback")
def receive(app_name: str):
    """One push: answered with a reply, or `success` when there is nothing to say."""
    conf = _app_settings(app_name)
    wechat = settings()["wechat"]
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return _plain("payload_too_large", 413)
    body = request.stream.read(MAX_BODY_BYTES + 1)
    now = current_time()
    try:
        # The replay window is protocol: it is checked against the real clock, never a pinned one.
        opened = open_callback(conf, request.args, body, now=int(now_utc().timestamp()),
                               max_age=wechat["callback_max_age_seconds"],
                               require_safe_mode=wechat["require_safe_mode"])
    except CallbackRejected as exc:
        logger.info("callback refused for %s: %s", app_name, exc.code)
        return _plain(exc.code, exc.status)
    reply = wechat_events.handle(app_name, opened.message, redis_client=get_redis(), now=now)
    answer = render_reply(conf, opened, reply, nonce=request.args.get("nonce", ""), timestamp=int(now.timestamp()))
    return _plain(answer, content_type="application/xml; charset=utf-8" if answer != "success" else "text/plain; charset=utf-8")


def _app_settings(app_name: str):
    if app_name not in APPS:
        abort(404)
    return settings()["wechat"][app_name]
