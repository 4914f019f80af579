"""The simulator's fast path: the high-volume sends answered by a thin WSGI layer in front of Flask.

A broadcast posts one subscribe (or template) message per recipient; through Flask each costs a
request context, URL matching and a Response object, several times the work of checking and
recording the message. `FastSends` serves exactly `POST /cgi-bin/message/subscribe/send` and
`POST /cgi-bin/message/template/send` itself, with the same gate (injected fault, access token, app),
the same validation and recording functions as the Flask views (api_messages.py) and the same answer
bytes (`jsonify`'s compact JSON and headers); everything else goes to the Flask app unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask
from werkzeug.exceptions import InternalServerError
from werkzeug.wsgi import get_input_stream

from app.wechat.simulator.api import error_answer, gate, parse_json_body
from app.wechat.simulator.api_messages import FAST_SENDS
from app.wechat.simulator.state import SimulatorState

TOKEN_PREFIX = "access_token="


def access_token(query_string: str) -> str | None:
    """The first access_token of a WSGI QUERY_STRING, decoded as Flask's `request.args` does it."""
    if query_string.startswith(TOKEN_PREFIX) and query_string.isascii() \
            and not any(c in query_string for c in "&;%+#"):
        return query_string[len(TOKEN_PREFIX):]
    # Anything else exactly as werkzeug's Request.args (first value wins).
    pairs = parse_qsl(query_string.encode("latin-1").decode(), keep_blank_values=True, errors="werkzeug.url_quote")
    return next((value for key, value in pairs if key == "access_token"), None)


class FastSends:
    """WSGI middleware of the simulator's Flask app (`app.wsgi_app = FastSends(app, app.wsgi_app, sim)`):
    the send endpoints of FAST_SENDS answered here, every other request passed on to `wsgi_app`."""

    def __init__(self, app: Flask, wsgi_app: Callable, sim: SimulatorState):
        self.app = app
        self.wsgi_app = wsgi_app
        self.sim = sim

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        route = FAST_SENDS.get(environ.get("PATH_INFO", "")) if environ.get("REQUEST_METHOD") == "POST" else None
        if route is None:
            return self.wsgi_app(environ, start_response)
        try:
            token = access_token(environ.get("QUERY_STRING", ""))
        except (UnicodeError, ValueError):
            return self.wsgi_app(environ, start_response)  # nothing consumed yet: let Flask answer as it does
        api, apps, answer_for = route
        try:
            answer, app_id = gate(self.sim, api, apps, token)
            if answer is None:
                body, errcode = parse_json_body(get_input_stream(environ, max_content_length=None).read())
                answer = error_answer(errcode) if body is None else answer_for(self.sim, app_id, body)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - as Flask: log it, answer 500
            self.app.logger.exception("Exception on %s [POST]", environ.get("PATH_INFO"))
            return InternalServerError()(environ, start_response)
        # jsonify's bytes: the app's JSON settings (ensure_ascii off, keys unsorted), compact unless debug.
        if self.app.debug:
            text = self.app.json.dumps(answer, indent=2)
        else:
            text = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
        data = (text + "\n").encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]
