"""WeChat callbacks of the official account and the mini-program: verify, dedup, answer fast.

A push (POST to one of the two callback URLs) is answered below Flask by `answer_push_fast`
(handlers/_fast_path.py): the same checks and the same answer as the Flask view below, without
Flask's request context, URL matching and request hooks, which cost more than the push itself.
Everything else goes through Flask as usual.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, Callable
from urllib.parse import parse_qsl

from flask import Blueprint, Response, abort, current_app, request
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.wsgi import get_content_length, get_input_stream

from app.extensions import get_redis, settings
from app.services import wechat_events
from app.timeutil import current_time, now_utc
from app.wechat.callbacks import MAX_BODY_BYTES, CallbackRejected, open_callback, render_reply, verify_signature
from handlers._fast_path import FastAnswer

logger = logging.getLogger(__name__)
blueprint = Blueprint("wechat_callback", __name__, url_prefix="/wechat")
APPS = ("official", "miniprogram")
TEXT = "text/plain; charset=utf-8"
XML = "application/xml; charset=utf-8"


def _plain(body: str, status: int = 200, content_type: str = TEXT) -> Response:
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
    """One push: answered with a reply, or `success` when there is nothing to say.

    `answer_push_fast` answers pushes to the two known apps before Flask routes them; this view
    answers the same way where the fast path is not installed, and 404 for other app names.
    """
    _app_settings(app_name)
    return _plain(*answer_push(app_name, request.args, request.content_length, lambda: request.stream))


def answer_push(app_name: str, args: Mapping[str, str], content_length: int | None,
                open_stream: Callable[[], Any]) -> tuple[str, int, str]:
    """(body, status, content type) of the answer to one push; needs an app context.

    `open_stream` gives the body's stream, opened only once the declared length is known to fit.
    """
    wechat = settings()["wechat"]
    conf = wechat[app_name]
    if (content_length or 0) > MAX_BODY_BYTES:
        return "payload_too_large", 413, TEXT
    body = open_stream().read(MAX_BODY_BYTES + 1)
    now = current_time()
    try:
        # The replay window is protocol: it is checked against the real clock, never a pinned one.
        opened = open_callback(conf, args, body, now=int(now_utc().timestamp()),
                               max_age=wechat["callback_max_age_seconds"],
                               require_safe_mode=wechat["require_safe_mode"])
    except CallbackRejected as exc:
        logger.info("callback refused for %s: %s", app_name, exc.code)
        return exc.code, exc.status, TEXT
    reply = wechat_events.handle(app_name, opened.message, redis_client=get_redis(), now=now)
    answer = render_reply(conf, opened, reply, nonce=args.get("nonce", ""), timestamp=int(now.timestamp()))
    return answer, 200, XML if answer != "success" else TEXT


def _app_settings(app_name: str):
    if app_name not in APPS:
        abort(404)
    return settings()["wechat"][app_name]


# --- the fast path ----------------------------------------------------------------------------------

PUSH_PATH = rf"{blueprint.url_prefix}/({'|'.join(APPS)})/callback"


def answer_push_fast(environ: dict, match: re.Match[str]) -> FastAnswer:
    """A push to one of the two known apps, answered below Flask (handlers/_fast_path.py)."""
    body, status, content_type = answer_push(match.group(1), _query_args(environ), get_content_length(environ),
                                             lambda: _stream(environ))
    return FastAnswer(body.encode(), status, content_type)


def _stream(environ: dict) -> Any:
    """`request.stream` of Flask's request: werkzeug's guarded input stream, the app's body limit."""
    return get_input_stream(environ, max_content_length=current_app.config["MAX_CONTENT_LENGTH"])


def _query_args(environ: dict) -> ImmutableMultiDict:
    """`request.args`, parsed as werkzeug parses them, without building the request object."""
    return ImmutableMultiDict(parse_qsl(environ.get("QUERY_STRING", "").encode("latin1").decode(),
                                        keep_blank_values=True, errors="werkzeug.url_quote"))
