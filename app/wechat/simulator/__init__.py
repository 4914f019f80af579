"""A local stand-in for WeChat's servers, so the service runs and is tested without WeChat credentials.

`create_simulator_app(wechat)` returns a small Flask app serving the WeChat API endpoints the
gateway uses (same paths, parameters, answers and errcodes) for exactly two apps, the official
account and the mini-program of the `[wechat]` config section, plus control endpoints under
/_sim (recorded messages, stats, run-time settings, injected faults). `push_callback` and the
message builders send signed callbacks to the service as WeChat does. See README ("The WeChat
simulator").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask

from app.wechat.simulator import api, api_codes, api_messages, control
from app.wechat.simulator.builders import (
    event_message,
    subscribe_msg_change_event,
    subscribe_msg_popup_event,
    subscribe_msg_sent_event,
    text_message,
)
from app.wechat.simulator.fast import FastSends
from app.wechat.simulator.push import PushResult, decrypt_reply, push_callback, push_from_cli, sign_query
from app.wechat.simulator.state import SimulatorState

__all__ = [
    "PushResult", "SimulatorState", "create_simulator_app", "decrypt_reply", "event_message", "push_callback",
    "push_from_cli", "sign_query", "simulator_state", "subscribe_msg_change_event", "subscribe_msg_popup_event",
    "subscribe_msg_sent_event", "text_message",
]


def create_simulator_app(wechat: Mapping[str, Any], *, rate_limit_per_second: float = 0,
                         blocked_words: Iterable[str] | None = None, clock: Callable[[], float] | None = None,
                         sleep: Callable[[float], None] | None = None, fast_path: bool = True) -> Flask:
    """Build the simulator for the two apps of `wechat` (the `[wechat]` config section).

    rate_limit_per_second: sends (subscribe, template, custom) accepted per second before errcode
    45009; 0 means no limit. blocked_words: what msg_sec_check calls risky (default 违禁词, 赌博).
    clock / sleep replace time.time / time.sleep, so tests can move time without waiting.
    fast_path: answer subscribe and template sends in a thin WSGI layer in front of Flask (fast.py,
    same answers, a fraction of the CPU); False serves them through the Flask views.
    """
    app = Flask(__name__)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[api.EXTENSION] = SimulatorState(wechat, rate_limit_per_second=rate_limit_per_second,
                                                   blocked_words=blocked_words, clock=clock, sleep=sleep)
    for module in (api, api_messages, api_codes, control):
        app.register_blueprint(module.blueprint)
    if fast_path:
        app.wsgi_app = FastSends(app, app.wsgi_app, app.extensions[api.EXTENSION])  # type: ignore[method-assign]
    return app


def simulator_state(app: Flask) -> SimulatorState:
    """The state behind a simulator app (for tests that want to look inside)."""
    return app.extensions[api.EXTENSION]
