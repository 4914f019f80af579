"""Check-in: the volunteer's rotating personal code, and the captain's scans."""

from __future__ import annotations

from flask import Blueprint
from pydantic import AwareDatetime, BaseModel, Field

from app.db import unit_of_work
from app.extensions import api_spec, settings
from app.services import checkins
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account, login_required
from handlers._schemas import StrictBody, answers, id_path

blueprint = Blueprint("checkins", __name__, url_prefix="/api/v1")

NONCE_FIELD = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                    description="扫码端为每次扫码生成的随机串；重发同一 nonce 得到第一次的结果")


class PersonalCode(BaseModel):
    volunteer_id: int
    code: str = Field(description="当前签到码，二维码内容")
    seconds_left: int = Field(description="当前签到码还剩几秒")
    secret: str = Field(description="TOTP 密钥（base32），小程序离线生成签到码用，勿外传")
    step_seconds: int
    digits: int
    algorithm: str
    format: str


class ScanBody(StrictBody):
    code: str = Field(min_length=1, max_length=64, description="扫到的志愿者签到码")
    nonce: str = NONCE_FIELD
    scanned_at: AwareDatetime | None = Field(default=None, description="扫码时手机的时间（离线扫码时提供）")


class VolunteerBrief(BaseModel):
    id: int
    name: str | None = Field(description="姓名（脱敏）")


class ScanAnswer(BaseModel):
    result: str = Field(description="checked_in 已签到 / checked_out 已签退")
    volunteer: VolunteerBrief
    checked_in_at: str
    checked_out_at: str | None
    minutes: int = Field(description="计入的服务分钟数（签退后为记录的时长）")
    replayed: bool = Field(default=False, description="重复的 nonce：返回的是第一次的结果")


def _rules() -> checkins.Rules:
    return checkins.Rules.from_settings(settings()["checkin"])


@blueprint.get("/me/checkin-code")
@login_required
@api_spec.validate(resp=answers(200, PersonalCode, 401, 404), tags=["checkins"], security=BEARER_SECURITY)
def get_personal_code():
    """The volunteer's rotating check-in code (new every 30 s) and the secret to show it offline."""
    with unit_of_work():
        code = checkins.personal_code(current_account(), now=current_time())
    return PersonalCode(**code)


@blueprint.post("/me/checkin-code/rotate")
@login_required
@api_spec.validate(resp=answers(200, PersonalCode, 401, 404), tags=["checkins"], security=BEARER_SECURITY)
def rotate_personal_code():
    """Replace the secret: codes from the old one stop working at once."""
    with unit_of_work():
        code = checkins.personal_code(current_account(), now=current_time(), rotate=True)
    return PersonalCode(**code)


@blueprint.post(f"/activities/{id_path('activity_id')}/scans")
@login_required
@api_spec.validate(json=ScanBody, resp=answers(200, ScanAnswer, 401, 403, 404, 409, json_body=True),
                   tags=["checkins"], security=BEARER_SECURITY)
def scan(activity_id: int, json: ScanBody):
    """A captain scans a volunteer's code: the first scan checks in, a later one checks out."""
    with unit_of_work():
        answer = checkins.captain_scan(current_account(), activity_id, code=json.code, nonce=json.nonce,
                                       scanned_at=json.scanned_at, rules=_rules(), now=current_time())
    return ScanAnswer(**answer)
