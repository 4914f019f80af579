"""Thin HTTP and callback handlers, one module per noun."""

from __future__ import annotations

import inspect
import json
import re
import typing
from typing import Any

from flask import Flask, current_app, request
from werkzeug.exceptions import BadRequest

from app.errors import DomainError, ValidationFailed
from app.json_depth import MAX_JSON_DEPTH, nests_deeper_than

API_PREFIX = "/api/v1/"
# A JSON escape of a UTF-16 surrogate; only then can a parsed body hold a lone surrogate.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def register(app: Flask) -> None:
    """Register every blueprint and the OpenAPI document."""
    from handlers import (_fast_path, activities, announcements, archive, audit_log, auth, bulletins, calendar,
                          campaigns, certificates, checkins, console_lists, console_sessions, console_static,
                          console_workbench, docs, exports, files, health, imports, kpis, messages, organizations,
                          points, quarterly_reports, recording, region_permits, regions, rewards, role_grants,
                          service_records, signups, stars, statistics, teams, trainings, transfers, uploads,
                          verification, volunteers, wechat_callback)
    from handlers._schemas import IdConverter
    from handlers._validation import install_validation_errors

    install_validation_errors()
    # Every <int:…> segment of the API is an id (see IdConverter).
    app.url_map.converters["int"] = IdConverter
    app.before_request(_require_json_bodies)
    app.after_request(console_static.add_security_headers)
    for module in (health, auth, volunteers, regions, organizations, region_permits, teams, activities, signups,
                   checkins, service_records, recording, archive, calendar, campaigns, announcements, messages,
                   trainings, bulletins, quarterly_reports, console_lists, console_workbench, statistics,
                   console_sessions, role_grants, audit_log, kpis, exports, imports, files, uploads, transfers,
                   certificates, points, rewards, stars, verification, docs, wechat_callback, console_static):
        app.register_blueprint(module.blueprint)
    fast_routes = _fast_path.install(app)
    fast_routes.add("POST", wechat_callback.PUSH_PATH, wechat_callback.answer_push_fast)
    fast_routes.add("POST", checkins.SCAN_PATH, checkins.scan_fast)
    app.extensions["json_body_models"] = {endpoint: json_body_model(view) for endpoint, view in app.view_functions.items()}
    app.extensions["form_endpoints"] = {endpoint for endpoint, view in app.view_functions.items() if takes_form(view)}


def json_body_model(view: Any) -> type | None:
    """The schema of a view's JSON body (the `json` parameter spectree fills), or None if it takes none."""
    original = inspect.unwrap(view)
    if "json" not in getattr(original, "__annotations__", {}):
        return None
    return typing.get_type_hints(original).get("json")


def takes_form(view: Any) -> bool:
    """Whether a view takes a multipart/form-data body (the `form` parameter spectree fills): a file upload."""
    return "form" in getattr(inspect.unwrap(view), "__annotations__", {})


# Room for a multipart body's boundaries and small fields around the one file it carries.
_MULTIPART_OVERHEAD = 64 * 1024


def _allow_file_upload() -> bool:
    """A multipart body to a view that takes one: its own size limit, and none of the JSON checks.

    The limit is the file limit plus the multipart overhead, so werkzeug stops reading (413) past it;
    a declared length above it is refused at once, before a byte is read.
    """
    if request.endpoint not in current_app.extensions["form_endpoints"] or request.mimetype != "multipart/form-data":
        return False
    limit = current_app.extensions["settings"]["files"]["upload_max_bytes"]
    if request.content_length is not None and request.content_length > limit + _MULTIPART_OVERHEAD:
        raise DomainError("file_too_large", f"文件不能超过 {limit / 1024 / 1024:g} MB", 413, fields={"file": "文件过大"})
    request.max_content_length = limit + _MULTIPART_OVERHEAD
    request.max_form_parts = 10
    return True


def _require_json_bodies() -> None:
    """The API speaks JSON objects: anything else is refused before any handler runs.

    Another media type is 415; broken JSON, or JSON nested deeper than MAX_JSON_DEPTH (measured
    before parsing, which would otherwise recurse into a 500), is 400 `malformed_json`; valid JSON
    that is not an object (`[]`, `null`, `"x"`, `1`) is 422 `validation_failed` with the field
    `body`, and so is any body but `{}` on a route that takes none.
    """
    if request.method not in ("POST", "PUT", "PATCH", "DELETE") or not request.path.startswith(API_PREFIX):
        return
    if getattr(current_app.view_functions.get(request.endpoint or ""), "takes_file_body", False) or _allow_file_upload():
        return
    # Read whatever arrived, with or without a Content-Length (chunked): spectree parses it later.
    data = request.get_data(cache=True)
    if not data:
        return
    if not request.is_json:
        raise DomainError("unsupported_media_type", "请以 application/json 格式提交请求内容", 415)
    if nests_deeper_than(data, MAX_JSON_DEPTH):
        raise DomainError("malformed_json", f"请求内容嵌套过深（最多 {MAX_JSON_DEPTH} 层）", 400)
    try:
        body = request.get_json()  # not silent: JSON's own `null` is a value, not a parse failure
    except BadRequest:
        raise DomainError("malformed_json", "请求内容不是有效的 JSON", 400) from None
    if SURROGATE_ESCAPE.search(data):
        try:
            # JSON may escape a lone surrogate ("\ud800"), which no UTF-8 text can hold: refuse it here
            # rather than fail while storing or answering.
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise DomainError("malformed_json", "请求内容含有无效的字符", 400) from None
    if not isinstance(body, dict):
        raise ValidationFailed({"body": "请求体应为 JSON 对象"})
    models = current_app.extensions["json_body_models"]
    if body and request.endpoint in models and models[request.endpoint] is None:
        raise ValidationFailed({"body": "此接口不接受请求内容"})
