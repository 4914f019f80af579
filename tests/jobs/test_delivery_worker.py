"""The delivery worker's loop: a busy channel is sent batch after batch, and the rest still runs regularly."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.services import delivery, group_robots, notifications
from jobs import delivery as worker
from models import Notification, NotificationChannel, NotificationStatus
from tests import factories as f

SUBSCRIBE = NotificationChannel.MINIPROGRAM_SUBSCRIBE


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(worker, "time", fake)
    monkeypatch.setattr(worker, "_guarded", lambda step: None)  # the recovery sweep: not under test here
    return fake


def run_passes(monkeypatch, clock, busy_answers, passes: int) -> list:
    """Run the loop over a stand-in `_one_pass` (each pass takes 0.1 s); return what each pass was asked to do."""
    asked = []

    def one_pass(deliverer, conf, *, busy=None):
        asked.append(busy)
        clock.now += 0.1
        return True, 0.0, busy_answers(len(asked))

    monkeypatch.setattr(worker, "_one_pass", one_pass)
    worker.work_loop(None, {}, should_stop=lambda: len(asked) >= passes)
    return asked


def test_while_a_channel_is_busy_a_full_pass_still_runs_every_second(monkeypatch, clock):
    asked = run_passes(monkeypatch, clock, lambda n: frozenset({SUBSCRIBE}), passes=50)  # 5 s
    full = [index for index, busy in enumerate(asked) if busy is None]
    assert len(full) == 5  # at 0, 1, 2, 3, 4 s: fan-out, the other channel, robots and followers never starve
    assert all(later - earlier <= 11 for earlier, later in zip(full, full[1:]))
    assert all(busy == {SUBSCRIBE} for busy in asked if busy is not None)


def test_without_a_busy_channel_every_pass_is_full(monkeypatch, clock):
    asked = run_passes(monkeypatch, clock, lambda n: frozenset(), passes=10)
    assert asked == [None] * 10


def test_a_channel_that_drains_ends_the_busy_passes(monkeypatch, clock):
    asked = run_passes(monkeypatch, clock, lambda n: frozenset({SUBSCRIBE}) if n < 4 else frozenset(), passes=6)
    assert asked == [None, {SUBSCRIBE}, {SUBSCRIBE}, {SUBSCRIBE}, None, None]


MESSAGE = notifications.Message(kind="signup_result", template="signup_result", title="报名成功", text="报名成功",
                                fields={"thing1": "社区清洁", "phrase2": "报名成功"})


def test_robots_and_followers_are_served_while_a_person_channel_stays_busy(make_app, monkeypatch, now):
    from models import Account, OfficialFollower
    from tests.fakes import running_simulator

    monkeypatch.setattr(worker, "FULL_PASS_EVERY_SECONDS", 0.3)
    monkeypatch.setattr(worker, "now_utc", lambda: now)
    app = make_app(delivery={"batch_size": 2, "subscribe_per_second": 100000})
    with app.app_context(), running_simulator(app) as sim:
        owner = f.account("sim_busy", now)
        f.subscribe_credit(owner, "signup_result", now, count=400)
        for i in range(400):
            notifications.notify(owner.id, f"busy{i}", MESSAGE, now=now)
        team = f.team(f.organization("甲区协会", f.region_tree()["district"], now), "应急队", now)
        group_robots.set_webhook(team, "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa",
                                 pii_key=app.extensions["settings"]["app"]["pii_key"])
        follower = f.account("sim_other", now)
        follower.unionid = "simu_alice"
        db.session.commit()
        follower_id, team_id = follower.id, team.id

        conf = app.extensions["settings"]
        deliverer = delivery.Deliverer(app.extensions["wechat_gateway"], app.extensions["redis"], conf["delivery"],
                                       pii_key=conf["app"]["pii_key"])
        shipped, asked, late = worker._one_pass, [], {}

        def one_pass(d, c, *, busy=None):
            asked.append(busy)
            return shipped(d, c, busy=busy)

        def should_stop() -> bool:
            if not late and sum(1 for busy in asked if busy is not None) >= 3:
                # Queued once the worker is sending the busy channel batch after batch.
                db.session.add(Notification(idempotency_key="team_note:1", team_id=team_id, kind="team_note",
                                            channel=NotificationChannel.WECOM_ROBOT, payload={"text": "集合"},
                                            status=NotificationStatus.PENDING, attempts=0, next_attempt_at=now,
                                            created_at=now))
                db.session.add(OfficialFollower(openid="sim_alice", is_subscribed=True, subscribed_at=now))
                db.session.commit()
                late["at"] = len(asked)
            if not late:
                return False
            linked = db.session.scalar(select(Account.oa_openid).where(Account.id == follower_id))
            db.session.commit()
            return (bool(sim.messages(api="robot")) and linked is not None) or len(asked) > 3000

        monkeypatch.setattr(worker, "_one_pass", one_pass)
        try:
            worker.work_loop(deliverer, conf, should_stop=should_stop, interval=0.01)
        finally:
            deliverer.close()
        pending = db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.channel == SUBSCRIBE, Notification.status == NotificationStatus.PENDING))
        db.session.commit()
        posts = sim.messages(api="robot")
    assert posts and "集合" in posts[0]["content"]
    assert pending > 0  # the person channel was still busy when the robot posted and the follower was linked
    after = asked[late["at"]:]
    assert None in after and any(busy is not None for busy in after)
