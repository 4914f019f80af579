"""POST /api/v1/auth/login: a wx.login code in, a bearer token out."""

from __future__ import annotations

from flask import Blueprint
from pydantic import BaseModel, Field

from app.db import unit_of_work
from app.extensions import api_spec, get_gateway, settings
from app.services import accounts
from app.timeutil import current_time
from handlers._schemas import StrictBody, answers

blueprint = Blueprint("auth", __name__, url_prefix="/api/v1/auth")


class LoginBody(StrictBody):
    code: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$", description="wx.login() 返回的临时登录凭证")


class LoginAnswer(BaseModel):
    token: str = Field(description="放在 Authorization: Bearer 中")
    expires_in: int = Field(description="有效秒数")
    registered: bool = Field(description="是否已提交志愿者注册")


@blueprint.post("/login")
@api_spec.validate(json=LoginBody, resp=answers(200, LoginAnswer, 401, 403, 429, 503, json_body=True), tags=["auth"])
def login(json: LoginBody):
    """Log in with a wx.login code."""
    conf = settings()["app"]
    with unit_of_work():
        result = accounts.login(get_gateway(), json.code, secret_key=conf["secret_key"],
                                ttl_seconds=conf["token_ttl_seconds"], now=current_time())
    return LoginAnswer(token=result.token, expires_in=result.expires_in, registered=result.is_registered)
