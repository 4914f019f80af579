"""The official-account commands 我的活动, 我的时长 and 报名 <编号>, through the signed callback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.services import bot
from models import CallbackReceipt, RecordKind, ServiceRecord, Signup, SignupStatus
from tests import factories as f
from tests.wechat.test_callbacks import post, text_reply, text_xml


@pytest.fixture
def world(app, now):
    app.extensions["clock"] = lambda: now
    with app.app_context():
        tree = f.region_tree()
        org = f.organization("甲区志愿者协会", tree["district"], now)
        activity = f.activity(org, tree["community"], now, title="重阳敬老", capacity=1)
        volunteer = f.approved_volunteer("mp_alice", tree["community"], now)
        volunteer.account.oa_openid = "oa_alice"
        other = f.approved_volunteer("mp_bob", tree["community"], now)
        other.account.oa_openid = "oa_bob"
        world = {"activity_id": activity.id, "volunteer_id": volunteer.id, "org": org.id}
        db.session.commit()
    return world


def say(client, text, sender="oa_alice", msg_id=None):
    return text_reply(post(client, "official", text_xml(text, sender=sender, msg_id=msg_id)))["Content"]


def signups_of(app):
    with app.app_context():
        return [(s.volunteer_id, s.status) for s in db.session.scalars(select(Signup).order_by(Signup.id))]


def test_sign_up_by_message_once_even_when_wechat_retries(app, client, world):
    message = text_xml(f"报名 {world['activity_id']}", sender="oa_alice", msg_id="9001")
    replies = [text_reply(post(client, "official", message))["Content"] for _ in range(3)]
    assert replies[0].startswith("报名成功：") and "重阳敬老" in replies[0]
    assert replies == [replies[0]] * 3
    assert signups_of(app) == [(world["volunteer_id"], SignupStatus.APPROVED)]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CallbackReceipt)) == 1


def test_sign_up_refusals_are_explained_and_change_nothing(app, client, world):
    assert say(client, f"报名 {world['activity_id']}").startswith("报名成功")
    full = say(client, f"报名 {world['activity_id']}", sender="oa_bob")
    assert full.startswith("报名未成功：") and "名额已满" in full
    assert say(client, "报名 abc") == bot.SIGN_UP_USAGE
    assert say(client, "报名 999999").startswith("报名未成功：")
    assert say(client, f"报名 {world['activity_id']}", sender="oa_stranger") == bot.NOT_LINKED_TEXT
    assert len(signups_of(app)) == 1


def test_my_activities_lists_upcoming_sign_ups(client, world):
    assert "没有待参加的活动" in say(client, "我的活动")
    say(client, f"报名 {world['activity_id']}")
    listed = say(client, "我的活动")
    assert f"【{world['activity_id']}】重阳敬老" in listed and "已报名" in listed


def test_my_hours_totals_overall_and_this_year(app, client, world, now):
    with app.app_context():
        db.session.add(ServiceRecord(volunteer_id=world["volunteer_id"], activity_id=world["activity_id"],
                                     kind=RecordKind.ATTENDANCE, minutes=150, created_at=now))
        from models import Volunteer

        volunteer = db.session.get(Volunteer, world["volunteer_id"])
        volunteer.total_service_minutes, volunteer.service_record_count = 150, 1
        db.session.commit()
    assert say(client, "我的时长") == "累计服务时长：2小时30分钟（1 次）\n2026 年：2小时30分钟"
    assert say(client, "我的时长", sender="oa_stranger") == bot.NOT_LINKED_TEXT


def test_help_lists_the_commands(client, world):
    assert all(command in say(client, "帮助") for command in ("我的活动", "我的时长", "报名"))
    assert say(client, "随便说点什么") == bot.HELP_TEXT


def test_sign_up_closes_at_the_start(app, client, world, now):
    app.extensions["clock"] = lambda: now + timedelta(days=2)
    assert "不接受报名" in say(client, f"报名 {world['activity_id']}")
