"""Schema pieces shared by several handlers."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
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


class StrictBody(BaseModel):
    """A request body that refuses fields it does not know (no mass assignment)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# What any endpoint with a JSON body may answer before its view runs: broken JSON, a body over
# 1 MiB, another media type, or a body that fails its schema.
_JSON_BODY_ERRORS = (400, 413, 415, 422)


def answers(status: int | tuple[int, ...], model: type[BaseModel], *errors: int, json_body: bool = False) -> Response:
    """The documented answers of an endpoint: its success (one status or several) and every error status."""
    successes = status if isinstance(status, tuple) else (status,)
    error_statuses = sorted(set(errors) | (set(_JSON_BODY_ERRORS) if json_body else set()))
    return Response(**{f"HTTP_{code}": model for code in successes},
                    **{f"HTTP_{code}": ErrorBody for code in error_statuses})


class Page(BaseModel):
    model_config = ConfigDict(extra="forbid")
    page: int = Field(default=1, ge=1, le=100000)
    per_page: int = Field(default=20, ge=1, le=100)
