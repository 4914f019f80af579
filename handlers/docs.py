"""GET /api/v1/openapi.json: the API description, generated from the validating schemas."""

from __future__ import annotations

import copy

from flask import Blueprint, current_app, jsonify

from app import error_codes
from app.extensions import api_spec

blueprint = Blueprint("docs", __name__)
API_PREFIX = "/api/v1"


@blueprint.get(f"{API_PREFIX}/openapi.json")
def openapi_document():
    document = current_app.extensions.get("openapi_document")
    if document is None:
        # spectree lifts nested models' $defs out of its shared model table while generating, deleting
        # them there: a second app in the same process (every test) would get dangling $refs. Generate
        # from a copy so each app's document is whole.
        models = copy.deepcopy(api_spec.models)
        try:
            document = dict(api_spec._generate_spec())
        finally:
            api_spec.models = models
        document["paths"] = {path: ops for path, ops in document["paths"].items()
                             if path.startswith(API_PREFIX) and path != f"{API_PREFIX}/openapi.json"}
        document.setdefault("info", {})["description"] = (
            "出错时的回答都是 `{\"error\": {\"code\", \"message\", \"fields\"?, \"context\"?}}`；"
            "客户端按 `code` 分支处理，`message` 是给用户看的中文说明。\n\n## 错误代码\n\n"
            + error_codes.as_markdown())
        document.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "POST /api/v1/auth/login 返回的 token"},
            "console": {"type": "apiKey", "in": "cookie", "name": "vs_console",
                        "description": "管理后台的会话 Cookie（扫码或登录链接登录后设置）；写操作还需 X-CSRF-Token 请求头"},
        }
        current_app.extensions["openapi_document"] = document
    return jsonify(document)
