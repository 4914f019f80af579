"""The official-account commands 我的星级 and 我的积分, through the signed callback."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from app.services.points import ledger
from app.services.stars import flow as star_flow
from models import ActivityStatus, RecordKind, RecordSource, ServiceRecord, StarOrigin, Volunteer
from tests import factories as f
from tests.wechat.test_bot_commands import say


@pytest.fixture
def world(app, now):
    app.extensions["clock"] = lambda: now
    with app.app_context():
        tree = f.region_tree()
        org = f.organization("甲区志愿者协会", tree["district"], now)
        held = f.activity(org, tree["community"], now, title="重阳敬老", starts_in=-timedelta(days=40),
                          status=ActivityStatus.FINISHED)
        volunteer = f.approved_volunteer("mp_alice", tree["community"], now)
        volunteer.account.oa_openid = "oa_alice"
        volunteer.created_at = now - timedelta(days=400)
        street_admin = f.admin("mp_street_admin", tree["street"], now)
        db.session.commit()
        return {"volunteer_id": volunteer.id, "activity_id": held.id, "street_admin": street_admin.id,
                "region_id": tree["community"].id, "organization_id": org.id}


def serve(app, world, now, minutes, source=RecordSource.SCAN):
    with app.app_context():
        db.session.add(ServiceRecord(volunteer_id=world["volunteer_id"], activity_id=world["activity_id"],
                                     kind=RecordKind.ATTENDANCE, source=source, minutes=minutes, created_at=now))
        db.session.commit()


def test_my_star_says_what_the_next_one_needs_then_follows_the_application(app, client, world, now):
    serve(app, world, now, 90 * 60 + 30)
    assert say(client, "我的星级") == ("您还没有评上星级。\n计入星级评定的服务时长：90小时30分钟\n"
                                   "评1星级志愿者需 100 小时，还差 9小时30分钟。")
    serve(app, world, now, 10 * 60)
    assert say(client, "我的星级").endswith("时长已够1星级志愿者，平台每天评定一次，也可在小程序中申请。")
    with app.app_context():
        application, _ = star_flow.open_application(db.session.get(Volunteer, world["volunteer_id"]), 1,
                                                    origin=StarOrigin.JOB, now=now)
        db.session.commit()
        application_id = application.id
    assert say(client, "我的星级").endswith("您的1星级志愿者申请审核中。")
    with app.app_context():
        row = star_flow.review(world["street_admin"], application_id, approve=True, reason=None, now=now)
        ends = row.publicity_ends_at
        db.session.commit()
    assert "申请公示中，公示至 " in say(client, "我的星级")
    with app.app_context():
        star_flow.award(application_id, now=ends)
        db.session.commit()
    assert say(client, "我的星级") == ("您是1星级志愿者。\n计入星级评定的服务时长：100小时30分钟\n"
                                   "评2星级志愿者需 300 小时，还差 199小时30分钟。")


def test_my_points_lists_the_balance_and_the_latest_lines(app, client, world, now):
    assert say(client, "我的积分") == "您还没有积分。参加志愿服务、记录时长后即可获得积分。"
    with app.app_context():
        ledger.earn("earn:test:1", world["region_id"], world["volunteer_id"], 30, "service_record:1", now)
        ledger.earn("earn:test:2", world["region_id"], world["volunteer_id"], 12, "service_record:2",
                    now + timedelta(days=1))
        hold = ledger.hold("hold:test:1", world["region_id"], world["volunteer_id"], 20, "redemption:1",
                           now + timedelta(days=2), now + timedelta(days=5))
        ledger.void("void:test:1", hold.id, now + timedelta(days=2))
        db.session.commit()
    reply = say(client, "我的积分").split("\n")
    assert reply[:2] == ["积分余额：42", "最近记录："]
    assert reply[2:] == ["11月25日 兑换取消 +20（余 42）", "11月25日 兑换冻结 -20（余 22）",
                         "11月24日 服务积分 +12（余 42）", "11月23日 服务积分 +30（余 30）"]
    assert say(client, "我的积分", sender="oa_stranger").startswith("暂未找到您的志愿者信息")
    assert say(client, "我的星级", sender="oa_stranger").startswith("暂未找到您的志愿者信息")


def test_my_points_shows_a_bonus_with_its_reason(app, client, world, now):
    with app.app_context():
        issuance = ledger.account("issuance", world["region_id"], now)
        pool = ledger.account("org_pool", world["organization_id"], now)
        ledger.transfer("fund:test:1", issuance.id, pool.id, 100, "fund", "organization:1", now)
        ledger.bonus("bonus:test:1", world["organization_id"], world["volunteer_id"], 20,
                     f"activity:{world['activity_id']}", now, memo="暴雨夜坚守岗位")
        db.session.commit()
    assert say(client, "我的积分").split("\n") == ["积分余额：20", "最近记录：", "11月23日 组织奖励「暴雨夜坚守岗位」 +20（余 20）"]
