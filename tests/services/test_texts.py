"""Texts people read: one formatter for dates and hours, and every notification and bot reply reads well.

The second half enumerates every kind of notification the services write and every bot reply, with
long inputs, and checks each for doubled words ("报名报名成功"), for the volunteer addressed as 您,
for organisers called 组织者, and for every subscribe-message field fitting WeChat's rules.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest

from app import checkin_codes
from app.errors import DomainError
from app.extensions import db
from app.services import (activities, bot, calendar, campaigns, checkins, notifications, official_qr, reminders,
                          service_records, signups, trainings, transfers, volunteers)
from app.services.message_fields import THING_MAX, fit, fit_fields
from app.texts import clock_text, day_text, hours_text, moment_text
from app.timeutil import to_local
from app.wechat.callbacks import InboundMessage
from app.wechat.simulator import fields as wechat_rules
from app.services import quarterly_reports
from app.services.bulletins import freeze as bulletin_freeze
from app.services import uploads
from app.services.certificates import flow as certificates
from app.services.recording import declarations, retroactive
from app.services.points import ledger
from app.services.rewards import catalogue as reward_catalogue, redemptions as reward_redemptions
from app.services.stars import flow as star_flow
from models import (Bulletin, BulletinStatus, Campaign, RecordKind, RecordSource, ServiceRecord, Signup, SignupMode,
                    SignupStatus, StarOrigin, TeamKind, TransferKind, UploadPurpose, VolunteerStatus)
from tests import factories as f
from tests.recording_world import jpeg

# --- the formatters --------------------------------------------------------------------------------


def test_dates_read_as_people_write_them():
    new_year = datetime(2026, 12, 31, 16, 5, tzinfo=timezone.utc)  # 2027-01-01 00:05 in Shanghai
    assert day_text(date(2027, 1, 1)) == "1月1日" and day_text(new_year) == "1月1日"
    assert day_text(date(2027, 1, 1), with_year=True) == "2027年1月1日"
    assert moment_text(new_year) == "1月1日 00:05" and clock_text(new_year) == "00:05"
    assert moment_text(new_year, with_year=True) == "2027年1月1日 00:05"


def test_hours_are_exact_to_the_minute():
    assert [hours_text(m) for m in (0, 5, 60, 100, 150, -3)] == ["0分钟", "5分钟", "1小时", "1小时40分钟",
                                                                 "2小时30分钟", "0分钟"]


@pytest.mark.parametrize("text, limit", [
    ("2026 Spring Volunteer Training Day for Everyone", 20),
    ("关爱留守儿童 Summer Camp 2026 第二期报名", 20),
    ("重阳节敬老活动，为社区空巢老人送温暖并陪伴聊天读报", 20),
    ("Volunteers123456789012345", 10),
])
def test_fitted_text_is_never_cut_mid_word(text, limit):
    fitted = fit(text, limit)
    assert len(fitted) <= limit and fitted.endswith("…")
    kept = fitted[:-1]
    assert text.startswith(kept)
    following = text[len(kept)]
    # A Latin word or number is never split (unless a single word fills the whole field).
    if re.fullmatch(r"[0-9A-Za-z]+", text[:limit]) is None:
        assert not (re.match(r"[0-9A-Za-z]", kept[-1]) and re.match(r"[0-9A-Za-z]", following))


def test_fitted_text_prefers_a_break_near_the_end():
    assert fit("社区义诊、健康讲座和爱心理发进小区志愿服务", 12) == "社区义诊、健康讲座和爱…"  # no break near: cut
    assert fit("邻里守望，关爱空巢老人和留守儿童活动", 10) == "邻里守望…"


# --- every message a person reads ------------------------------------------------------------------

_DOUBLED = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff]{2,})\1")
# What the captain's screen says about the person scanned; never said to the volunteer.
_THIRD_PERSON = ("该志愿者", "请志愿者")
LONG_TITLE = "重阳节敬老爱老助老志愿服务暨邻里守望互助活动（第二期）Volunteer Day 2026"
LONG_ADDRESS = "一社区党群服务中心三楼多功能活动室（解放碑步行街88号旁）"
LONG_REASON = "因天气原因场地无法使用，活动延期举行，具体时间另行通知，敬请谅解"


def doubled(text: str) -> list[str]:
    return [match.group(0) for match in _DOUBLED.finditer(text)]


@pytest.fixture
def captured(monkeypatch):
    """Every Message written through the outbox writers (one recipient, or many at once)."""
    messages: list[notifications.Message] = []
    original, original_many = notifications.notify, notifications.notify_many

    def capture(account_id, key, message, **kwargs):
        messages.append(message)
        return original(account_id, key, message, **kwargs)

    def capture_many(recipients, message, **kwargs):
        messages.append(message)
        return original_many(recipients, message, **kwargs)

    monkeypatch.setattr(notifications, "notify", capture)
    monkeypatch.setattr(notifications, "notify_many", capture_many)
    return messages


@pytest.fixture
def world(world):
    world.build("tree", "org")
    world["team"] = f.team(world.org, "甲区卫生健康志愿服务医疗专业队伍", world.now, kind=TeamKind.EDUCATION)
    world.build("organizer")
    world["street_admin"] = f.admin("sim_street_admin", world.tree["street"], world.now)
    world["district_admin"] = f.admin("sim_district_admin", world.tree["district"], world.now)
    return world


def volunteer(world, name, now, **fields):
    row = f.approved_volunteer(f"sim_{name}", world["tree"]["community"], now, **fields)
    row.account.oa_openid = f"oa_{name}"
    db.session.flush()
    return row


def make_every_notification(world, now) -> None:
    org, tree, organizer = world["org"], world["tree"], world["organizer"]
    # Registration decisions.
    for name, approve in (("pending_a", True), ("pending_b", False)):
        row = f.volunteer(f.account(f"sim_{name}", now), tree["community"], now, real_name="欧阳志愿者",
                          status=VolunteerStatus.PENDING)
        volunteers.review(organizer, row.id, approve=approve, reason=None if approve else LONG_REASON, now=now)
    # Sign-ups: open mode, waitlist promotion, approval mode approved and rejected.
    open_one = f.activity(org, tree["community"], now, title=LONG_TITLE, address=LONG_ADDRESS, capacity=1)
    alice, bob, carol, dave = (volunteer(world, name, now) for name in ("alice", "bob", "carol", "dave"))
    signups.apply(alice.account, open_one.id, join_waitlist=False, now=now)
    signups.apply(bob.account, open_one.id, join_waitlist=True, now=now)
    signups.cancel(alice.account, open_one.id, now=now)
    approval = f.activity(org, tree["community"], now, title=LONG_TITLE, address=LONG_ADDRESS,
                          signup_mode=SignupMode.APPROVAL, starts_in=timedelta(days=2))
    for person, approve in ((carol, True), (dave, False)):
        signup, _ = signups.apply(person.account, approval.id, join_waitlist=False, now=now)
        signups.decide(organizer, signup.id, approve=approve, reason=None if approve else LONG_REASON, now=now)
    # An activity's new time, and a cancellation.
    later = open_one.starts_at + timedelta(days=1)
    activities.update(organizer, open_one.id, {"starts_at": later, "ends_at": later + timedelta(hours=3)}, now=now)
    activities.cancel(organizer, approval.id, reason="活动取消：" + LONG_REASON, now=now)
    # Campaign planning, including the longest festival name (学雷锋纪念日·中国青年志愿者服务日).
    campaigns.make_drafts(now=now, days_ahead=30)
    campaigns.make_drafts(now=datetime(2027, 2, 20, 2, 0, tzinfo=timezone.utc), days_ahead=30)
    # Reminders, thanks and a campaign invitation (their builders, with the longest inputs).
    campaign = db.session.query(Campaign).filter(Campaign.festival_key == "lei_feng_day").first()
    for message in (reminders._day_before_message(open_one), reminders._hours_before_message(open_one, 2),
                    reminders._thanks_message(open_one, 185, 12345), reminders._invitation_message(open_one, campaign),
                    reminders._invitation_message(open_one, None)):
        notifications.notify(bob.account.id, f"texts:{message.kind}:{len(message.text)}", message, now=now)
    # Training reminders (a team and a street) and the admins' quarterly summary.
    quarter = trainings.Quarter(2027, 1)
    trainings.remind(now=trainings.local_midnight(quarter.first_day) + timedelta(hours=9),
                     stage=trainings.QUARTER_START)
    trainings.remind(now=trainings.local_midnight(quarter.before_end_day()) + timedelta(hours=9),
                     stage=trainings.BEFORE_END)
    trainings.tell_admins(quarter, now=now)
    # Correction requests: the organisers hear of each, the volunteer of the decision either way.
    held = f.activity(org, tree["community"], now, title=LONG_TITLE, address=LONG_ADDRESS,
                      starts_in=timedelta(hours=-4))
    for person, approve in ((carol, True), (dave, False)):
        db.session.add(Signup(activity_id=held.id, volunteer_id=person.id, status=SignupStatus.APPROVED,
                              created_at=now, updated_at=now))
        db.session.flush()
        request = service_records.request_correction(person.account, held.id, requested_minutes=95,
                                                     reason=LONG_REASON, now=now)
        service_records.decide_correction(organizer, request.id, approve=approve,
                                          reason=None if approve else LONG_REASON, now=now)
    # A suspension and its reinstatement, with the longest reason.
    volunteers.suspend(organizer, dave.id, reason=LONG_REASON, now=now)
    volunteers.reinstate(organizer, dave.id, reason=LONG_REASON, now=now + timedelta(minutes=1))
    # A frozen bulletin told to the district's admins and the organisers below it.
    bulletin = Bulletin(region_id=tree["district"].id, month="2026-10", status=BulletinStatus.FROZEN,
                        content={"title": "甲区2026年10月志愿服务月月通报", "summary": LONG_REASON * 3},
                        frozen_at=now, created_at=now)
    db.session.add(bulletin)
    db.session.flush()
    bulletin_freeze.tell(bulletin, now=now)
    # Quarterly-report reminders from the 15th of the quarter's last month: the street is red on its
    # indicators and has not reported.
    quarterly_reports.remind(now=datetime(2026, 12, 16, 1, 15, tzinfo=timezone.utc))
    # Moves to another community: the receiving side hears of each, the volunteer of the decision, the
    # releasing side of an approved one.
    for person, approve in ((alice, True), (bob, False)):
        row = transfers.apply(person.account, kind=TransferKind.COMMUNITY, organization_id=None, team_id=None,
                              from_organization_id=None, region_id=tree["community2"].id, reason=LONG_REASON,
                              now=now)
        transfers.decide(world["street_admin"], row.id, approve=approve, reason=None if approve else LONG_REASON,
                         team_id=None, now=now)
    # Declared time confirmed and refused (to the volunteer); a 补录 approved and refused (to its author).
    declared = f.activity(org, tree["community"], now, title=LONG_TITLE, address=LONG_ADDRESS,
                          starts_in=timedelta(hours=-6))
    for person, confirm in ((carol, True), (dave, False)):
        db.session.add(Signup(activity_id=declared.id, volunteer_id=person.id, status=SignupStatus.APPROVED,
                              created_at=now, updated_at=now))
        db.session.flush()
        made = declarations.declare(person.account, declared.id, started_at=declared.starts_at,
                                    ended_at=declared.ends_at, note=LONG_REASON, photos=[], now=now)
        declarations.decide(organizer, made.id, confirm=confirm, reason=None if confirm else LONG_REASON + "。", now=now)
    approver = f.admin("sim_texts_city_admin", tree["city"], now)
    for days_ago, approve in ((3, True), (5, False)):
        evidence = uploads.store(organizer.id, UploadPurpose.EVIDENCE, jpeg(), content_type="image/jpeg", now=now)
        began = now - timedelta(days=days_ago)
        entry = retroactive.enter(organizer, org.id, retroactive.Held(
            title=LONG_TITLE, place=LONG_ADDRESS, beneficiary="社区空巢老人", content=LONG_REASON, starts_at=began,
            ends_at=began + timedelta(hours=2)), [retroactive.Attendee(alice.id)], [evidence.token], now=now)
        retroactive.decide(approver, entry.id, approve=approve,
                           reason=None if approve else LONG_REASON, now=now)
    # A certificate's steps, to its holder: publicity, issue, revocation; a second one refused.
    period = (to_local(now).date() - timedelta(days=30), to_local(now).date())
    first = certificates.request(carol.account, *period, note=None, now=now)[0]
    certificates.review(organizer.id, first.id, approve=True, reason=None, now=now)
    certificates.issue(first.id, now=first.publicity_ends_at)
    certificates.revoke(organizer.id, first.id, reason=LONG_REASON + "。", now=first.publicity_ends_at)
    second = certificates.request(carol.account, *period, note=None, now=now)[0]
    certificates.review(organizer.id, second.id, approve=False, reason=LONG_REASON, now=now)
    # Stars: one awarded and then revoked, one refused at review, each with the longest reason.
    for person, approve in ((carol, True), (dave, False)):
        db.session.add(ServiceRecord(volunteer_id=person.id, activity_id=held.id, kind=RecordKind.CORRECTION,
                                     source=RecordSource.MANUAL, minutes=120 * 60, created_at=now))
        db.session.flush()
        application, _ = star_flow.open_application(person, 1, origin=StarOrigin.JOB, now=now)
        star_flow.review(world["street_admin"].id, application.id, approve=approve,
                         reason=None if approve else LONG_REASON, now=now)
        if approve:
            star_flow.award(application.id, now=application.publicity_ends_at)
            star_flow.revoke(world["street_admin"].id, application.id, reason=LONG_REASON,
                             now=application.publicity_ends_at)
    # Rewards: a hold with its code, place and deadline, then handed over; another hold that expires.
    reward = reward_catalogue.publish(organizer.id, org.id, {
        "kind": "goods", "title": LONG_TITLE, "points_price": 30, "stock": 5, "valid_from": now - timedelta(days=1),
        "valid_until": now + timedelta(days=30), "pickup_place": LONG_ADDRESS}, now=now)
    for person, hand_over in ((carol, True), (dave, False)):
        ledger.earn(f"texts-earn-{person.id}", reward.region_id, person.id, 100, None, now)
        held = reward_redemptions.redeem(person.account, reward.id, now=now)
        if hand_over:
            reward_redemptions.fulfil(organizer.id, org.id, now=now, code=held.pickup_code)
        else:
            reward_redemptions.expire(held.id, now=held.hold_expires_at)


def test_every_notification_reads_well_and_fits_its_fields(world, now, captured):
    make_every_notification(world, now)
    kinds = {message.kind for message in captured}
    # Every kind but announcements, whose text the organiser writes (and the content check vets).
    assert kinds == set(notifications.NotificationKind) - {notifications.NotificationKind.ANNOUNCEMENT}
    for message in captured:
        for text in (message.title, message.text):
            assert not doubled(text) and "。。" not in text, (message.kind, text)
            assert not any(word in text for word in _THIRD_PERSON), (message.kind, text)
            assert "组织管理员" not in text and not re.search(r"(?<!\d)0\d月|月0\d日", text), (message.kind, text)
        data = fit_fields(message.fields)
        assert wechat_rules.check_data({key: {"value": value} for key, value in data.items()}) is None, data
        for value in data.values():
            assert not doubled(value), (message.kind, value)
        # The title is what the official account's notice shows in its `thing`: fitted, never mid-word.
        shown = fit(message.title, THING_MAX)
        assert shown == message.title or shown.endswith("…"), (message.kind, shown)
    titles = {message.title for message in captured if message.kind == "signup_result"}
    assert titles == {"报名成功", "报名已通过", "报名未通过", "报名候补成功"}
    steps = [message for message in captured if message.kind == "certificate_progress"]
    assert [message.title for message in steps] == ["志愿服务记录证明公示中", "志愿服务记录证明已出具",
                                                    "志愿服务记录证明已撤销", "志愿服务记录证明未通过"]
    assert "/v/ZM" in steps[1].text and "?c=" in steps[1].text
    redeemed = [message.title for message in captured if message.kind == "redemption_progress"]
    assert redeemed == ["积分兑换待领取", "兑换成功", "积分兑换待领取", "积分兑换已过期"]
    decided = {message.title for message in captured if message.kind in ("declaration_result", "retroactive_result")}
    assert decided == {"时长申报已确认", "时长申报未确认", "补录审批已通过", "补录审批未通过"}
    changed = {message.kind: message for message in captured if message.kind.startswith("activity_")}
    assert changed["activity_cancelled"].title == "活动已取消"
    assert changed["activity_time_changed"].title == "活动时间调整"


# --- every bot reply ---------------------------------------------------------------------------------

def say(content: str | None, now: datetime, *, sender: str = "oa_alice", msg_type: str = "text",
        event: str | None = None, scene: str | None = None) -> str | None:
    message = InboundMessage(msg_type=msg_type, from_user=sender, to_user="gh_sim_official",
                             create_time=int(now.timestamp()), event=event, msg_id="1" if msg_type != "event" else None,
                             content=content, scene=scene)
    return bot.reply_to(message, now=now)


def test_every_bot_reply_reads_well(world, now):
    org, tree = world["org"], world["tree"]
    alice = volunteer(world, "alice", now, real_name="欧阳娜娜")
    volunteer(world, "bob", now)
    soon = f.activity(org, tree["community"], now, title=LONG_TITLE, address=LONG_ADDRESS, capacity=1)
    approval = f.activity(org, tree["community"], now, title=LONG_TITLE, signup_mode=SignupMode.APPROVAL,
                          starts_in=timedelta(days=3))
    young = f.activity(org, tree["community"], now, title=LONG_TITLE, min_age=70, starts_in=timedelta(days=4))
    replies = [say(text, now) for text in ("帮助", "我的信息", "我的活动", "我的时长", f"报名 {soon.id}",
                                           f"报名 {soon.id}", f"报名 {approval.id}", f"报名 {young.id}", "报名 abc",
                                           "报名 999999", "你好", "我的活动")]
    replies += [say(f"报名 {soon.id}", now, sender="oa_bob"), say(None, now, msg_type="image"),
                say("我的信息", now, sender="oa_stranger"),
                say(None, now, msg_type="event", event="subscribe"),
                say(None, now, msg_type="event", event="subscribe", scene="org_1")]
    # Checked in and out through the official-account QR: the chat answers, then 我的活动 tells the state.
    rules = checkins.Rules(opens_minutes_before_start=60, checkout_grace_minutes=120, min_minutes_before_checkout=5)
    scene = official_qr.scene(soon.id, to_local(soon.starts_at).date())
    replies.append(official_qr.scan("oa_alice", scene, rules=rules, now=soon.starts_at))
    checked_in = say("我的活动", soon.starts_at + timedelta(minutes=1))
    replies += [checked_in, official_qr.scan("oa_alice", scene, rules=rules, now=soon.starts_at + timedelta(minutes=2))]
    replies.append(official_qr.scan("oa_alice", scene, rules=rules, now=soon.starts_at + timedelta(minutes=95)))
    checked_out = say("我的活动", soon.starts_at + timedelta(minutes=96))
    replies += [checked_out, official_qr.scan("oa_alice", scene, rules=rules,
                                                now=soon.starts_at + timedelta(minutes=97)),
                official_qr.scan("oa_bob", scene, rules=rules, now=soon.starts_at + timedelta(minutes=3))]
    db.session.expire_all()  # the totals moved by relative UPDATEs, as in a new request
    replies.append(say("我的时长", soon.starts_at + timedelta(minutes=98)))
    for reply in replies:
        assert reply, replies
        assert not doubled(reply), reply
        assert not any(word in reply for word in _THIRD_PERSON), reply
        assert not re.search(r"\d{2}-\d{2} \d{2}:\d{2}|\d+\.\d 小时", reply), reply
    assert "已签到（" in checked_in and f"{day_text(soon.starts_at)}" in checked_in
    assert "已签退（" in checked_out and "已签到" not in checked_out
    assert any("等待组织者审核" in reply for reply in replies)
    assert replies[-1] == "累计服务时长：1小时35分钟（1 次）\n2026 年：1小时35分钟"


def test_a_self_scan_refusal_addresses_the_volunteer(world, now):
    secret = "test-secret-key-for-display-codes"
    soon = f.activity(world["org"], world["tree"]["community"], now, title=LONG_TITLE)
    stranger = volunteer(world, "erin", now)
    rules = checkins.Rules(opens_minutes_before_start=60, checkout_grace_minutes=120, min_minutes_before_checkout=5)
    with pytest.raises(DomainError) as caught:
        checkins.self_scan(stranger.account.id, soon.id, code=checkin_codes.activity_code(soon.id, secret, soon.starts_at),
                           nonce="n1", rules=rules, now=soon.starts_at, secret_key=secret)
    assert (caught.value.code, caught.value.message) == ("not_signed_up", "您未报名本活动")


def test_local_festival_names_reach_the_planning_message_whole_or_fitted(world, now, captured):
    calendar.add_local_day(world["district_admin"].id, region_id=world["tree"]["district"].id,
                           name="甲区社区邻里守望互助志愿服务宣传月启动日", month=12, day=1, year=None,
                           theme="邻里守望互助", lead="区文明办", now=now)
    campaigns.make_drafts(now=now, days_ahead=30)
    planning = [message for message in captured if message.kind == "campaign_planning"]
    assert planning and all(not doubled(message.text) for message in planning)
    assert any("12月1日是甲区社区邻里守望互助志愿服务宣传月启动日" in message.text for message in planning)
