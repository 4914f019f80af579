"""Schema pieces shared by several handlers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StrictBody(BaseModel):
    """A request body that refuses fields it does not know (no mass assignment)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ErrorDetail(BaseModel):
    code: str = Field(description="稳定的错误代码，客户端据此分支处理")
    message: str = Field(description="给用户看的中文说明")
    fields: dict[str, str] | None = Field(default=None, description="出错的字段及原因")


class ErrorBody(BaseModel):
    error: ErrorDetail


class Page(BaseModel):
    model_config = ConfigDict(extra="forbid")
    page: int = Field(default=1, ge=1, le=100000)
    per_page: int = Field(default=20, ge=1, le=100)
