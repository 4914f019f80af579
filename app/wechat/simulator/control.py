"""Control endpoints under /_sim for tests and demos: recorded messages, stats, settings, faults."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.wechat.simulator.api import state

blueprint = Blueprint("wechat_sim_control", __name__, url_prefix="/_sim")
MESSAGE_FILTERS = ("touser", "api", "template_id")


def bad_request(message: str) -> tuple[Response, int]:
    return jsonify({"ok": False, "error": message}), 400


def _body() -> dict[str, Any] | None:
    body = request.get_json(force=True, silent=True)
    return body if isinstance(body, dict) else None


@blueprint.get("/health")
def health() -> Response:
    return jsonify({"ok": True})


@blueprint.get("/messages")
def list_messages() -> Response:
    filters = {key: request.args.get(key) for key in MESSAGE_FILTERS}
    return jsonify({"messages": state().messages(**filters)})


@blueprint.delete("/messages")
def clear_messages() -> Response:
    state().clear_messages()
    return jsonify({"ok": True})


@blueprint.get("/stats")
def stats() -> Response:
    return jsonify(state().stats())


@blueprint.get("/config")
def get_config() -> Response:
    return jsonify(state().config())


@blueprint.post("/config")
def set_config() -> Response | tuple[Response, int]:
    body = _body()
    if body is None:
        return bad_request("expected a JSON object")
    rate = body.get("rate_limit_per_second")
    words = body.get("blocked_words")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate < 0):
        return bad_request("rate_limit_per_second must be a number >= 0")
    if words is not None and (not isinstance(words, list) or not all(isinstance(w, str) for w in words)):
        return bad_request("blocked_words must be a list of strings")
    if rate is not None:
        state().set_rate_limit(float(rate))
    if words is not None:
        state().set_blocked_words(words)
    return jsonify(state().config())


@blueprint.get("/faults")
def list_faults() -> Response:
    return jsonify({"faults": state().faults()})


@blueprint.post("/faults")
def add_fault() -> Response | tuple[Response, int]:
    """{"api": "subscribe", "errcode": 45009, "count": 3} or {"api": ..., "delay_seconds": 2, "count": 1}."""
    body = _body()
    if body is None:
        return bad_request("expected a JSON object")
    errcode, delay, count = body.get("errcode"), body.get("delay_seconds", 0), body.get("count", 1)
    if errcode is not None and (isinstance(errcode, bool) or not isinstance(errcode, int) or errcode == 0):
        return bad_request("errcode must be a non-zero integer")
    if isinstance(delay, bool) or not isinstance(delay, (int, float)):
        return bad_request("delay_seconds must be a number")
    if isinstance(count, bool) or not isinstance(count, int):
        return bad_request("count must be an integer")
    try:
        fault = state().add_fault(str(body.get("api", "")), count=count, errcode=errcode, delay_seconds=float(delay))
    except ValueError as exc:
        return bad_request(str(exc))
    return jsonify({"ok": True, "fault": fault.as_dict()})


@blueprint.delete("/faults")
def clear_faults() -> Response:
    state().clear_faults()
    return jsonify({"ok": True})
