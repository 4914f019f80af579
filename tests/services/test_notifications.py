"""Delivering the outbox: once per row, permanent errors not retried, unknown outcomes not resent."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.services import notifications
from models import Notification, NotificationChannel, NotificationStatus
from tests import factories as f


@pytest.fixture
def queued(app_context, now):
    owner = f.account("sim_receiver", now)
    rows = [notifications.enqueue(owner.id, "registration_result", f"k{i}", channel=NotificationChannel.MINIPROGRAM_SUBSCRIBE,
                                  payload={"template_id": "tmpl_result", "data": {"thing1": f"消息{i}"}}, now=now)
            for i in range(3)]
    ids = [row.id for row in rows]
    # Commit last: reading ids after the commit would open a transaction that holds SQLite's lock.
    db.session.commit()
    return ids


def statuses() -> list[NotificationStatus]:
    db.session.expire_all()
    return [row.status for row in db.session.scalars(select(Notification).order_by(Notification.id))]


def test_enqueue_is_idempotent_by_key(app_context, now):
    owner = f.account("sim_receiver", now)
    first = notifications.enqueue(owner.id, "k", "same", channel=NotificationChannel.MINIPROGRAM_SUBSCRIBE, payload={}, now=now)
    second = notifications.enqueue(owner.id, "k", "same", channel=NotificationChannel.MINIPROGRAM_SUBSCRIBE, payload={}, now=now)
    db.session.commit()
    assert first is not None and second is None
    assert len(db.session.scalars(select(Notification)).all()) == 1


def test_due_messages_are_sent_once(app, simulator, queued, now):
    gateway = app.extensions["wechat_gateway"]
    assert notifications.deliver_due(gateway, now=now)["sent"] == 3
    assert notifications.deliver_due(gateway, now=now + timedelta(hours=1))["sent"] == 0
    assert sorted(m["data"]["thing1"]["value"] for m in simulator.messages(touser="sim_receiver")) == ["消息0", "消息1", "消息2"]
    assert statuses() == [NotificationStatus.SENT] * 3


def test_concurrent_workers_send_each_row_once(app, simulator, queued, now):
    def worker():
        with app.app_context():
            notifications.deliver_due(app.extensions["wechat_gateway"], now=now)
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(simulator.messages(touser="sim_receiver")) == 3
    assert statuses() == [NotificationStatus.SENT] * 3


def test_rate_limited_send_backs_off_then_succeeds(app, simulator, queued, now):
    simulator.fault(api="subscribe", errcode=45009, count=1)
    gateway = app.extensions["wechat_gateway"]
    counts = notifications.deliver_due(gateway, now=now, limit=1)
    assert counts["retry"] == 1
    row = db.session.get(Notification, queued[0])
    assert row.status is NotificationStatus.PENDING and row.next_attempt_at > now and row.attempts == 1
    assert notifications.deliver_due(gateway, now=now, limit=3)["sent"] == 2  # the backed-off row waits
    assert notifications.deliver_due(gateway, now=row.next_attempt_at)["sent"] == 1
    assert len(simulator.messages(touser="sim_receiver")) == 3


def test_permanent_errors_are_not_retried(app, simulator, queued, now):
    simulator.fault(api="subscribe", errcode=43101, count=1)
    counts = notifications.deliver_due(app.extensions["wechat_gateway"], now=now, limit=1)
    assert counts["failed"] == 1
    assert notifications.deliver_due(app.extensions["wechat_gateway"], now=now + timedelta(days=1))["sent"] == 2
    assert statuses()[0] is NotificationStatus.FAILED


def test_unknown_outcome_is_ambiguous_and_never_resent(make_app, queued, now):
    from tests.fakes import running_simulator

    short = make_app(wechat={"timeout_seconds": 0.3})
    with short.app_context(), running_simulator(short) as sim:
        gateway = short.extensions["wechat_gateway"]
        gateway.miniprogram.access_token
        sim.fault(api="subscribe", delay_seconds=1.5, count=1)
        assert notifications.deliver_due(gateway, now=now, limit=1)["ambiguous"] == 1
        assert notifications.deliver_due(gateway, now=now + timedelta(days=1))["sent"] == 2
        assert statuses()[0] is NotificationStatus.AMBIGUOUS


def test_fit_truncates_with_an_ellipsis():
    assert notifications.fit("短", 20) == "短"
    cut = notifications.fit("这是一段非常非常非常非常非常非常长的原因说明文字", 20)
    assert len(cut) == 20 and cut.endswith("…")
