"""The official account's chat bot: what it answers to each message and event."""

from __future__ import annotations

from sqlalchemy import select

from app import pii
from app.extensions import db
from app.wechat.callbacks import InboundMessage
from models import Account, Volunteer, VolunteerStatus

HELP_TEXT = (
    "您好，这里是志愿服务平台。可以发送以下指令：\n"
    "【帮助】查看本说明\n"
    "【我的信息】查看您的志愿者注册信息\n"
    "报名活动、签到和查看服务时长，请使用志愿服务小程序。"
)
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
STATUS_LABELS = {
    VolunteerStatus.PENDING: "审核中",
    VolunteerStatus.APPROVED: "已通过",
    VolunteerStatus.REJECTED: "未通过",
}


def reply_to(message: InboundMessage) -> str | None:
    """Return the text to answer with, or None to answer `success` (no reply)."""
    if message.msg_type == "event":
        if message.event == "subscribe":
            return WELCOME_WITH_SCENE_TEXT if message.scene else WELCOME_TEXT
        return None
    if message.msg_type != "text":
        return HELP_TEXT
    command = (message.content or "").strip()
    if command == "我的信息":
        return _my_info(message.from_user)
    return HELP_TEXT


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
    if volunteer.status is VolunteerStatus.REJECTED and volunteer.rejection_reason:
        lines.append(f"驳回原因：{volunteer.rejection_reason}")
    return "\n".join(lines)
