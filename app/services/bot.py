"""The official account's chat bot: what it answers to each message and event."""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlalchemy import func, select

from app import pii
from app.errors import DomainError
from app.extensions import db
from app.services import regions, signups
from app.services.points import views as points_views
from app.services.stars import flow as star_flow, hours as star_hours, rules as star_rules
from app.services.certificates import flow as certificate_flow, publicity as certificate_publicity, verification
from app.texts import clock_text, day_text, hours_text, moment_text
from app.timeutil import to_local
from app.wechat.callbacks import InboundMessage
from models import (Account, Activity, ActivityStatus, Certificate, CertificateStatus, Checkin, Organization,
                    ServiceRecord, Signup, SignupStatus, StarApplication, StarStatus, Volunteer, VolunteerStatus)
from models.stars import OPEN_STAR_STATUSES
from models.signups import ACTIVE_SIGNUP_STATUSES

HELP_TEXT = (
    "您好，这里是志愿服务平台。可以发送以下指令：\n"
    "【帮助】查看本说明\n"
    "【我的信息】查看您的志愿者注册信息\n"
    "【我的活动】查看您报名的活动\n"
    "【我的时长】查看您的服务时长\n"
    "【报名 活动编号】报名活动，如：报名 12\n"
    "【开证明】申请志愿服务记录证明（全部时长；或“开证明 2025”只开该年）\n"
    "【我的证明】查看您的证明及核验链接\n"
    "【我的星级】查看您的星级和距下一星级的时长\n"
    "【我的积分】查看您的积分余额和最近记录\n"
    "签到请在活动现场扫码；更多功能请使用志愿服务小程序。"
)
SIGN_UP_USAGE = "请发送“报名 活动编号”，如：报名 12（活动编号见小程序活动详情）"
SIGNUP_LABELS = {
    SignupStatus.PENDING: "待审核",
    SignupStatus.APPROVED: "已报名",
    SignupStatus.WAITLISTED: "候补中",
}
_SIGN_UP = re.compile(r"报名\s*[#＃]?\s*(\d{1,9})")
_REQUEST_CERTIFICATE = re.compile(r"开证明\s*(?:(20\d\d)\s*年?)?")
REQUEST_CERTIFICATE_USAGE = "请发送“开证明”（全部时长）或“开证明 2025”（该年的时长）"
WELCOME_TEXT = (
    "欢迎关注志愿服务平台！\n"
    "注册志愿者：打开志愿服务小程序，登录后填写实名信息，所在社区审核通过即可报名活动。\n"
    "发送【帮助】查看可用指令。"
)
WELCOME_WITH_SCENE_TEXT = "欢迎关注志愿服务平台！您是扫描活动或组织的二维码进入的，稍后可在小程序中查看详情。\n" + (
    "发送【帮助】查看可用指令。"
)
NOT_LINKED_TEXT = (
    "暂未找到您的志愿者信息。\n"
    "请先在志愿服务小程序中登录并注册；如已注册，请在小程序「我的」页面绑定公众号后再试。"
)
# The user message types WeChat documents besides text (普通消息); each may be answered with the help.
USER_MESSAGE_TYPES = frozenset({"image", "voice", "video", "shortvideo", "location", "link"})
STATUS_LABELS = {
    VolunteerStatus.PENDING: "审核中",
    VolunteerStatus.APPROVED: "已通过",
    VolunteerStatus.REJECTED: "未通过",
    VolunteerStatus.DELETED: "已注销",
    VolunteerStatus.SUSPENDED: "已暂停",
}


def has_effects(message: InboundMessage) -> bool:
    """True for commands that change data: their push must claim a receipt first (at most once)."""
    command = (message.content or "").strip()
    return message.msg_type == "text" and (command.startswith("报名") or command.startswith("开证明"))


def reply_to(message: InboundMessage, *, now: datetime) -> str | None:
    """Return the text to answer with, or None to answer `success` (no reply)."""
    if message.msg_type == "event":
        if message.event == "subscribe":
            return WELCOME_WITH_SCENE_TEXT if message.scene else WELCOME_TEXT
        return None
    if message.msg_type in USER_MESSAGE_TYPES:
        return HELP_TEXT
    if message.msg_type != "text":
        # A type WeChat does not document (device_text, a future type): say nothing, answer `success`.
        return None
    command = (message.content or "").strip()
    if command == "我的信息":
        return _my_info(message.from_user)
    if command == "我的活动":
        return _my_activities(message.from_user, now)
    if command == "我的时长":
        return _my_hours(message.from_user, now)
    if command.startswith("报名"):
        return _sign_up(message.from_user, command, now)
    if command == "我的证明":
        return _my_certificates(message.from_user)
    if command.startswith("开证明"):
        return _request_certificate(message.from_user, command, now)
    if command == "我的星级":
        return _my_stars(message.from_user, now)
    if command == "我的积分":
        return _my_points(message.from_user)
    return HELP_TEXT


def _account(oa_openid: str) -> Account | None:
    return db.session.scalar(select(Account).where(Account.oa_openid == oa_openid))


def _volunteer(oa_openid: str) -> Volunteer | None:
    return db.session.scalar(
        select(Volunteer).join(Account, Account.id == Volunteer.account_id).where(Account.oa_openid == oa_openid))


def _my_activities(oa_openid: str, now: datetime) -> str:
    volunteer = _volunteer(oa_openid)
    if volunteer is None:
        return NOT_LINKED_TEXT
    # The check-in, if any, tells the real state: signed up, checked in, or already checked out.
    rows = db.session.execute(
        select(Activity, Signup.status, Checkin.checked_in_at, Checkin.checked_out_at)
        .join(Signup, Signup.activity_id == Activity.id)
        .outerjoin(Checkin, (Checkin.activity_id == Activity.id) & (Checkin.volunteer_id == volunteer.id))
        .where(Signup.volunteer_id == volunteer.id, Signup.status.in_(ACTIVE_SIGNUP_STATUSES),
               Activity.ends_at > now, Activity.status == ActivityStatus.PUBLISHED)
        .order_by(Activity.starts_at).limit(10)
    ).all()
    if not rows:
        return "您目前没有待参加的活动。发送“报名 活动编号”即可报名。"
    lines = ["您报名的活动："]
    lines += [f"【{a.id}】{a.title} {moment_text(a.starts_at)} {_state(status, checked_in_at, checked_out_at)}"
              for a, status, checked_in_at, checked_out_at in rows]
    return "\n".join(lines)


def _state(status: SignupStatus, checked_in_at: datetime | None, checked_out_at: datetime | None) -> str:
    if checked_out_at is not None:
        return f"已签退（{clock_text(checked_out_at)}）"
    if checked_in_at is not None:
        return f"已签到（{clock_text(checked_in_at)}）"
    return SIGNUP_LABELS[status]


def _my_hours(oa_openid: str, now: datetime) -> str:
    volunteer = _volunteer(oa_openid)
    if volunteer is None:
        return NOT_LINKED_TEXT
    this_year = to_local(now).year
    minutes_this_year = sum(
        minutes for minutes, starts_at in db.session.execute(
            select(ServiceRecord.minutes, Activity.starts_at).join(Activity, Activity.id == ServiceRecord.activity_id)
            .where(ServiceRecord.volunteer_id == volunteer.id))
        if to_local(starts_at).year == this_year)
    return (f"累计服务时长：{hours_text(volunteer.total_service_minutes)}（{volunteer.service_record_count} 次）\n"
            f"{this_year} 年：{hours_text(minutes_this_year)}")


def _sign_up(oa_openid: str, command: str, now: datetime) -> str:
    match = _SIGN_UP.fullmatch(command)
    if match is None:
        return SIGN_UP_USAGE
    account = _account(oa_openid)
    if account is None:
        return NOT_LINKED_TEXT
    try:
        # A refusal rolls back only its own writes; the push's receipt stays, so a retry answers the same.
        with db.session.begin_nested():
            signup, created = signups.apply(account, int(match.group(1)), join_waitlist=False, now=now)
    except DomainError as exc:
        return f"报名未成功：{exc.message}"
    activity = db.session.get(Activity, signup.activity_id)
    when = moment_text(activity.starts_at)
    if not created:
        return f"您已报名【{activity.id}】{activity.title}（{SIGNUP_LABELS[signup.status]}），{when} 开始。"
    if signup.status is SignupStatus.PENDING:
        return f"已提交报名【{activity.id}】{activity.title}，等待组织者审核。活动 {when} 开始。"
    return f"报名成功：【{activity.id}】{activity.title}，{when} 开始，地点：{activity.address}。请准时到场扫码签到。"


def _my_info(oa_openid: str) -> str:
    volunteer = db.session.scalar(
        select(Volunteer).join(Account, Account.id == Volunteer.account_id).where(Account.oa_openid == oa_openid)
    )
    if volunteer is None:
        return NOT_LINKED_TEXT
    lines = [
        f"姓名：{pii.mask_name(volunteer.real_name)}",
        f"手机：{pii.mask_mobile(volunteer.mobile)}",
        f"所在社区：{volunteer.region.name}",
        f"注册状态：{STATUS_LABELS[volunteer.status]}",
    ]
    if volunteer.volunteer_number:
        lines.append(f"志愿者编号：{volunteer.volunteer_number}")
    if volunteer.status is VolunteerStatus.REJECTED and volunteer.rejection_reason:
        lines.append(f"驳回原因：{volunteer.rejection_reason}")
    return "\n".join(lines)


def _request_certificate(oa_openid: str, command: str, now: datetime) -> str:
    """「开证明」: certificates for all recorded hours up to today; 「开证明 2025」: for that year."""
    match = _REQUEST_CERTIFICATE.fullmatch(command)
    if match is None:
        return REQUEST_CERTIFICATE_USAGE
    account = _account(oa_openid)
    volunteer = _volunteer(oa_openid)
    if account is None or volunteer is None:
        return NOT_LINKED_TEXT
    today = to_local(now).date()
    if match.group(1):
        year = int(match.group(1))
        start, end = date(year, 1, 1), min(date(year, 12, 31), today)
    else:
        first = db.session.scalar(select(func.min(Activity.starts_at)).join(
            ServiceRecord, ServiceRecord.activity_id == Activity.id).where(ServiceRecord.volunteer_id == volunteer.id))
        start, end = (to_local(first).date() if first else today), today
    try:
        # A refusal rolls back only its own writes; the push's receipt stays, so a retry answers the same.
        with db.session.begin_nested():
            rows = certificate_flow.request(account, start, end, note=None, now=now)
    except DomainError as exc:
        return f"申请未成功：{exc.message}"
    names = "、".join(dict.fromkeys(_organization_name(row.organization_id) for row in rows))
    return (f"已申请 {start.isoformat()} 至 {end.isoformat()} 的志愿服务记录证明，共 {len(rows)} 份（{names}）。"
            "由记录时长的组织审核并公示后出具，发送【我的证明】查看进度。")


def _organization_name(organization_id: int) -> str:
    return db.session.scalar(select(Organization.name).where(Organization.id == organization_id)) or ""


def _my_certificates(oa_openid: str) -> str:
    volunteer = _volunteer(oa_openid)
    if volunteer is None:
        return NOT_LINKED_TEXT
    rows = list(db.session.scalars(select(Certificate).where(Certificate.volunteer_id == volunteer.id)
                                   .order_by(Certificate.id.desc()).limit(10)))
    if not rows:
        return "您还没有志愿服务记录证明。发送【开证明】即可申请。"
    lines = ["您的志愿服务记录证明："]
    for row in rows:
        line = (f"{_organization_name(row.organization_id)} {row.period_start.isoformat()}至{row.period_end.isoformat()}"
                f" {verification.STATUS_LABELS[row.status]}")
        if row.status is CertificateStatus.PUBLICITY and row.publicity_ends_at:
            line += f"（公示至 {day_text(certificate_publicity.through(row.publicity_ends_at), with_year=True)}）"
        if row.status is CertificateStatus.REJECTED and row.rejection_reason:
            line += f"（{row.rejection_reason}）"
        if row.serial and row.status in (CertificateStatus.PUBLICITY, CertificateStatus.ISSUED):
            line += f"\n编号 {row.serial}，核验：{verification.link(row.serial, row.verification_code)}"
        lines.append(line)
    lines.append("PDF 请在小程序「我的证明」中下载。")
    return "\n".join(lines)


def _my_stars(oa_openid: str, now: datetime) -> str:
    """「我的星级」: the star held, the hours that count under the home region's rules, what the next one needs."""
    volunteer = _volunteer(oa_openid)
    if volunteer is None:
        return NOT_LINKED_TEXT
    level = star_flow.current_level(volunteer.id)
    rules = star_rules.in_force(regions.get_region(volunteer.region_id))
    minutes = star_hours.qualifying_minutes(volunteer, rules)
    lines = [f"您是{star_flow.stars_text(level)}。" if level else "您还没有评上星级。",
             f"计入星级评定的服务时长：{hours_text(minutes)}"]
    pending = db.session.scalar(select(StarApplication).where(
        StarApplication.volunteer_id == volunteer.id, StarApplication.status.in_(OPEN_STAR_STATUSES))
        .order_by(StarApplication.level.desc()).limit(1))
    if pending is not None:
        state = "审核中" if pending.status is StarStatus.PENDING else (
            f"公示中，公示至 {day_text(certificate_publicity.through(pending.publicity_ends_at), with_year=True)}")
        lines.append(f"您的{star_flow.stars_text(pending.level)}申请{state}。")
    elif level < len(rules.thresholds_hours):
        wanted = rules.thresholds_hours[level]
        short = wanted * 60 - minutes
        months = star_hours.months_registered(volunteer, now)
        if short > 0:
            lines.append(f"评{star_flow.stars_text(level + 1)}需 {wanted} 小时，还差 {hours_text(short)}。")
        elif months < rules.min_months:
            lines.append(f"时长已够{star_flow.stars_text(level + 1)}，注册满 {rules.min_months} 个月后即可评定"
                         f"（已注册 {months} 个月）。")
        else:
            lines.append(f"时长已够{star_flow.stars_text(level + 1)}，平台每天评定一次，也可在小程序中申请。")
    return "\n".join(lines)


def _my_points(oa_openid: str) -> str:
    """「我的积分」: the balance and the last five lines of the volunteer's points account."""
    account = _account(oa_openid)
    if account is None or _volunteer(oa_openid) is None:
        return NOT_LINKED_TEXT
    found = points_views.mine(account, limit=5, cursor=None)
    if not found["items"]:
        return "您还没有积分。参加志愿服务、记录时长后即可获得积分。"
    lines = [f"积分余额：{found['balance']}", "最近记录："]
    for item in found["items"]:
        sign = "+" if item["amount"] > 0 else ""
        # A bonus carries the organiser's reason: the part a volunteer most wants to read.
        memo = f"「{item['memo']}」" if item["memo"] else ""
        lines.append(f"{day_text(item['event_at'])} {item['code_label']}{memo} {sign}{item['amount']}"
                     f"（余 {item['balance_after']}）")
    return "\n".join(lines)
