"""Delivering the outbox: once per row, permanent errors not retried, unknown outcomes not resent."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import redis
from sqlalchemy import select

from app.extensions import db
from app.services import delivery, notifications, subscriptions
from models import Notification, NotificationChannel, NotificationStatus, Team
from tests import factories as f
from tests.fakes import deliver_all

MESSAGE = notifications.Message(kind="signup_result", template="signup_result", title="报名成功", text="报名成功",
                                fields={"thing1": "社区清洁", "phrase2": "报名成功"})


@pytest.fixture
def queued(app_context, now):
    """Three subscribe messages to one person, who accepted three times."""
    owner = f.account("sim_receiver", now)
    f.subscribe_credit(owner, "signup_result", now, count=3)
    ids = [notifications.notify(owner.id, f"k{i}", MESSAGE, now=now).id for i in range(3)]
    db.session.commit()
    return ids


def rows() -> list:
    """The outbox as plain rows; the read transaction ends at once (on SQLite it would block the workers)."""
    db.session.expire_all()
    found = db.session.execute(select(Notification.id, Notification.status, Notification.attempts,
                                      Notification.next_attempt_at, Notification.last_error, Notification.wechat_msgid)
                               .order_by(Notification.id)).all()
    db.session.commit()
    return found


def statuses() -> list[NotificationStatus]:
    return [row.status for row in rows()]


def deliverer(app, **conf) -> delivery.Deliverer:
    settings = app.extensions["settings"]
    return delivery.Deliverer(app.extensions["wechat_gateway"], app.extensions["redis"],
                              {**settings["delivery"], **conf}, pii_key=settings["app"]["pii_key"])


def test_due_messages_are_sent_once_with_their_msgid(app, simulator, queued, now):
    assert deliver_all(app, now) == {"sent": 3}
    assert deliver_all(app, now + timedelta(hours=1)) == {}
    sent = simulator.messages(touser="sim_receiver")
    assert len(sent) == 3 and {m["template_id"] for m in sent} == {"sim_tmpl_signup_result"}
    assert statuses() == [NotificationStatus.SENT] * 3
    assert sorted(row.wechat_msgid for row in rows()) == sorted(m["msgid"] for m in sent)


def test_concurrent_workers_send_each_row_once(app, simulator, queued, now):
    def worker():
        deliver_all(app, now)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(simulator.messages(touser="sim_receiver")) == 3
    assert statuses() == [NotificationStatus.SENT] * 3


def test_rate_limited_send_backs_off_then_succeeds(app, simulator, queued, now):
    simulator.fault(api="subscribe", errcode=45009, count=1)
    assert deliver_all(app, now) == {"sent": 2, "retry": 1}
    [waiting] = [row for row in rows() if row.status is NotificationStatus.PENDING]
    assert waiting.attempts == 1 and waiting.next_attempt_at > now and "45009" in waiting.last_error
    assert deliver_all(app, waiting.next_attempt_at) == {"sent": 1}
    assert len(simulator.messages(touser="sim_receiver")) == 3


def test_retries_stop_at_max_attempts(app, simulator, queued, now):
    simulator.fault(api="subscribe", errcode=-1, count=100)
    worker = deliverer(app, max_attempts=2)
    moment = now
    for _ in range(3):
        worker.deliver_once(now=moment)
        moment += timedelta(days=1)
    worker.close()
    assert [(row.status, row.attempts) for row in rows()] == [(NotificationStatus.FAILED, 2)] * 3


def test_user_refused_fails_at_once_and_clears_the_credits(app, simulator, app_context, now):
    owner = f.account("sim_refuser", now)
    f.subscribe_credit(owner, "signup_result", now, count=3)
    notifications.notify(owner.id, "k", MESSAGE, now=now)
    db.session.commit()
    simulator.fault(api="subscribe", errcode=43101, count=1)
    assert deliver_all(app, now) == {"failed": 1}
    assert deliver_all(app, now + timedelta(days=1)) == {}
    assert subscriptions.credits(owner.id) == {"sim_tmpl_signup_result": 0}
    assert statuses() == [NotificationStatus.FAILED]


def test_invalid_openid_is_permanent(app, simulator, queued, now):
    simulator.fault(api="subscribe", errcode=40003, count=1)
    worker = deliverer(app, batch_size=1)
    worker.deliver_once(now=now)
    worker.close()
    assert statuses()[0] is NotificationStatus.FAILED
    assert deliver_all(app, now + timedelta(days=1)) == {"sent": 2}


def test_unknown_outcome_is_ambiguous_and_never_resent(make_app, queued, now):
    from tests.fakes import running_simulator

    short = make_app(wechat={"timeout_seconds": 0.3})
    with short.app_context(), running_simulator(short) as sim:
        short.extensions["wechat_gateway"].miniprogram.access_token
        sim.fault(api="subscribe", delay_seconds=1.5, count=1)
        worker = deliverer(short, batch_size=1)
        assert worker.deliver_once(now=now).counts == {"ambiguous": 1}
        worker.close()
        assert deliver_all(short, now + timedelta(days=1)) == {"sent": 2}
        assert statuses()[0] is NotificationStatus.AMBIGUOUS
        # The late answer did arrive at WeChat: resending would have delivered it twice.
        deadline = time.monotonic() + 5
        while len(sim.messages(touser="sim_receiver")) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(sim.messages(touser="sim_receiver")) == 3


def test_rows_a_dead_worker_left_in_flight_become_ambiguous_after_the_lease(app, queued, now):
    claimed = delivery.claim(NotificationChannel.MINIPROGRAM_SUBSCRIBE, 2, now=now)
    assert [row.id for row in claimed] == queued[:2]
    assert delivery.recover_lost(now=now + timedelta(seconds=60), lease_seconds=120) == 0
    assert delivery.recover_lost(now=now + timedelta(seconds=121), lease_seconds=120) == 2
    assert statuses() == [NotificationStatus.AMBIGUOUS, NotificationStatus.AMBIGUOUS, NotificationStatus.PENDING]
    # A slow worker that does come back still records what it knows.
    delivery.record([delivery.Outcome(claimed[0], msgid=42)], now=now, conf=app.extensions["settings"]["delivery"])
    assert statuses()[0] is NotificationStatus.SENT


def test_a_row_is_claimed_by_one_worker_only(app, queued, now):
    first = delivery.claim(NotificationChannel.MINIPROGRAM_SUBSCRIBE, 2, now=now)
    second = delivery.claim(NotificationChannel.MINIPROGRAM_SUBSCRIBE, 5, now=now)
    assert {row.id for row in first} & {row.id for row in second} == set()
    assert len(first) + len(second) == 3


def test_the_shared_rate_limit_caps_a_pass(app, simulator, queued, now):
    worker = deliverer(app, subscribe_per_second=5)  # a burst of at most one
    assert worker.deliver_once(now=now).counts == {"sent": 1}
    worker.close()


def test_a_channel_saves_up_at_most_a_twentieth_of_a_second_of_sends(app, simulator, queued, now):
    worker = deliverer(app, subscribe_per_second=40)  # a burst of two, so the busiest second stays near the limit
    assert worker.deliver_once(now=now).counts == {"sent": 2}
    worker.close()


def test_without_redis_nothing_is_claimed(app, queued, now):
    settings = app.extensions["settings"]
    unreachable = redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.2)
    worker = delivery.Deliverer(app.extensions["wechat_gateway"], unreachable, settings["delivery"],
                                pii_key=settings["app"]["pii_key"])
    with pytest.raises(redis.RedisError):
        worker.deliver_once(now=now)
    worker.close()
    assert statuses() == [NotificationStatus.PENDING] * 3


# --- WeCom group robots ------------------------------------------------------------------------------

ROBOT_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


def queue_for_team(team: Team, texts: list[str], now) -> None:
    for index, text in enumerate(texts):
        db.session.add(Notification(idempotency_key=f"team_note:{team.id}:{index}", team_id=team.id, kind="team_note",
                                    channel=NotificationChannel.WECOM_ROBOT, payload={"text": text},
                                    status=NotificationStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now))
    db.session.commit()


@pytest.fixture
def robot_team(app, app_context, now):
    from app.services import group_robots

    tree = f.region_tree()
    team = f.team(f.organization("甲区协会", tree["district"], now), "应急队", now)
    group_robots.set_webhook(team, f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={ROBOT_KEY}",
                             pii_key=app.extensions["settings"]["app"]["pii_key"])
    db.session.commit()
    return team


def test_queued_team_messages_go_out_as_one_digest(app, simulator, robot_team, now):
    queue_for_team(robot_team, ["第一条通知", "第二条通知", "第三条通知"], now)
    assert deliver_all(app, now) == {"sent": 3}
    [post] = simulator.messages(api="robot")
    assert post["touser"] == ROBOT_KEY
    assert post["content"].startswith("【3 条新通知】") and "3. 第三条通知" in post["content"]


def test_a_digest_never_exceeds_2048_bytes_and_the_rest_waits(app, simulator, robot_team, now):
    queue_for_team(robot_team, ["通" * 300, "知" * 300, "书" * 300], now)  # 900 bytes each
    worker = deliverer(app)
    assert worker.deliver_once(now=now).counts == {"sent": 2}
    # The robot's bucket holds one post: the third message waits for the next token.
    assert worker.deliver_once(now=now).counts == {}
    worker.close()
    [post] = simulator.messages(api="robot")
    assert len(post["content"].encode()) <= 2048
    assert statuses() == [NotificationStatus.SENT, NotificationStatus.SENT, NotificationStatus.PENDING]


def test_a_single_long_message_is_cut_to_fit(app, simulator, robot_team, now):
    queue_for_team(robot_team, ["长" * 1000], now)
    assert deliver_all(app, now) == {"sent": 1}
    [post] = simulator.messages(api="robot")
    assert len(post["content"].encode()) <= 2048 and post["content"].endswith("…")


def test_team_messages_without_a_robot_fail_without_a_send(app, simulator, robot_team, now):
    robot_team.robot_webhook_key_encrypted = None
    db.session.commit()
    queue_for_team(robot_team, ["通知"], now)
    assert deliver_all(app, now) == {}
    assert statuses() == [NotificationStatus.FAILED]
    assert simulator.messages(api="robot") == []


def test_the_simulated_robot_refuses_the_21st_post_in_a_minute(simulator):
    import requests

    answers = [requests.post(f"{simulator.url}/cgi-bin/webhook/send", params={"key": ROBOT_KEY}, timeout=5,
                             json={"msgtype": "text", "text": {"content": f"消息{i}"}}).json()["errcode"]
               for i in range(21)]
    assert answers == [0] * 20 + [45009]
    too_long = requests.post(f"{simulator.url}/cgi-bin/webhook/send", params={"key": "another-key-0001"}, timeout=5,
                             json={"msgtype": "text", "text": {"content": "长" * 683}}).json()
    assert too_long["errcode"] == 40058


# --- the lean pass: statements and token reads per batch ---------------------------------------------

@pytest.fixture
def statements(app):
    """Every statement sent to the database while the test runs: (SQL, executemany)."""
    from sqlalchemy import event

    with app.app_context():
        engine = db.engine
    seen: list[tuple[str, bool]] = []

    def listen(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        seen.append((statement, executemany))

    event.listen(engine, "before_cursor_execute", listen)
    yield seen
    event.remove(engine, "before_cursor_execute", listen)


def test_a_claim_is_one_statement_that_brings_the_openids(app, queued, now, statements):
    claimed = delivery.claim(NotificationChannel.MINIPROGRAM_SUBSCRIBE, 5, now=now)
    assert [row.address for row in claimed] == ["sim_receiver"] * 3
    assert [sql.split()[0].upper() for sql, _ in statements if sql.split()[0].upper() != "BEGIN"] == ["UPDATE"]


def test_outcomes_are_one_statement_per_kind_and_never_overwrite_a_recorded_row(app, app_context, now, statements):
    from app.wechat.errors import WeChatAPIError, WeChatTimeout

    owner = f.account("sim_receiver", now)
    f.subscribe_credit(owner, "signup_result", now, count=5)
    for i in range(5):
        notifications.notify(owner.id, f"k{i}", MESSAGE, now=now)
    db.session.commit()
    rows_ = delivery.claim(NotificationChannel.MINIPROGRAM_SUBSCRIBE, 5, now=now)
    conf = app.extensions["settings"]["delivery"]
    first = [delivery.Outcome(rows_[0], msgid=11), delivery.Outcome(rows_[1], msgid=12),
             delivery.Outcome(rows_[2], error=WeChatAPIError(45009, "limit")),
             delivery.Outcome(rows_[3], error=WeChatAPIError(40003, "bad openid")),
             delivery.Outcome(rows_[4], error=WeChatTimeout("no answer"))]
    statements.clear()
    assert delivery.record(first, now=now, conf=conf) == {"sent": 2, "retry": 1, "failed": 1, "ambiguous": 1}
    updates = [(sql, many) for sql, many in statements if sql.split()[0].upper() == "UPDATE"]
    assert len(updates) == 3  # sent, retry, failed + ambiguous
    if db.engine.dialect.name == "postgresql":
        assert not any(many for _, many in updates)  # one statement each, not one per row
    after_first = [(row.status, row.wechat_msgid) for row in rows()]
    assert after_first == [(NotificationStatus.SENT, 11), (NotificationStatus.SENT, 12), (NotificationStatus.PENDING, None),
                           (NotificationStatus.FAILED, None), (NotificationStatus.AMBIGUOUS, None)]
    # A second, different record of the same rows changes none that is no longer in flight; the
    # ambiguous one (as after a recovery sweep) still takes the outcome that became known.
    second = [delivery.Outcome(rows_[0], error=WeChatAPIError(40003, "late")),
              delivery.Outcome(rows_[1], error=WeChatAPIError(45009, "late")),
              delivery.Outcome(rows_[2], msgid=13), delivery.Outcome(rows_[3], msgid=14),
              delivery.Outcome(rows_[4], msgid=15)]
    delivery.record(second, now=now + timedelta(minutes=1), conf=conf)
    assert [(row.status, row.wechat_msgid) for row in rows()] == after_first[:4] + [(NotificationStatus.SENT, 15)]


def test_a_batch_reads_the_access_token_once(app, simulator, queued, now, monkeypatch):
    from app.wechat.clients import StableTokenClient

    gateway = app.extensions["wechat_gateway"]
    gateway.access_token_of(gateway.miniprogram)  # warm
    reads = []
    shipped = StableTokenClient._cached_token
    monkeypatch.setattr(StableTokenClient, "_cached_token", lambda self: reads.append(self.appid) or shipped(self))
    worker = deliverer(app)
    assert worker.deliver_once(now=now, channels=[NotificationChannel.MINIPROGRAM_SUBSCRIBE], robots=False).counts == {
        "sent": 3}
    worker.close()
    assert len(reads) == 1  # was two per send


def test_a_batch_whose_token_cannot_be_had_is_retried_later_not_lost(make_app, queued, now):
    # No simulator: the stable_token call cannot connect, so nothing was sent.
    app = make_app(wechat={"api_base": "http://127.0.0.1:9"})
    worker = deliverer(app)
    with app.app_context():
        assert worker.deliver_once(now=now, robots=False).counts == {"retry": 3}
    worker.close()
    assert statuses() == [NotificationStatus.PENDING] * 3


def test_a_full_batch_marks_its_channel_busy_and_a_drained_one_not(app, simulator, queued, now):
    worker = deliverer(app, batch_size=2)
    first = worker.deliver_once(now=now)
    assert first.counts == {"sent": 2} and first.busy == {NotificationChannel.MINIPROGRAM_SUBSCRIBE}
    second = worker.deliver_once(now=now, channels=[NotificationChannel.MINIPROGRAM_SUBSCRIBE], robots=False,
                                 busy=first.busy)
    assert second.counts == {"sent": 1} and second.busy == frozenset()
    worker.close()


def test_a_batch_is_never_sent_while_the_workers_connection_has_a_transaction_open(app, simulator, queued, now):
    from sqlalchemy import text as sql_text

    from app.wechat.gateway import CallInsideTransaction

    worker = deliverer(app)
    with app.app_context():
        [row, *_] = delivery.claim(NotificationChannel.MINIPROGRAM_SUBSCRIBE, 1, now=now)
        worker._db().execute(sql_text("SELECT 1"))  # a transaction begins on the worker's own connection
        with pytest.raises(CallInsideTransaction):
            worker._send_and_record(NotificationChannel.MINIPROGRAM_SUBSCRIBE, [row], now=now)
        worker._db().rollback()
    worker.close()
    assert simulator.messages(api="subscribe") == []
