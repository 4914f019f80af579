"""Hot routes answered below Flask: the same checks and answers, without Flask's per-request cost.

A WeChat push and a captain's scan are each a few hundred microseconds of our own work, and Flask's
request context, URL matching, request hooks and response object cost about as much again. A route
registered here is answered by its handler in an app context (settings, Redis, the database session
and its teardown) with the headers the app's after-request hook gives every API answer. A handler
may decline a request, and then Flask answers it as usual: the handlers take only the shape of
request a well-behaved client sends and leave every odd one (a malformed body, a missing token, a
cookie) to the Flask view, whose answers and error bodies are the reference. An exception a handler
raises is rendered by the app's own error handlers, as a view's would be.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, has_app_context
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import get_content_length

from app.json_depth import MAX_JSON_DEPTH, nests_deeper_than
from handlers import SURROGATE_ESCAPE
from handlers._validation import StrictModel, validate_strict_body
from handlers.console_static import BASE_SECURITY_HEADERS

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict, StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class FastAnswer:
    body: bytes
    status: int = 200
    content_type: str = "application/json"


# A handler answers, or returns None to let Flask answer the request (having read no body, or put it back).
Handler = Callable[[dict, "re.Match[str]"], FastAnswer | None]

_SECURITY_HEADERS = list(BASE_SECURITY_HEADERS.items())
_STATUS_LINES: dict[int, str] = {}


class FastRoutes:
    """WSGI middleware in front of the app's `wsgi_app`; see the module's docstring."""

    def __init__(self, app: Flask, wsgi_app: WsgiApp):
        self.app = app
        self.wsgi_app = wsgi_app
        self._routes: dict[str, list[tuple[re.Pattern[str], Handler]]] = {}

    def add(self, method: str, path: str, handler: Handler) -> None:
        """Answer `method` requests whose whole path matches the regular expression `path` with `handler`."""
        self._routes.setdefault(method, []).append((re.compile(path), handler))

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        for pattern, handler in self._routes.get(environ.get("REQUEST_METHOD", ""), ()):
            match = pattern.fullmatch(environ.get("PATH_INFO", ""))
            if match is not None:
                return self._answer(handler, match, environ, start_response)
        return self.wsgi_app(environ, start_response)

    def _answer(self, handler: Handler, match: re.Match[str], environ: dict,
                start_response: StartResponse) -> Iterable[bytes]:
        try:
            with self._app_context():
                answer = handler(environ, match)
        except Exception as exc:  # noqa: BLE001 (rendered by the app's own error handlers)
            return self._error(environ, start_response, exc)
        if answer is None:
            return self.wsgi_app(environ, start_response)
        start_response(_status_line(answer.status), [("Content-Type", answer.content_type),
                                                     ("Content-Length", str(len(answer.body))), *_SECURITY_HEADERS])
        return [answer.body]

    def _app_context(self) -> AbstractContextManager:
        """This app's context, or the one already pushed for it, as Flask's request context does: a
        caller inside an app context (a test, a CLI command) shares its database session with the request."""
        if has_app_context() and current_app._get_current_object() is self.app:  # type: ignore[attr-defined]
            return nullcontext()
        return self.app.app_context()

    def _error(self, environ: dict, start_response: StartResponse, exc: Exception) -> Iterable[bytes]:
        """What Flask answers when a view raises `exc`: its error handler's answer, after-request hooks applied."""
        app = self.app
        with app.request_context(environ):
            try:
                response = app.finalize_request(app.handle_user_exception(exc))
            except Exception as again:  # noqa: BLE001
                response = app.handle_exception(again)
            return response(environ, start_response)


def read_json_body(environ: dict, model: type[StrictModel]) -> StrictModel | None:
    """The request's JSON body as `model`, or None (the body put back for Flask) unless it passes every
    check that Flask's `_require_json_bodies` and the view's validation make, so that Flask answers
    any body they refuse, with its own error. Without a Content-Length (chunked), Flask reads it."""
    length = get_content_length(environ)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if not length or (limit is not None and length > limit) or \
            environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != "application/json":
        return None
    data = environ["wsgi.input"].read(length)
    if len(data) == length and not nests_deeper_than(data, MAX_JSON_DEPTH) and not SURROGATE_ESCAPE.search(data):
        try:
            value = json.loads(data)
            if isinstance(value, dict):
                return validate_strict_body(model, value)
        except ValueError:  # broken JSON, or pydantic's ValidationError
            pass
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))
    return None


def _status_line(status: int) -> str:
    line = _STATUS_LINES.get(status)
    if line is None:
        # Werkzeug's spelling, as a Flask Response has it ("403 FORBIDDEN").
        line = _STATUS_LINES[status] = f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}"
    return line


def install(app: Flask) -> FastRoutes:
    """Put `FastRoutes` in front of the app's WSGI callable (gunicorn and the test client both go through it)."""
    routes = FastRoutes(app, app.wsgi_app)
    app.wsgi_app = routes  # type: ignore[method-assign]
    return routes
