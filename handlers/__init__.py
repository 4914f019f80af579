"""Thin HTTP and callback handlers, one module per noun."""

from __future__ import annotations

import json

from flask import Flask, request

from app.errors import DomainError

API_PREFIX = "/api/v1/"


def register(app: Flask) -> None:
    """Register every blueprint and the OpenAPI document."""
    from handlers import (activities, announcements, auth, calendar, campaigns, checkins, docs, health, organizations, region_permits, regions, service_records,
                          messages, signups, teams, trainings, volunteers, wechat_callback)
    from handlers._schemas import IdConverter
    from handlers._validation import install_validation_errors

    install_validation_errors()
    # Every <int:…> segment of the API is an id (see IdConverter).
    app.url_map.converters["int"] = IdConverter
    app.before_request(_require_json_bodies)
    for module in (health, auth, volunteers, regions, organizations, region_permits, teams, activities, signups, checkins,
                   service_records, calendar, campaigns, announcements, messages, trainings, wechat_callback, docs):
        app.register_blueprint(module.blueprint)


def _require_json_bodies() -> None:
    """The API speaks JSON: a body in another format, or broken JSON, is refused before any handler runs."""
    if request.method in ("POST", "PUT", "PATCH") and request.path.startswith(API_PREFIX):
        if not request.content_length:
            return
        if not request.is_json:
            raise DomainError("unsupported_media_type", "请以 application/json 格式提交请求内容", 415)
        body = request.get_json(silent=True)
        if body is None:
            raise DomainError("malformed_json", "请求内容不是有效的 JSON", 400)
        try:
            # JSON may escape a lone surrogate ("\ud800"), which no UTF-8 text can hold: refuse it here
            # rather than fail while storing or answering.
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise DomainError("malformed_json", "请求内容含有无效的字符", 400) from None
