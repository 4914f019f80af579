"""Request validation errors from the OpenAPI schemas, rendered like every other error."""

from __future__ import annotations

from typing import Any

from app.errors import ValidationFailed
from app.extensions import api_spec

# pydantic error types → what a person should fix, in Chinese.
_MESSAGES = {
    "missing": "必填",
    "string_too_short": "内容过短",
    "string_too_long": "内容过长",
    "string_pattern_mismatch": "格式不正确",
    "string_type": "应为文本",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "bool_type": "应为是或否",
    "bool_parsing": "应为是或否",
    "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD",
    "date_parsing": "日期格式应为 YYYY-MM-DD",
    "date_type": "日期格式应为 YYYY-MM-DD",
    "enum": "不在可选范围内",
    "literal_error": "不在可选范围内",
    "list_type": "应为列表",
    "too_long": "项目过多",
    "too_short": "项目过少",
    "extra_forbidden": "不允许提交此字段",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "model_type": "请求体应为 JSON 对象",
    "dict_type": "请求体应为 JSON 对象",
}


def fields_of(errors: list[dict[str, Any]]) -> dict[str, str]:
    """Map pydantic errors to {"field.path": "中文说明"}."""
    fields: dict[str, str] = {}
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body", "query", "json"))
        fields.setdefault(location or "body", _MESSAGES.get(error.get("type", ""), "格式不正确"))
    return fields


def _raise_validation_failed(request: Any, response: Any, error: Any, instance: Any, model_adapter: Any = None) -> None:
    if error is None:
        return
    raise ValidationFailed(fields_of(error.errors()))


def install_validation_errors() -> None:
    """Make spectree raise our ValidationFailed instead of answering with its own body."""
    api_spec.before = _raise_validation_failed
