"""Check-in: the volunteer's rotating personal code, and the captain's scans."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from flask import Blueprint
from pydantic import AwareDatetime, BaseModel, Field

from app import checkin_codes
from app.db import core_unit_of_work, unit_of_work
from app.extensions import api_spec, get_gateway, settings
from app.services import checkin_displays, checkins, official_qr, service_records
from app.timeutil import current_time, to_local
from handlers._auth import (BEARER_SECURITY, bearer_token, current_account, current_account_id, login_required,
                            token_claims)
from handlers._fast_path import FastAnswer, read_json_body
from handlers._schemas import Id, IdConverter, QueryArgs, StrictBody, answers, id_path, paired

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


class SelfScanBody(StrictBody):
    code: str = Field(min_length=1, max_length=64, description="扫到的活动签到码（链接中的 c 参数）")
    nonce: str = NONCE_FIELD
    lat: float | None = Field(default=None, ge=-90, le=90, description="当前纬度，仅用于判断是否在签到范围内，不保存")
    lng: float | None = Field(default=None, ge=-180, le=180)

    _point_complete = paired("lat", "lng")


class ManualBody(StrictBody):
    volunteer_id: Id
    reason: str = Field(min_length=2, max_length=200, description="代签原因，如“老人无智能手机”")
    nonce: str = NONCE_FIELD
    at: AwareDatetime | None = Field(default=None, description="实际签到/签退时间（默认现在）")


class BatchBody(StrictBody):
    scans: list[ScanBody] = Field(min_length=1, max_length=500, description="离线时扫的码，按扫码时间重放")


class BatchItem(BaseModel):
    nonce: str
    ok: bool
    result: str | None = None
    code: str | None = Field(default=None, description="被拒原因代码")
    message: str | None = None
    volunteer: VolunteerBrief | None = None
    checked_in_at: str | None = None
    checked_out_at: str | None = None
    minutes: int | None = None
    replayed: bool = False


class BatchAnswer(BaseModel):
    results: list[BatchItem]


class DisplayCode(BaseModel):
    token: str
    link: str = Field(description="二维码内容：微信扫一扫打开小程序签到页")
    seconds_left: int
    qr_png_base64: str = Field(description="二维码 PNG 图片（base64）")


class BoardActivity(BaseModel):
    id: int
    title: str
    starts_at: datetime
    ends_at: datetime
    status: str = Field(description="published 未开始 / ongoing 进行中 / finished 已结束 / cancelled 已取消 …")


class BoardEntry(BaseModel):
    checkin_id: int
    name: str = Field(description="脱敏姓名，如 李*丽")
    checked_in_at: datetime
    checked_out_at: datetime | None


class CheckinBoard(BaseModel):
    activity: BoardActivity
    signed_up: int = Field(description="已报名（已通过）人数")
    checked_in: int = Field(description="已签到人数（含已签退）")
    present: int = Field(description="在场人数：已签到、未签退")
    checked_out: int = Field(description="已签退人数")
    latest: list[BoardEntry] = Field(description="最近的签到、签退，最新的在前")
    as_of: datetime


def _rules() -> checkins.Rules:
    return checkins.Rules.from_settings(settings()["checkin"])


def _scan_once(scan: Callable[[], checkins.ScanAnswer], unit: Callable[[], AbstractContextManager[Any]] = unit_of_work
               ) -> ScanAnswer:
    """Run a scan in its own transaction; if its nonce was answered meanwhile, roll back, give that answer."""
    try:
        with unit():
            answer = scan()
    except checkins.AnsweredMeanwhile as first:
        answer = first.answer
    return ScanAnswer(**answer.as_dict())


@blueprint.get("/me/checkin-code")
@login_required
@api_spec.validate(resp=answers(200, PersonalCode, 401, 404), tags=["checkins"], security=BEARER_SECURITY)
def get_personal_code():
    """The volunteer's rotating check-in code (new every 30 s) and the secret to show it offline."""
    with unit_of_work():
        code = checkin_displays.personal_code(current_account(), now=current_time())
    return PersonalCode(**code)


@blueprint.post("/me/checkin-code/rotate")
@login_required
@api_spec.validate(resp=answers(200, PersonalCode, 401, 404), tags=["checkins"], security=BEARER_SECURITY)
def rotate_personal_code():
    """Replace the secret: codes from the old one stop working at once."""
    with unit_of_work():
        code = checkin_displays.personal_code(current_account(), now=current_time(), rotate=True)
    return PersonalCode(**code)


@blueprint.post(f"/activities/{id_path('activity_id')}/scans")
@login_required
@api_spec.validate(json=ScanBody, resp=answers(200, ScanAnswer, 401, 403, 404, 409, json_body=True),
                   tags=["checkins"], security=BEARER_SECURITY)
def scan(activity_id: int, json: ScanBody):
    """A captain scans a volunteer's code: the first scan checks in, a later one checks out."""
    answer = _scan_once(lambda: checkins.captain_scan(
        current_account_id(), activity_id, code=json.code, nonce=json.nonce, scanned_at=json.scanned_at,
        rules=_rules(), now=current_time()))
    return answer


# The scan is the hottest write of all (a captain scans 300 volunteers in ten minutes, and a festival
# has many captains): the request a scanning phone sends is answered below Flask (handlers/_fast_path.py),
# its token checked in the scan's first query. Any other request to the route goes to `scan` above.
SCAN_PATH = rf"{blueprint.url_prefix}/activities/({IdConverter.regex})/scans"


def scan_fast(environ: dict, match: re.Match[str]) -> FastAnswer | None:
    """`scan` for a request with a bearer token and a valid body; None (Flask answers) for any other."""
    token = bearer_token(environ.get("HTTP_AUTHORIZATION"))
    body = None if token is None else read_json_body(environ, ScanBody)
    if body is None:
        return None
    claims = token_claims(token)
    answer = _scan_once(lambda: checkins.captain_scan(
        claims.account_id, int(match.group(1)), code=body.code, nonce=body.nonce, scanned_at=body.scanned_at,
        rules=_rules(), now=current_time(), token=claims), core_unit_of_work)
    return FastAnswer(answer.model_dump_json().encode())


@blueprint.post(f"/activities/{id_path('activity_id')}/scans:batch")
@login_required
@api_spec.validate(json=BatchBody, resp=answers(200, BatchAnswer, 401, 403, 404, json_body=True),
                   tags=["checkins"], security=BEARER_SECURITY)
def scan_batch(activity_id: int, json: BatchBody):
    """Scans made offline, replayed in the order they were made with the same rules; one result each."""
    with unit_of_work():
        results = checkins.captain_scan_batch(current_account_id(), activity_id,
                                              [item.model_dump() for item in json.scans], rules=_rules(),
                                              now=current_time())
    return BatchAnswer(results=[BatchItem(**item) for item in results])


@blueprint.get(f"/activities/{id_path('activity_id')}/display-code")
@login_required
@api_spec.validate(resp=answers(200, DisplayCode, 401, 403, 404), tags=["checkins"], security=BEARER_SECURITY)
def get_display_code(activity_id: int):
    """The rotating activity code for the captain's screen (new every 30 s), as a link and a QR image."""
    conf = settings()
    shown = checkin_displays.display_code(current_account(), activity_id, secret_key=conf["app"]["secret_key"],
                                          link_base_url=conf["checkin"]["link_base_url"], now=current_time())
    return DisplayCode(token=shown["token"], link=shown["link"], seconds_left=shown["seconds_left"],
                       qr_png_base64=base64.b64encode(shown["qr_png"]).decode())


@blueprint.get(f"/activities/{id_path('activity_id')}/checkin-board")
@login_required
@api_spec.validate(resp=answers(200, CheckinBoard, 401, 403, 404), tags=["checkins"], security=BEARER_SECURITY)
def get_checkin_board(activity_id: int):
    """The live check-in screen: present and signed-up counts and the latest check-ins (masked names).

    Cheap enough to poll every second; the console's projected screen does.
    """
    return CheckinBoard(**checkin_displays.checkin_board(current_account(), activity_id, now=current_time()))


@blueprint.post(f"/activities/{id_path('activity_id')}/self-checkin")
@login_required
@api_spec.validate(json=SelfScanBody, resp=answers(200, ScanAnswer, 401, 403, 404, 409, json_body=True),
                   tags=["checkins"], security=BEARER_SECURITY)
def self_checkin(activity_id: int, json: SelfScanBody):
    """A volunteer scanned the activity's code: check in, or later check out (inside the geofence, if any)."""
    answer = _scan_once(lambda: checkins.self_scan(
        current_account_id(), activity_id, code=json.code, nonce=json.nonce, rules=_rules(), now=current_time(),
        secret_key=settings()["app"]["secret_key"], latitude=json.lat, longitude=json.lng))
    return answer


@blueprint.post(f"/activities/{id_path('activity_id')}/manual-checkins")
@login_required
@api_spec.validate(json=ManualBody, resp=answers(200, ScanAnswer, 401, 403, 404, 409, json_body=True),
                   tags=["checkins"], security=BEARER_SECURITY)
def manual_checkin(activity_id: int, json: ManualBody):
    """A captain checks a volunteer in or out by hand, with a reason (audited)."""
    answer = _scan_once(lambda: checkins.manual_entry(
        current_account_id(), activity_id, volunteer_id=json.volunteer_id, reason=json.reason, nonce=json.nonce,
        rules=_rules(), now=current_time(), at=json.at))
    return answer


class RecordView(BaseModel):
    id: int
    activity_id: int
    activity_title: str
    activity_starts_at: datetime
    kind: str = Field(description="attendance 签到记录 / correction 更正")
    minutes: int
    hours: float
    reason: str | None
    created_at: datetime
    confirmed: bool


class YearTotal(BaseModel):
    year: int
    hours: float
    minutes: int
    records: int


class RecordPage(BaseModel):
    items: list[RecordView]
    total: int
    page: int
    per_page: int
    total_hours: float
    total_records: int
    by_year: list[YearTotal]


class RecordQuery(QueryArgs):
    page: int = Field(default=1, ge=1, le=100000)
    per_page: int = Field(default=20, ge=1, le=100)


@blueprint.get("/me/records")
@login_required
@api_spec.validate(query=RecordQuery, resp=answers(200, RecordPage, 401, 404, 422), tags=["checkins"],
                   security=BEARER_SECURITY)
def my_records(query: RecordQuery):
    """The caller's service records, newest first, with totals overall and by year."""
    volunteer, rows, total, by_year = service_records.records_of(current_account().id, page=query.page,
                                                                 per_page=query.per_page)
    items = [RecordView(id=r.id, activity_id=r.activity_id, activity_title=r.activity.title,
                        activity_starts_at=r.activity.starts_at, kind=r.kind.value, minutes=r.minutes,
                        hours=round(r.minutes / 60, 2), reason=r.reason, created_at=r.created_at,
                        confirmed=r.confirmed_at is not None) for r in rows]
    years = [YearTotal(year=year, minutes=v["minutes"], hours=round(v["minutes"] / 60, 2), records=v["records"])
             for year, v in sorted(by_year.items(), reverse=True)]
    return RecordPage(items=items, total=total, page=query.page, per_page=query.per_page,
                      total_hours=round(volunteer.total_service_minutes / 60, 2),
                      total_records=volunteer.service_record_count, by_year=years)


class OfficialQr(BaseModel):
    scene: str
    url: str = Field(description="二维码内容（微信生成）；用微信扫码即关注公众号并签到")
    expires_at: datetime
    qr_png_base64: str


@blueprint.get(f"/activities/{id_path('activity_id')}/official-qr")
@login_required
@api_spec.validate(resp=answers(200, OfficialQr, 401, 403, 404, 409, 503), tags=["checkins"],
                   security=BEARER_SECURITY)
def get_official_qr(activity_id: int):
    """Today's official-account QR of the activity, for volunteers who use only the official account.

    Made once per activity day through WeChat; scanning it sends a SCAN event that checks in (or
    later out) and is answered in the chat.
    """
    now = current_time()
    with unit_of_work():
        _, row = official_qr.todays(current_account(), activity_id, now=now)
        shown = _official_qr_view(row) if row is not None else None
    if shown is not None:
        return shown
    # WeChat is called between two units of work: no transaction stays open across a network call.
    made = official_qr.make(get_gateway(), activity_id, now=now)
    with unit_of_work():
        return _official_qr_view(official_qr.save(activity_id, made, now=now))


def _official_qr_view(row) -> OfficialQr:
    return OfficialQr(scene=row.scene, url=row.url, expires_at=row.expires_at,
                      qr_png_base64=base64.b64encode(checkin_codes.qr_png(row.url)).decode())
