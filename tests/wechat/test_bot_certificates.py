"""The official-account commands 开证明 and 我的证明, through the signed callback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.services import bot
from app.services.certificates import flow
from models import ActivityStatus, Certificate, RecordKind, RecordSource, ServiceRecord
from tests import factories as f
from tests.wechat.test_bot_commands import say
from tests.wechat.test_callbacks import post, text_reply, text_xml


@pytest.fixture
def world(app, now):
    app.extensions["clock"] = lambda: now
    with app.app_context():
        tree = f.region_tree()
        org = f.organization("甲区志愿者协会", tree["district"], now)
        organizer = f.organizer("mp_org", org, now)
        held = f.activity(org, tree["community"], now, title="重阳敬老", starts_in=-timedelta(days=400),
                          status=ActivityStatus.FINISHED)
        volunteer = f.approved_volunteer("mp_alice", tree["community"], now)
        volunteer.account.oa_openid = "oa_alice"
        other = f.approved_volunteer("mp_bob", tree["community"], now)
        other.account.oa_openid = "oa_bob"
        db.session.add(ServiceRecord(volunteer_id=volunteer.id, activity_id=held.id, kind=RecordKind.ATTENDANCE,
                                     source=RecordSource.SCAN, minutes=150, created_at=now))
        world = {"org": org.id, "organizer": organizer.id, "volunteer_id": volunteer.id}
        db.session.commit()
    return world


def certificates(app):
    with app.app_context():
        return [(row.period_start.isoformat(), row.period_end.isoformat(), row.status.value)
                for row in db.session.scalars(select(Certificate).order_by(Certificate.id))]


def test_request_by_message_once_even_when_wechat_retries(app, client, world):
    message = text_xml("开证明", sender="oa_alice", msg_id="7001")
    replies = [text_reply(post(client, "official", message))["Content"] for _ in range(3)]
    assert replies[0].startswith("已申请 2025-10-19 至 2026-11-23 的志愿服务记录证明，共 1 份（甲区志愿者协会）")
    assert replies == [replies[0]] * 3
    assert certificates(app) == [("2025-10-19", "2026-11-23", "requested")]


def test_a_year_and_the_refusals(app, client, world):
    assert say(client, "开证明 2025").startswith("已申请 2025-01-01 至 2025-12-31")
    assert say(client, "开证明 2024").startswith("申请未成功：该期间没有可证明的志愿服务时长")
    assert say(client, "开证明 明年") == bot.REQUEST_CERTIFICATE_USAGE
    assert say(client, "开证明", sender="oa_bob").startswith("申请未成功")
    assert say(client, "开证明", sender="oa_stranger") == bot.NOT_LINKED_TEXT
    assert len(certificates(app)) == 1


def test_my_certificates_lists_status_and_the_verification_link(app, client, world, now):
    assert say(client, "我的证明") == "您还没有志愿服务记录证明。发送【开证明】即可申请。"
    say(client, "开证明 2025")
    assert "甲区志愿者协会 2025-01-01至2025-12-31 待审核" in say(client, "我的证明")
    with app.app_context():
        row = db.session.scalar(select(Certificate))
        flow.review(world["organizer"], row.id, approve=True, reason=None, now=now)
        serial, code = row.serial, row.verification_code
        db.session.commit()
    listed = say(client, "我的证明")
    assert "公示中（公示至 2026年11月30日）" in listed
    assert f"https://volunteer.example.org/v/{serial}?c={code}" in listed
    assert say(client, "我的证明", sender="oa_stranger") == bot.NOT_LINKED_TEXT
    assert "开证明" in say(client, "帮助")
