"""WeChat callbacks of the official account and the mini-program: verify, dedup, answer fast.

A push (POST to one of the two callback URLs) is answered by `PushFastPath`, a thin WSGI layer in
front of Flask: the same checks and the same answer as the Flask view below, with an app context
(settings, Redis, the database session and its teardown) but without Flask's request context,
URL matching and request hooks, which cost more than the push itself. Everything else, and any
push that raises, goes through Flask as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Callable

from urllib.parse import parse_qsl

from flask import Blueprint, Flask, Response, abort, current_app, has_app_context, request
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import get_content_length, get_input_stream

from app.extensions import get_redis, settings
from app.services import wechat_events
from app.timeutil import current_time, now_utc
from app.wechat.callbacks import MAX_BODY_BYTES, CallbackRejected, open_callback, render_reply, verify_signature
from handlers.console_static import BASE_SECURITY_HEADERS

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

    `PushFastPath` answers pushes to the two known apps before Flask routes them; this view answers
    the same way where the fast path is not installed, and 404 for other app names.
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

_PUSH_PATHS = {f"{blueprint.url_prefix}/{name}/callback": name for name in APPS}
_SECURITY_HEADERS = list(BASE_SECURITY_HEADERS.items())
_STATUS_LINES: dict[int, str] = {}

StartResponse = Callable[..., Any]


class PushFastPath:
    """WSGI middleware: POST /wechat/official/callback and /wechat/miniprogram/callback, answered
    with `answer_push` in an app context, with the headers the app's after-request hook gives
    every non-console answer. Other requests go to `wsgi_app` (Flask) untouched; an exception
    while answering is handed to Flask's error handlers, as the view's would be."""

    def __init__(self, app: Flask, wsgi_app: Callable[[dict, StartResponse], Iterable[bytes]]):
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        app_name = _PUSH_PATHS.get(environ.get("PATH_INFO", "")) if environ.get("REQUEST_METHOD") == "POST" else None
        if app_name is None:
            return self.wsgi_app(environ, start_response)
        try:
            with self._app_context():
                body, status, content_type = answer_push(app_name, _query_args(environ), get_content_length(environ),
                                                         lambda: self._stream(environ))
        except Exception as exc:  # noqa: BLE001 (rendered by the app's own error handlers)
            return self._error(environ, start_response, exc)
        data = body.encode()
        start_response(_status_line(status),
                       [("Content-Type", content_type), ("Content-Length", str(len(data))), *_SECURITY_HEADERS])
        return [data]

    def _app_context(self) -> AbstractContextManager:
        """This app's context, or the one already pushed for it, as Flask's request context does: a
        caller inside an app context (a test, a CLI command) shares its database session with the push."""
        if has_app_context() and current_app._get_current_object() is self.app:  # type: ignore[attr-defined]
            return nullcontext()
        return self.app.app_context()

    def _stream(self, environ: dict) -> Any:
        """`request.stream` of Flask's request: werkzeug's guarded input stream, the app's body limit."""
        return get_input_stream(environ, max_content_length=self.app.config["MAX_CONTENT_LENGTH"])

    def _error(self, environ: dict, start_response: StartResponse, exc: Exception) -> Iterable[bytes]:
        """What Flask answers when a view raises `exc`: its error handler's answer, after-request hooks applied."""
        app = self.app
        with app.request_context(environ):
            try:
                response = app.finalize_request(app.handle_user_exception(exc))
            except Exception as again:  # noqa: BLE001
                response = app.handle_exception(again)
            return response(environ, start_response)


def _query_args(environ: dict) -> ImmutableMultiDict:
    """`request.args`, parsed as werkzeug parses them, without building the request object."""
    return ImmutableMultiDict(parse_qsl(environ.get("QUERY_STRING", "").encode("latin1").decode(),
                                        keep_blank_values=True, errors="werkzeug.url_quote"))


def _status_line(status: int) -> str:
    line = _STATUS_LINES.get(status)
    if line is None:
        # Werkzeug's spelling, as a Flask Response has it ("403 FORBIDDEN").
        line = _STATUS_LINES[status] = f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}"
    return line


def install_fast_path(app: Flask) -> None:
    """Put `PushFastPath` in front of the app's WSGI callable (gunicorn and the test client both go through it)."""
    app.wsgi_app = PushFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
