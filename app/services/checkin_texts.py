"""The texts a volunteer reads about their own check-in: refusals addressed to them, chat replies.

A captain's screen reads "该志愿者…"; a volunteer who scanned by themselves reads "您…", and a
follower who scanned the official account's QR reads the answer as a chat message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from app.errors import DomainError
from app.texts import clock_text, hours_text

# The same refusals as a volunteer who scanned by themselves reads them (the captain reads "该志愿者…").
_TO_THE_VOLUNTEER = {
    "not_signed_up": "您未报名本活动",
    "signup_not_approved": "您的报名尚未通过审核",
    "already_checked_in": "您已签到",
    "already_checked_out": "您已签退",
    "volunteer_suspended": "您的志愿者资格已被暂停，不能签到",
}


def to_the_volunteer(refusal: DomainError) -> DomainError:
    """The refusal as the volunteer reads it: same code, status and context, 您 in the message."""
    # Refusals written for the captain with details in them (overlap, cap) read as well with 您.
    message = _TO_THE_VOLUNTEER.get(refusal.code) or refusal.message.replace("该志愿者", "您")
    return type(refusal)(refusal.code, message, refusal.status, context=refusal.context)


@contextmanager
def addressed_to_the_volunteer() -> Iterator[None]:
    """A scan the volunteer made themselves: its check-in refusals say 您, not 该志愿者."""
    from app.services.checkins import CheckinError

    try:
        yield
    except CheckinError as refusal:
        raise to_the_volunteer(refusal) from None


# --- replies in the official account's chat ----------------------------------------------------------

UNREADABLE_QR = "无法识别的签到二维码"
OTHER_DAY = "签到未成功：这是其他日期的签到二维码，请扫描现场当天的二维码"
NOT_A_VOLUNTEER = "签到未成功：暂未找到您的志愿者信息，请先在小程序中注册；刚关注的话，请稍等一分钟后再扫一次。"
CANCELLED = "签到未成功：活动已取消"


def refused(refusal: DomainError) -> str:
    """A refused check-in by the official QR, as the chat reply."""
    return f"签到未成功：{to_the_volunteer(refusal).message}"


def checked_in(title: str, now: datetime) -> str:
    """The reply to a check-in by the official QR."""
    return f"签到成功：{title}，{clock_text(now)} 已签到。活动结束时请再扫一次签退。"


def checked_out(title: str, minutes: int, now: datetime) -> str:
    """The reply to a check-out by the official QR, with the hours it credited."""
    return f"签退成功：{title}，{clock_text(now)} 已签退，本次计入服务时长 {hours_text(minutes)}。感谢您的服务！"
