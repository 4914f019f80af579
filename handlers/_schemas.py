"""Schema pieces shared by several handlers."""

from __future__ import annotations

import re
from functools import cache, wraps
from typing import Annotated, Any, Callable, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError
from spectree import Response
from werkzeug.routing import IntegerConverter

from app.errors import ErrorBody


# Ids are PostgreSQL integers: a larger number would fail in the database, so it never gets there.
MAX_ID = 2_147_483_647
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def id_path(name: str) -> str:
    """A URL segment for an id: numbers outside 1..MAX_ID do not match the route (404)."""
    return f"<int(min=1, max={MAX_ID}):{name}>"


class IdConverter(IntegerConverter):
    """werkzeug's int converter, whose pattern itself accepts exactly 1..MAX_ID.

    With only min/max, werkzeug refuses an out-of-range value after matching the route and answers
    405 instead of 404 when another method's route shares the path. A pattern that cannot match
    0 or 2147483648 gives a plain 404, and the OpenAPI document still says "integer, 1..MAX_ID".
    """

    regex = (r"(?:[1-9]\d{0,8}|1\d{9}|20\d{8}|21[0-3]\d{7}|214[0-6]\d{6}|2147[0-3]\d{5}|21474[0-7]\d{4}"
             r"|214748[0-2]\d{3}|2147483[0-5]\d{2}|21474836[0-3]\d|214748364[0-7])")


class MultiLineText:
    """Marks a text field that may hold line breaks and tabs (a description, an announcement's body)."""


# `text: MultiLine` may hold "\n" and "\t"; every other text of a request is one line.
# The OpenAPI document says so too ("x-multiline"), for clients and for the hostile-input test.
MultiLine = Annotated[str, MultiLineText(), Field(json_schema_extra={"x-multiline": True})]

# What no text of a request may hold: C0 control characters (PostgreSQL refuses NUL in text, the
# others are invisible or break WeChat's templates), DEL, and lone surrogates (no UTF-8 text holds one).
_FORBIDDEN_IN_LINE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_FORBIDDEN_IN_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def _marks_multi_line(annotation: Any) -> bool:
    metadata = getattr(annotation, "__metadata__", ())
    return any(isinstance(item, MultiLineText) for item in metadata) or any(
        _marks_multi_line(arg) for arg in get_args(annotation))


@cache
def _allows_line_breaks(model: type[BaseModel], field_name: str) -> bool:
    field = model.model_fields[field_name]
    return any(isinstance(item, MultiLineText) for item in field.metadata) or _marks_multi_line(field.annotation)


class RequestSchema(BaseModel):
    """What every request schema (body, query, nested object) derives from: its text is checked once, here.

    Every string a request carries, in any field, list or mapping (keys too), is refused with 422
    `validation_failed` naming the field if it holds a control character; only fields typed
    `MultiLine` may hold line breaks and tabs. A new field cannot escape: the check runs on all of
    them (tests/handlers/test_hostile_input.py walks every schema to make sure each derives from here).
    """

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        forbidden = _FORBIDDEN_IN_TEXT if _allows_line_breaks(cls, info.field_name) else _FORBIDDEN_IN_LINE
        pending = [value]
        while pending:  # iterative: nesting is bounded by the JSON depth limit, but recursion is not needed
            item = pending.pop()
            if isinstance(item, str):
                if forbidden.search(item):
                    raise PydanticCustomError("control_character", "text holds a control character")
            elif isinstance(item, (list, tuple, set, frozenset)):
                pending.extend(item)
            elif isinstance(item, dict):
                pending.extend(item.keys())
                pending.extend(item.values())
        return value


class StrictBody(RequestSchema):
    """A request body that refuses fields it does not know (no mass assignment).

    Bodies are validated as strict JSON (handlers/_validation.py): no type coercion, so `true` is
    not an integer, `"5"` is not a number and `1` is not a boolean.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class QueryArgs(RequestSchema):
    """A query string's schema; query values are text, so "1" still parses as an integer."""


# A skill, as volunteers list theirs and activities require them: short, one line.
Skill = Annotated[str, Field(min_length=1, max_length=20)]


# What any endpoint with a JSON body may answer before its view runs: broken JSON, a body over
# 1 MiB, another media type, or a body that fails its schema.
_JSON_BODY_ERRORS = (400, 413, 415, 422)


def answers(status: int | tuple[int, ...], model: type[BaseModel], *errors: int, json_body: bool = False) -> Response:
    """The documented answers of an endpoint: its success (one status or several) and every error status."""
    successes = status if isinstance(status, tuple) else (status,)
    error_statuses = sorted(set(errors) | (set(_JSON_BODY_ERRORS) if json_body else set()))
    return Response(**{f"HTTP_{code}": model for code in successes},
                    **{f"HTTP_{code}": ErrorBody for code in error_statuses})


def takes_file_body(view: Callable) -> Callable:
    """Mark a view whose request body is a file (XLSX, or a multipart form), not JSON.

    The API's JSON check (`handlers._require_json_bodies`) leaves such a request alone, before it reads
    the body under the JSON limit: the view sets its own limit and reads the file itself.
    """
    view.takes_file_body = True  # type: ignore[attr-defined]
    return view


def documented_only(spec_decorator: Callable[[Callable], Callable]) -> Callable[[Callable], Callable]:
    """Describe a view in the OpenAPI document (`api_spec.validate(resp=answers(…), …)`) without spectree's wrapper.

    For views that stream a file: spectree's wrapper reads a response's whole body into memory
    (`get_data`) even with `skip_validation`, and refuses a `send_file` answer outright. The view is
    registered with spectree, so the document lists its answers and errors like any other
    endpoint's, but Flask calls the view itself; spectree finds the registration by following
    `__wrapped__`, as it does through `login_required`. Errors still come as `ErrorBody` from the
    app's error handlers; nothing of the request or the answer is validated.
    """

    def decorate(view: Callable) -> Callable:
        registered = spec_decorator(view)

        @wraps(view)
        def plain(*args: Any, **kwargs: Any) -> Any:
            return view(*args, **kwargs)

        plain.__wrapped__ = registered  # type: ignore[attr-defined]
        return plain

    return decorate


class Page(QueryArgs):
    model_config = ConfigDict(extra="forbid")
    page: int = Field(default=1, ge=1, le=100000)
    per_page: int = Field(default=20, ge=1, le=100)


def paired(first: str, second: str) -> Any:
    """A model check: `first` and `second` (a latitude and a longitude) come together or not at all.

    The error names the one that is missing, so the client knows which to add.
    """

    def check(model: BaseModel) -> BaseModel:
        if (getattr(model, first) is None) != (getattr(model, second) is None):
            missing, given = (second, first) if getattr(model, second) is None else (first, second)
            raise PydanticCustomError("missing_pair", "{field} must come with {other}", {"field": missing, "other": given})
        return model

    return model_validator(mode="after")(check)


class PageQuery(QueryArgs):
    """The paging of every management list (README, "Lists"): a page size and the previous answer's cursor."""

    limit: int = Field(default=20, ge=1, le=100, description="每页条数，1–100")
    cursor: str | None = Field(default=None, max_length=1000, description="上一页答复中的 next_cursor；首页不传")
