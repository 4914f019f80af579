"""The subscribe-credit ledger: one credit per accept tap, however many times the tap is reported."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.services import subscriptions
from app.wechat.simulator import sign_query, subscribe_msg_change_event, subscribe_msg_popup_event, subscribe_msg_sent_event
from models import Notification, NotificationChannel, NotificationStatus
from tests import factories as f

TEMPLATE = "sim_tmpl_announcement"


@pytest.fixture
def person(app_context, now):
    owner = f.account("sim_tapper", now)
    db.session.commit()
    return owner


def tap(owner, source: str, report: str, at, now) -> bool:
    return subscriptions.grant(owner.id, TEMPLATE, source=source, dedup_key=f"{source}:{report}", granted_at=at, now=now)


def left(owner) -> int:
    return subscriptions.credits(owner.id).get(TEMPLATE, 0)


def test_one_tap_reported_by_app_and_event_is_one_credit(person, now):
    assert tap(person, "app", "r1", now, now) is True
    assert tap(person, "event", "e1", now - timedelta(seconds=3), now) is False
    assert left(person) == 1


def test_the_event_may_come_first(person, now):
    assert tap(person, "event", "e1", now, now) is True
    assert tap(person, "app", "r1", now + timedelta(seconds=5), now) is False
    assert left(person) == 1


def test_two_taps_reported_by_both_sources_are_two_credits(person, now):
    tap(person, "app", "r1", now, now)
    tap(person, "app", "r2", now + timedelta(seconds=20), now)
    tap(person, "event", "e1", now + timedelta(seconds=1), now)
    tap(person, "event", "e2", now + timedelta(seconds=21), now)
    assert left(person) == 2


def test_a_repeated_report_adds_nothing(person, now):
    assert tap(person, "app", "r1", now, now) is True
    assert tap(person, "app", "r1", now, now) is False
    assert left(person) == 1


def test_reports_far_apart_are_separate_taps(person, now):
    tap(person, "app", "r1", now, now)
    tap(person, "event", "e1", now + timedelta(minutes=10), now)
    assert left(person) == 2


def test_spending_stops_at_zero_and_clear_empties(person, now):
    tap(person, "app", "r1", now, now)
    tap(person, "app", "r2", now + timedelta(minutes=10), now)
    assert subscriptions.spend(person.id, TEMPLATE, now=now) is True
    subscriptions.clear(person.id, TEMPLATE, now=now)
    assert subscriptions.spend(person.id, TEMPLATE, now=now) is False
    assert left(person) == 0


def test_spend_many_charges_only_those_with_credit(app_context, now):
    rich, poor = f.account("sim_rich", now), f.account("sim_poor", now)
    f.subscribe_credit(rich, "announcement", now, count=1)
    assert subscriptions.spend_many([rich.id, poor.id], TEMPLATE, now=now) == {rich.id}
    assert subscriptions.spend_many([rich.id, poor.id], TEMPLATE, now=now) == set()


# --- the same through WeChat's pushes ------------------------------------------------------------------

def push(client, xml: str):
    query = sign_query("sim-miniprogram-token")
    return client.post("/wechat/miniprogram/callback", query_string=query, data=xml.encode(), content_type="text/xml")


def test_popup_accepts_add_credits_once_and_rejections_clear_them(client, person):
    created = int(time.time())
    items = [{"TemplateId": TEMPLATE, "SubscribeStatusString": "accept", "PopupScene": 0},
             {"TemplateId": "sim_tmpl_activity_reminder", "SubscribeStatusString": "reject", "PopupScene": 0}]
    popup = subscribe_msg_popup_event("sim_tapper", "gh_sim_miniprogram", items, create_time=created)
    assert push(client, popup).status_code == 200
    assert push(client, popup).status_code == 200  # WeChat's retry of the same push
    assert subscriptions.credits(person.id) == {TEMPLATE: 1}
    change = subscribe_msg_change_event("sim_tapper", "gh_sim_miniprogram", [{"TemplateId": TEMPLATE}],
                                        create_time=created + 60)
    assert push(client, change).status_code == 200
    db.session.expire_all()
    assert subscriptions.credits(person.id) == {TEMPLATE: 0}


def test_the_sent_event_records_the_final_result(client, person, now):
    row = Notification(idempotency_key="announcement:1:a1", account_id=person.id, kind="announcement",
                       channel=NotificationChannel.MINIPROGRAM_SUBSCRIBE, payload={}, status=NotificationStatus.SENT,
                       attempts=1, next_attempt_at=now, created_at=now, wechat_msgid=1_000_000_777)
    db.session.add(row)
    db.session.commit()
    sent = subscribe_msg_sent_event("sim_tapper", "gh_sim_miniprogram", [
        {"TemplateId": TEMPLATE, "MsgID": 1_000_000_777, "ErrorCode": 10005, "ErrorStatus": "fail"}])
    assert push(client, sent).status_code == 200
    db.session.expire_all()
    recorded = db.session.scalar(select(Notification))
    assert recorded.delivery_errcode == 10005 and recorded.delivery_reported_at is not None
