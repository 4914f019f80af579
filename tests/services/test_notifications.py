"""Writing messages: one row per (what, whom), the channel chosen once, every message in the inbox."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.services import notifications, subscriptions
from app.services.message_fields import fit, fit_fields, fit_value
from app.wechat.simulator import fields as wechat_rules
from models import Notification, NotificationChannel, NotificationStatus, OfficialFollower
from tests import factories as f

MESSAGE = notifications.Message(kind="signup_result", template="signup_result", title="报名成功",
                                text="您报名的活动「社区清洁」：报名成功。",
                                fields={"thing1": "社区清洁", "phrase2": "报名成功", "thing4": "请准时参加"},
                                page="pages/activity/index?id=1")


@pytest.fixture
def person(app_context, now):
    return f.account("sim_person", now)


def follow_official_account(owner, now) -> None:
    owner.oa_openid = f"oa_{owner.mp_openid}"
    db.session.add(OfficialFollower(openid=owner.oa_openid, is_subscribed=True, subscribed_at=now))
    db.session.flush()


def credits_left(owner) -> int:
    return subscriptions.credits(owner.id).get("sim_tmpl_signup_result", 0)


def test_a_credit_makes_it_a_subscribe_message_and_is_spent(person, now):
    f.subscribe_credit(person, "signup_result", now, count=2)
    row = notifications.notify(person.id, "s1", MESSAGE, now=now)
    assert row.channel is NotificationChannel.MINIPROGRAM_SUBSCRIBE and row.status is NotificationStatus.PENDING
    assert row.payload["template_id"] == "sim_tmpl_signup_result"
    assert row.payload["data"] == {"thing1": "社区清洁", "phrase2": "报名成功", "thing4": "请准时参加"}
    assert credits_left(person) == 1


def test_without_credit_a_follower_gets_the_official_account_template(person, now):
    follow_official_account(person, now)
    row = notifications.notify(person.id, "s1", MESSAGE, now=now)
    assert row.channel is NotificationChannel.OFFICIAL_TEMPLATE
    assert row.payload["template_id"] == "sim_oa_tmpl_notice"
    assert row.payload["miniprogram"] == {"appid": "wx_sim_miniprogram_01", "pagepath": "pages/activity/index?id=1"}
    assert wechat_rules.check_data({k: {"value": v} for k, v in row.payload["data"].items()}) is None


def test_an_unfollowed_account_does_not_count_as_a_follower(person, now):
    follow_official_account(person, now)
    db.session.scalar(select(OfficialFollower)).is_subscribed = False
    assert notifications.notify(person.id, "s1", MESSAGE, now=now).channel is NotificationChannel.INBOX


def test_without_any_channel_the_message_is_in_the_inbox_only(person, now):
    row = notifications.notify(person.id, "s1", MESSAGE, now=now)
    assert row.channel is NotificationChannel.INBOX and row.status is NotificationStatus.SKIPPED
    assert [m.id for m in notifications.inbox(person.id)] == [row.id]


def test_a_repeated_key_adds_nothing_and_spends_no_second_credit(person, now):
    f.subscribe_credit(person, "signup_result", now, count=2)
    assert notifications.notify(person.id, "same", MESSAGE, now=now) is not None
    assert notifications.notify(person.id, "same", MESSAGE, now=now + timedelta(minutes=1)) is None
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 1
    assert credits_left(person) == 1


def test_inbox_pages_newest_first_and_marks_only_own_messages_read(person, now):
    other = f.account("sim_other", now)
    mine = [notifications.notify(person.id, f"p{i}", MESSAGE, now=now + timedelta(minutes=i)).id for i in range(3)]
    theirs = notifications.notify(other.id, "o0", MESSAGE, now=now).id
    assert [m.id for m in notifications.inbox(person.id, limit=2)] == [mine[2], mine[1]]
    assert [m.id for m in notifications.inbox(person.id, before_id=mine[1])] == [mine[0]]
    assert notifications.mark_read(person.id, [mine[0], theirs], now=now) == 1
    assert notifications.unread_count(person.id) == 2 and notifications.unread_count(other.id) == 1


def test_withdrawn_reminders_leave_the_inbox(person, now):
    tree = f.region_tree()
    activity = f.activity(f.organization("甲区协会", tree["district"], now), tree["community"], now)
    reminder = notifications.Message(kind="reminder_day_before", template="activity_reminder", title="活动提醒",
                                     text="明天有活动")
    f.subscribe_credit(person, "activity_reminder", now)
    pending = notifications.notify(person.id, "r1", reminder, now=now, activity_id=activity.id)
    other_kind = notifications.notify(person.id, "s1", MESSAGE, now=now, activity_id=activity.id)
    assert notifications.withdraw_pending(activity.id, ("reminder_day_before",)) == 1
    db.session.expire_all()
    assert pending.status is NotificationStatus.WITHDRAWN
    assert [m.id for m in notifications.inbox(person.id)] == [other_kind.id]


# --- field values ------------------------------------------------------------------------------------

def test_fit_truncates_with_an_ellipsis():
    assert fit("短", 20) == "短"
    cut = fit("这是一段非常非常非常非常非常非常长的原因说明文字", 20)
    assert len(cut) == 20 and cut.endswith("…")


def test_values_are_made_valid_for_their_type():
    moment = datetime(2026, 2, 16, 16, 30, tzinfo=timezone.utc)  # 00:30 on the 17th in Shanghai
    assert fit_value("time3", moment) == "2026年2月17日 00:30"
    assert fit_value("date2", moment) == "2026年2月17日"
    assert wechat_rules.check_data({"time3": {"value": fit_value("time3", moment)},
                                    "date2": {"value": fit_value("date2", moment)}}) is None
    assert fit_value("phrase2", "OK 报名成功啦!") == "报名成功啦"
    assert fit_value("phrase2", "OK") == "通知"
    assert fit_value("thing1", "") == "无"
    assert fit_value("name1", "欧阳娜娜娜娜娜娜娜娜娜") == "欧阳娜娜娜娜娜娜娜娜"
    assert fit_value("name1", "Li 2 Lei") == "Li  Lei"


@pytest.mark.parametrize("value", ["", " ", "短", "x" * 50, "志" * 30, "报名 成功 OK!", "2026-13-45 99:99", "😀" * 25,
                                   "line\nbreak\ttab", "<script>", "12345678901234567890123456789012345"])
def test_fitted_values_always_pass_wechat_rules(value):
    data = fit_fields({"thing1": value, "phrase2": value, "name3": value, "character_string4": value})
    assert wechat_rules.check_data({key: {"value": v} for key, v in data.items()}) is None


# --- the one writer --------------------------------------------------------------------------------

def test_a_message_kind_must_be_a_known_kind():
    assert MESSAGE.kind is notifications.NotificationKind.SIGNUP_RESULT
    with pytest.raises(ValueError):
        notifications.Message(kind="made_up", template="signup_result", title="x", text="x")


def test_the_key_builder_gives_the_same_key_in_python_and_in_sql(app_context):
    from sqlalchemy import Integer, literal

    kind = notifications.NotificationKind.CAMPAIGN_INVITATION
    assert notifications.idempotency_key(kind, ("a", 7), 1700000000, ("v", 12)) == "campaign_invitation:a7:1700000000:v12"
    sql = notifications.idempotency_key(kind, ("a", literal(7, Integer)), 1700000000, ("v", literal(12, Integer)))
    assert db.session.scalar(select(sql)) == "campaign_invitation:a7:1700000000:v12"
    assert notifications.idempotency_key("signup_result", "s1") == "signup_result:s1"


def test_notify_many_chooses_channels_like_notify_and_a_repeat_writes_and_spends_nothing(app_context, now):
    credit, follower, neither = (f.account(name, now) for name in ("sim_m1", "sim_m2", "sim_m3"))
    f.subscribe_credit(credit, "signup_result", now, count=2)
    follow_official_account(follower, now)
    people = [(owner.id, [("a", owner.id)]) for owner in (credit, follower, neither)]
    assert notifications.notify_many(people, MESSAGE, now=now) == (3, 1)
    assert notifications.notify_many(people, MESSAGE, now=now) == (0, 0)
    rows = {row.account_id: row for row in db.session.scalars(select(Notification))}
    assert rows[credit.id].channel is NotificationChannel.MINIPROGRAM_SUBSCRIBE
    assert rows[follower.id].channel is NotificationChannel.OFFICIAL_TEMPLATE
    assert rows[neither.id].status is NotificationStatus.SKIPPED
    assert rows[credit.id].idempotency_key == f"signup_result:a{credit.id}"
    assert credits_left(credit) == 1
    # A single notify with the same key is the same message: nothing more.
    assert notifications.notify(credit.id, [("a", credit.id)], MESSAGE, now=now) is None
    assert credits_left(credit) == 1


def test_only_the_writer_writes_outbox_rows_or_spells_keys():
    """No module but app/services/notifications.py builds a Notification, inserts into its table or spells a key."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    writer = root / "app" / "services" / "notifications.py"
    found = []
    for path in sorted([*root.joinpath("app").rglob("*.py"), *root.joinpath("jobs").rglob("*.py")]):
        if path == writer:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(root)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                args = [ast.unparse(arg) for arg in node.args]
                if name == "Notification" or (args[:1] == ["Notification"] and name.split(".")[-1] in (
                        "insert", "upsert_insert", "insert_unless_present")):
                    found.append(f"{where}: {ast.unparse(node)[:80]}")
                # The points ledger's transfers have a key of their own (the caller's), not an outbox key.
                if name != "PointsTransfer" and any(keyword.arg == "idempotency_key" for keyword in node.keywords):
                    found.append(f"{where}: idempotency_key= …")
            if isinstance(node, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "idempotency_key"
                                                  for k in node.keys):
                found.append(f"{where}: {{'idempotency_key': …}}")
    assert not found, "outbox rows written outside app/services/notifications.py:\n" + "\n".join(found)
