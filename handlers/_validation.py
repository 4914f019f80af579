"""Request validation errors from the OpenAPI schemas, rendered like every other error."""

from __future__ import annotations

import json
from datetime import date
from typing import Any, TypeVar

from spectree.model_adapter.pydantic_adapter import PydanticModelAdapter

from app.errors import ValidationFailed
from app.extensions import api_spec
from handlers._schemas import StrictBody

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
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "finite_number": "应为有限的数字",
    "string_unicode": "含有无效的字符",
    "control_character": "不能含有控制字符",
    "date_past": "日期需早于今天",
    "datetime_type": "时间格式应为 ISO 8601，带时区",
    "datetime_parsing": "时间格式应为 ISO 8601，带时区",
    "timezone_aware": "时间需带时区，如 +08:00",
    "is_instance_of": "不在可选范围内",
}


def fields_of(errors: list[dict[str, Any]]) -> dict[str, str]:
    """Map pydantic errors to {"field.path": "中文说明"}."""
    fields: dict[str, str] = {}
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body", "query", "json"))
        kind, context = error.get("type", ""), error.get("ctx") or {}
        if kind == "missing_pair":
            # A rule over two fields (lat and lng): name the one that is missing, not the whole object.
            location = ".".join(filter(None, (location, context["field"])))
            message = f"需与 {context['other']} 同时提供"
        elif kind in ("greater_than_equal", "less_than_equal") and isinstance(context.get("ge", context.get("le")),
                                                                               (str, date)):
            # A bound on a date (JSON validation reports it as text): earlier/later, not smaller/larger.
            message = f"不能早于 {context['ge']}" if kind == "greater_than_equal" else f"不能晚于 {context['le']}"
        else:
            message = _MESSAGES.get(kind, "格式不正确")
        fields.setdefault(location or "body", message)
    return fields


def _raise_validation_failed(request: Any, response: Any, error: Any, instance: Any, model_adapter: Any = None) -> None:
    if error is None:
        return
    raise ValidationFailed(fields_of(error.errors()))


StrictModel = TypeVar("StrictModel", bound=StrictBody)


def validate_strict_body(model: type[StrictModel], value: Any) -> StrictModel:
    """A parsed JSON body as `model`, validated as strict JSON (see `StrictJsonBodies`); ValidationError if not."""
    return model.model_validate_json(json.dumps(value), strict=True)


class StrictJsonBodies(PydanticModelAdapter):
    """Validate request bodies as strict JSON, query strings and everything else as before.

    pydantic's lax mode would take `true` for the integer 1, `"5"` for 5 and `1.0` for 1. Strict
    mode on JSON input refuses all of that yet still reads dates, times and enum values from their
    JSON strings (strict mode on Python input would not), so a body is validated from JSON text:
    the one place every body schema passes through, so no int field can be forgotten.
    """

    def validate_obj(self, model: type[Any], value: Any) -> Any:
        if isinstance(model, type) and issubclass(model, StrictBody):
            return validate_strict_body(model, value)
        return super().validate_obj(model, value)

    def validation_errors(self, err: Any) -> Any:
        # spectree renders these as JSON before our `before` hook replaces them: without the input,
        # which for a multipart form holds the uploaded file (not JSON-serialisable).
        return err.errors(include_context=False, include_input=False)


def install_validation_errors() -> None:
    """Make spectree raise our ValidationFailed instead of answering with its own body; bodies are strict JSON."""
    api_spec.before = _raise_validation_failed
    adapter = StrictJsonBodies()
    api_spec.model_adapter = adapter
    api_spec.backend.model_adapter = adapter
