"""Coded errors and their one JSON rendering."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from pydantic import BaseModel, Field
from werkzeug.exceptions import HTTPException

logger = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    code: str = Field(description="稳定的错误代码，客户端据此分支处理")
    message: str = Field(description="给用户看的中文说明")
    fields: dict[str, str] | None = Field(default=None, description="出错的字段及原因")
    context: dict[str, Any] | None = Field(default=None, description="客户端可一并展示的信息，如签到被拒时的志愿者和签到时间")


class ErrorBody(BaseModel):
    """The one shape of every error answer, as the OpenAPI document describes it."""

    error: ErrorDetail


class DomainError(Exception):
    """A rule was broken: a stable snake_case code, a message in Chinese, an HTTP status."""

    status = 400

    def __init__(self, code: str, message: str, status: int | None = None, fields: dict[str, Any] | None = None,
                 context: dict[str, Any] | None = None):
        super().__init__(code)
        self.code = code
        self.message = message
        if status is not None:
            self.status = status
        self.fields = fields
        self.context = context

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        if self.context:
            body["context"] = self.context
        return {"error": body}


class ValidationFailed(DomainError):
    status = 422

    def __init__(self, fields: dict[str, Any], message: str = "请求内容有误，请检查标出的字段"):
        super().__init__("validation_failed", message, fields=fields)


class NotFound(DomainError):
    status = 404

    def __init__(self, code: str = "not_found", message: str = "找不到请求的对象"):
        super().__init__(code, message)


class Forbidden(DomainError):
    status = 403

    def __init__(self, code: str = "forbidden", message: str = "没有权限执行此操作"):
        super().__init__(code, message)


class Unauthorized(DomainError):
    status = 401

    def __init__(self, code: str = "unauthorized", message: str = "请先登录"):
        super().__init__(code, message)


class Conflict(DomainError):
    status = 409


# Werkzeug's own errors (routing, body size, method) get the same body shape.
_HTTP_CODES = {
    400: ("bad_request", "请求格式有误"),
    403: ("forbidden", "没有权限执行此操作"),
    404: ("not_found", "找不到请求的地址"),
    405: ("method_not_allowed", "不支持此请求方法"),
    413: ("payload_too_large", "请求内容过大"),
    415: ("unsupported_media_type", "请使用 application/json 格式提交"),
    429: ("too_many_requests", "请求过于频繁，请稍后再试"),
}


def register_error_handlers(app: Flask) -> None:
    """Render DomainError and HTTP errors as {"error": {...}}; log and hide anything else."""

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        return jsonify(error.to_dict()), error.status

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if error.response is not None and error.code not in _HTTP_CODES:
            return error
        code, message = _HTTP_CODES.get(error.code or 500, ("http_error", error.description or "请求失败"))
        response = jsonify({"error": {"code": code, "message": message}})
        # Keep what HTTP requires of the status, such as the Allow header of a 405.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, error.code

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        logger.exception("unhandled error")
        return jsonify({"error": {"code": "internal_error", "message": "服务器内部错误，请稍后再试"}}), 500
