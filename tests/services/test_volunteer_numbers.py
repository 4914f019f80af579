"""Volunteer numbers: the home region's code and a sequence, given on approval, once, and shown where
an identifier is public (/me, the directory, the volunteer's detail, the spreadsheet)."""

from __future__ import annotations

import io

import openpyxl
import pytest
from sqlalchemy import select

from app.extensions import db
from app.services import regions, signups, volunteer_numbers, volunteers
from models import Notification, RegionLevel, VolunteerNumberSequence, VolunteerStatus
from tests import factories as f


@pytest.fixture
def world(world):
    world.build("tree", "org", "organizer", "admin")
    for name, region in (("p1", "community"), ("p2", "community"), ("p3", "community2")):
        world[name] = f.volunteer(f.account(f"sim_{name}", world.now), world.tree[region], world.now,
                                  real_name="王小明", mobile=f"1391234567{name[-1]}")
    db.session.commit()
    return world


def approve(world, name):
    return volunteers.review(world.organizer, world[name].id, approve=True, reason=None, now=world.now)


def test_numbers_are_the_region_code_and_a_sequence_per_region(world):
    assert approve(world, "p1").volunteer_number == "T300000001"
    assert approve(world, "p2").volunteer_number == "T300000002"
    assert approve(world, "p3").volunteer_number == "T400000001"
    assert {row.prefix: row.last_value for row in db.session.scalars(select(VolunteerNumberSequence))} == {
        "T3": 2, "T4": 1}


def test_the_number_is_given_once_and_kept_through_suspension_and_a_move(world):
    number = approve(world, "p1").volunteer_number
    volunteers.suspend(world.organizer, world.p1.id, reason="多次爽约", now=world.now)
    volunteers.reinstate(world.organizer, world.p1.id, reason="已改正", now=world.now)
    assert volunteer_numbers.assign_number(world.p1) == number
    volunteers.update_own(world.p1.account, {"region_id": world.tree["community2"].id}, now=world.now)
    assert world.p1.volunteer_number == number
    assert db.session.scalar(select(VolunteerNumberSequence.last_value).where(
        VolunteerNumberSequence.prefix == "T3")) == 1


def test_a_rejection_gives_no_number(world):
    rejected = volunteers.review(world.organizer, world.p1.id, approve=False, reason="信息不全", now=world.now)
    assert rejected.volunteer_number is None


def test_the_approval_message_names_the_number(world):
    f.subscribe_credit(world.p1.account, "registration_result", world.now)
    approve(world, "p1")
    text = db.session.scalar(select(Notification.payload).where(Notification.account_id == world.p1.account_id))
    assert "T300000001" in str(text)


def test_a_long_region_code_keeps_its_first_sixteen_characters_and_shares_their_sequence(world):
    street = world.tree["street"]
    long_a = regions.add_region("1" * 20, "甲长码社区", RegionLevel.COMMUNITY, street)
    long_b = regions.add_region("1" * 16 + "9999", "乙长码社区", RegionLevel.COMMUNITY, street)
    first = f.volunteer(f.account("sim_long_a", world.now), long_a, world.now, status=VolunteerStatus.APPROVED)
    second = f.volunteer(f.account("sim_long_b", world.now), long_b, world.now, status=VolunteerStatus.APPROVED)
    assert volunteer_numbers.assign_number(first) == "1" * 16 + "00000001"
    assert volunteer_numbers.assign_number(second) == "1" * 16 + "00000002"
    assert len(first.volunteer_number) == 24


def test_backfill_numbers_approved_volunteers_without_one_in_order_and_is_safe_twice(world, now):
    earlier = f.volunteer(f.account("sim_old_1", now), world.tree["community"], now, status=VolunteerStatus.APPROVED)
    suspended = f.volunteer(f.account("sim_old_2", now), world.tree["community"], now,
                            status=VolunteerStatus.SUSPENDED)
    assert volunteer_numbers.backfill() == 2
    assert (earlier.volunteer_number, suspended.volunteer_number) == ("T300000001", "T300000002")
    assert volunteer_numbers.backfill() == 0
    assert world.p1.volunteer_number is None  # pending: none yet
    assert approve(world, "p1").volunteer_number == "T300000003"


def test_the_cli_backfills_in_batches(app, world, now):
    for index in range(3):
        f.volunteer(f.account(f"sim_cli_{index}", now), world.tree["community"], now, status=VolunteerStatus.APPROVED)
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["volunteers", "number-backfill", "--batch", "2"])
    assert result.exit_code == 0 and "numbered 3 volunteers" in result.output


def test_the_number_is_shown_where_an_identifier_is_public(client, world):
    approve(world, "p1")
    db.session.commit()
    me = client.get("/api/v1/me", headers=f.bearer(world.p1.account)).json
    assert me["volunteer_number"] == "T300000001"
    headers = f.bearer(world.organizer)
    listed = client.get("/api/v1/volunteers?status=approved", headers=headers).json["items"]
    assert [item["volunteer_number"] for item in listed] == ["T300000001"]
    detail = client.get(f"/api/v1/volunteers/{world.p1.id}", headers=headers).json
    assert detail["volunteer_number"] == "T300000001" and detail["id_number"] is None
    sheet = client.get("/api/v1/volunteers/export.xlsx?status=approved", headers=headers)
    rows = list(openpyxl.load_workbook(io.BytesIO(sheet.data)).active.iter_rows(values_only=True))
    assert rows[1][-1] == "志愿者编号" and rows[2][-1] == "T300000001"
    activity = world.add_activity(of_team=False)
    signups.apply(world.p1.account, activity.id, join_waitlist=False, now=world.now)
    db.session.commit()
    [signup] = client.get(f"/api/v1/activities/{activity.id}/signups", headers=headers).json["items"]
    assert signup["volunteer"]["volunteer_number"] == "T300000001"
    [line] = client.get(f"/api/v1/activities/{activity.id}/attendance", headers=headers).json["items"]
    assert line["volunteer"]["volunteer_number"] == "T300000001"


def test_the_review_answer_carries_the_new_number(client, world):
    response = client.post(f"/api/v1/volunteers/{world.p2.id}/review", json={"decision": "approve"},
                           headers=f.bearer(world.admin))
    assert response.status_code == 200 and response.json["volunteer_number"] == "T300000001"


def test_the_bots_my_info_shows_the_number(world):
    from app.services import bot
    from app.wechat.callbacks import InboundMessage

    approve(world, "p1")
    world.p1.account.oa_openid = "oa_p1"
    db.session.flush()
    reply = bot.reply_to(InboundMessage(msg_type="text", from_user="oa_p1", to_user="gh_sim", create_time=0,
                                        content="我的信息"), now=world.now)
    assert "志愿者编号：T300000001" in reply and "身份证" not in reply
