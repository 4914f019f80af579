"""Schema pieces shared by several handlers."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from spectree import Response

from app.errors import ErrorBody


# Ids are PostgreSQL integers: a larger number would fail in the database, so it never gets there.
MAX_ID = 2_147_483_647
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def id_path(name: str) -> str:
    """A URL segment for an id: numbers outside 1..MAX_ID do not match the route (404)."""
    return f"<int(min=1, max={MAX_ID}):{name}>"


class StrictBody(BaseModel):
    """A request body that refuses fields it does not know (no mass assignment)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# What any endpoint with a JSON body may answer before its view runs: broken JSON, a body over
# 1 MiB, another media type, or a body that fails its schema.
_JSON_BODY_ERRORS = (400, 413, 415, 422)


def answers(status: int, model: type[BaseModel], *errors: int, json_body: bool = False) -> Response:
    """The documented answers of an endpoint: its success and every error status it can give."""
    error_statuses = sorted(set(errors) | (set(_JSON_BODY_ERRORS) if json_body else set()))
    return Response(**{f"HTTP_{status}": model}, **{f"HTTP_{code}": ErrorBody for code in error_statuses})


class Page(BaseModel):
    model_config = ConfigDict(extra="forbid")
    page: int = Field(default=1, ge=1, le=100000)
    per_page: int = Field(default=20, ge=1, le=100)
