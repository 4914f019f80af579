"""Recognition end to end (stars and points): 100 hours of scanned service → the daily job opens a star
application → the street's admin approves → publicity over 5 working days → the award job → the star in
/me, the archive, a certificate and the bot; the points those hours earned are gifted, redeemed at a
station and expire, and the ledger still sums to zero.

Everything goes through the HTTP API with each role's own token, the official-account callback and the
jobs as the scheduler fires them (`jobs.runner.fire` on the table in `jobs/schedule.py`). The clock is the
app's, pinned and moved forward by hand; the jobs read the same clock.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.services.certificates.publicity import through
from app.timeutil import SHANGHAI, as_utc
from jobs import runner
from models import Notification, PointsAccount, PointsAccountKind, PointsEntry
from tests import factories as f
from tests.wechat.test_bot_commands import say

API = "/api/v1"
SERVICE_DAYS = 13  # 13 days of 8 hours: 104 hours, past the first star's 100
HOURS_A_DAY = 8
POINTS_PER_HOUR = 10  # the default rules
GIFT, PRICE = 150, 300


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def nonce() -> str:
    return uuid.uuid4().hex


class Clock:
    """The app's clock, moved forward by hand (handlers and jobs read it through `current_time`)."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> None:
        assert moment >= self.now, "the clock only moves forward"
        self.now = moment


@pytest.fixture
def stage(app, now):
    """The people: a volunteer (alice) and a friend (bob), the organisation with its captain and a station
    operator, the district's admin (points rules) and the street's admin (who approves 1★)."""
    clock = Clock(now)
    app.extensions["clock"] = clock
    with app.app_context():
        world = f.World(now).build("tree", "org", "team", "organizer", "captain", "admin", "alice", "bob")
        world.alice.account.oa_openid = "oa_alice"  # follows the official account: the bot knows her
        world.alice.volunteer_number, world.bob.volunteer_number = "V2026000001", "V2026000002"
        street_admin = f.admin("sim_street_admin", world.tree["street"], now)
        operator = f.account("sim_station_operator", now)
        cast = {"clock": clock, "org_id": world.org.id, "team_id": world.team.id,
                "community_id": world.tree["community"].id, "street_id": world.tree["street"].id,
                "district_id": world.tree["district"].id,
                "alice_id": world.alice.id, "alice_account_id": world.alice.account_id,
                "bob_id": world.bob.id, "street_admin_id": street_admin.id, "operator_id": operator.id,
                "h": {**world.bearers("organizer", "captain", "admin", "alice", "bob"),
                      "street_admin": f.bearer(street_admin), "operator": f.bearer(operator)}}
        db.session.commit()
    return cast


# --- steps --------------------------------------------------------------------------------------------

def fire(app, name: str, stage) -> None:
    """Fire one job of the schedule at the clock's time, as the scheduler does."""
    job = {entry.name: entry for entry in runner.load_table("jobs.schedule")}[name]
    assert runner.fire(app, job, owner="scheduler-1", scheduled_at=stage["clock"].now) == "done"


def set_points_expiry(client, stage, months: int) -> None:
    answer = client.put(f"{API}/regions/{stage['district_id']}/points-rules", headers=stage["h"]["admin"],
                        json={"expiry_months": months, "nonce": nonce()})
    assert answer.status_code == 200, answer.json
    assert answer.json["in_force"]["expiry_months"] == months


def publish_activity(client, stage, day: date) -> int:
    starts = local(day.year, day.month, day.day, 9)
    answer = client.post(f"{API}/activities", headers=stage["h"]["organizer"], json={
        "organization_id": stage["org_id"], "region_id": stage["community_id"], "team_id": stage["team_id"],
        "title": "社区助老服务", "address": "一社区养老驿站", "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=HOURS_A_DAY)).isoformat(), "capacity": 10, "publish": True})
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


def captain_scans_alice(client, stage, activity_id: int) -> dict:
    code = client.get(f"{API}/me/checkin-code", headers=stage["h"]["alice"]).json["code"]
    answer = client.post(f"{API}/activities/{activity_id}/scans", headers=stage["h"]["captain"],
                         json={"code": code, "nonce": nonce()})
    assert answer.status_code == 200, answer.json
    return answer.json


def serve_one_day(client, stage, day: date) -> int:
    """Alice signs up the evening before, is scanned in at 09:00 and out at 17:00; the minutes credited."""
    clock = stage["clock"]
    clock.set(local(day.year, day.month, day.day, 7))
    activity_id = publish_activity(client, stage, day)
    signed = client.post(f"{API}/activities/{activity_id}/signups", headers=stage["h"]["alice"],
                         json={"join_waitlist": False})
    assert signed.status_code in (200, 201), signed.json
    clock.set(local(day.year, day.month, day.day, 9))
    assert captain_scans_alice(client, stage, activity_id)["result"] == "checked_in"
    clock.set(local(day.year, day.month, day.day, 9 + HOURS_A_DAY))
    left = captain_scans_alice(client, stage, activity_id)
    assert left["result"] == "checked_out"
    return left["minutes"]


def earn_points_for_records(app, stage) -> None:
    stage["clock"].set(stage["clock"].now + timedelta(minutes=1))
    fire(app, "points_earn_catch_up", stage)


def points_balance(client, headers) -> int:
    answer = client.get(f"{API}/me/points", headers=headers)
    assert answer.status_code == 200, answer.json
    return answer.json["balance"]


def my_stars(client, stage) -> dict:
    return client.get(f"{API}/me/stars", headers=stage["h"]["alice"]).json


def open_applications_by_the_daily_job(app, client, stage, night: date) -> dict:
    stage["clock"].set(local(night.year, night.month, night.day, 2, 30))
    fire(app, "stars_open_qualified", stage)
    opened = my_stars(client, stage)["open_application"]
    assert opened is not None and opened["origin"] == "job"
    return opened


def approve_as_street_admin(client, stage, application_id: int, at: datetime) -> dict:
    stage["clock"].set(at)
    waiting = client.get(f"{API}/star-applications?status=pending", headers=stage["h"]["street_admin"]).json
    assert [row["id"] for row in waiting["items"]] == [application_id]
    answer = client.post(f"{API}/star-applications/{application_id}/review", headers=stage["h"]["street_admin"],
                         json={"decision": "approve", "nonce": nonce()})
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "publicity"
    return answer.json


def run_award_job_at(app, stage, moment: datetime) -> None:
    stage["clock"].set(moment)
    fire(app, "stars_award_due", stage)


def certificate_identity(client, stage) -> dict:
    """Alice asks for a record certificate; the organiser approves it; its identity part as it was made."""
    requested = client.post(f"{API}/me/certificates", headers=stage["h"]["alice"], json={
        "period_start": "2026-11-01", "period_end": stage["clock"].now.astimezone(SHANGHAI).date().isoformat(),
        "nonce": nonce()})
    assert requested.status_code == 201, requested.json
    certificate_id = requested.json["items"][0]["id"]
    reviewed = client.post(f"{API}/certificates/{certificate_id}/review", headers=stage["h"]["organizer"],
                           json={"decision": "approve", "nonce": nonce()})
    assert reviewed.status_code == 200, reviewed.json
    return reviewed.json["content"]["identity"]


def gift_to_bob(client, stage, amount: int) -> None:
    answer = client.post(f"{API}/me/points/gifts", headers=stage["h"]["alice"],
                         json={"to_volunteer_number": "V2026000002", "amount": amount, "nonce": nonce()})
    assert answer.status_code == 201, answer.json


def publish_reward_with_station_operator(client, stage) -> dict:
    now = stage["clock"].now
    reward = client.post(f"{API}/organizations/{stage['org_id']}/rewards", headers=stage["h"]["organizer"], json={
        "kind": "service", "title": "免费理发一次", "points_price": PRICE, "stock": 3, "limit_per_person": 1,
        "valid_from": now.isoformat(), "valid_until": (now + timedelta(days=30)).isoformat(),
        "pickup_place": "一社区服务站", "nonce": nonce()})
    assert reward.status_code == 201, reward.json
    operator = client.post(f"{API}/stations/{stage['org_id']}/operators", headers=stage["h"]["organizer"],
                           json={"account_id": stage["operator_id"], "nonce": nonce()})
    assert operator.status_code in (200, 201), operator.json
    return reward.json


def redeem_and_pick_up(client, stage, reward_id: int) -> dict:
    held = client.post(f"{API}/rewards/{reward_id}/redemptions", headers=stage["h"]["alice"], json={"nonce": nonce()})
    assert held.status_code == 201, held.json
    assert held.json["status"] == "held" and len(held.json["pickup_code"]) == 6
    stage["clock"].set(stage["clock"].now + timedelta(hours=2))
    picked = client.post(f"{API}/stations/{stage['org_id']}/pickups", headers=stage["h"]["operator"],
                         json={"code": held.json["pickup_code"], "nonce": nonce()})
    assert picked.status_code == 200, picked.json
    return picked.json


def reward_stock(client, stage) -> int:
    items = client.get(f"{API}/organizations/{stage['org_id']}/rewards", headers=stage["h"]["organizer"]).json["items"]
    return items[0]["stock"]


def ledger_totals(app) -> dict[str, int]:
    """Every account's balance summed by kind, and the entries' total (zero in a balanced ledger)."""
    with app.app_context():
        by_kind = dict(db.session.execute(select(PointsAccount.kind, func.sum(PointsAccount.balance))
                                          .group_by(PointsAccount.kind)).all())
        entries = db.session.scalar(select(func.coalesce(func.sum(PointsEntry.amount), 0)))
    return {**{str(kind): int(total) for kind, total in by_kind.items()}, "entries": int(entries)}


def outbox_keys(app, kind: str) -> list[tuple[int, str]]:
    """(account, idempotency key) of the outbox rows of a kind."""
    with app.app_context():
        return sorted(db.session.execute(select(Notification.account_id, Notification.idempotency_key).where(
            Notification.kind == kind)).tuples())


# --- the flow -------------------------------------------------------------------------------------------

def test_a_volunteer_earns_a_star_and_points_and_the_points_are_gifted_redeemed_and_expire(app, client, stage):
    set_points_expiry(client, stage, months=12)

    # 100+ hours of scanned service over 13 days (24 Nov – 6 Dec 2026), then the minutely job earns their points.
    first_day = date(2026, 11, 24)
    minutes = sum(serve_one_day(client, stage, first_day + timedelta(days=i)) for i in range(SERVICE_DAYS))
    assert minutes == SERVICE_DAYS * HOURS_A_DAY * 60
    earn_points_for_records(app, stage)
    earned = SERVICE_DAYS * HOURS_A_DAY * POINTS_PER_HOUR
    assert points_balance(client, stage["h"]["alice"]) == earned
    assert client.get(f"{API}/me", headers=stage["h"]["alice"]).json["star_level"] == 0

    # The 02:30 job on Monday 7 Dec finds her: a 1★ application approved by the street.
    opened = open_applications_by_the_daily_job(app, client, stage, date(2026, 12, 7))
    assert (opened["level"], opened["status"], opened["qualifying_hours"]) == (1, "pending", 104)
    assert opened["approval_region_id"] == stage["street_id"]
    # The street's admin is told (the district's admin could approve too, but 1★ is not theirs to watch).
    told = stage["street_admin_id"]
    assert outbox_keys(app, "star_review_request") == [(told, f"star_review_request:s{opened['id']}:a{told}")]

    # The street's admin approves at 09:30; publicity is 5 working days: Tue 8 – Mon 14 Dec (weekend skipped).
    reviewed = approve_as_street_admin(client, stage, opened["id"], local(2026, 12, 7, 9, 30))
    ends = as_utc(datetime.fromisoformat(reviewed["publicity_ends_at"]))
    assert through(ends) == date(2026, 12, 14)
    assert "公示中" in say(client, "我的星级")

    run_award_job_at(app, stage, ends - timedelta(minutes=5))
    assert my_stars(client, stage)["level"] == 0  # still in publicity
    run_award_job_at(app, stage, ends)
    assert my_stars(client, stage)["level"] == 1

    # The star shows everywhere.
    assert client.get(f"{API}/me", headers=stage["h"]["alice"]).json["star_level"] == 1
    archive = client.get(f"{API}/me/archive", headers=stage["h"]["alice"]).json
    assert archive["star_level"] == 1 and [s["level"] for s in archive["stars"]] == [1]
    assert certificate_identity(client, stage)["star_level"] == 1
    assert say(client, "我的星级").startswith("您是1星级志愿者。")
    # She was told through the outbox (one message, keyed by the application and the award).
    assert outbox_keys(app, "star_result") == [(stage["alice_account_id"], f"star_result:s{opened['id']}:awarded")]
    inbox = client.get(f"{API}/me/messages", headers=stage["h"]["alice"]).json["messages"]
    assert [m["title"] for m in inbox if m["kind"] == "star_result"] == ["星级评定通过"]

    # Points: a gift to bob by volunteer number, a reward redeemed and picked up at the station.
    gift_to_bob(client, stage, GIFT)
    reward = publish_reward_with_station_operator(client, stage)
    picked = redeem_and_pick_up(client, stage, reward["id"])
    assert picked["status"] == "fulfilled"
    assert reward_stock(client, stage) == reward["stock"] - 1
    left = earned - GIFT - PRICE
    assert points_balance(client, stage["h"]["alice"]) == left
    assert points_balance(client, stage["h"]["bob"]) == GIFT

    # The nightly expiry job: nothing is 12 months old on 20 Nov 2027; by 20 Dec 2027 all of it is.
    stage["clock"].set(local(2027, 11, 20, 3, 20))
    fire(app, "points_expire_due", stage)
    assert (points_balance(client, stage["h"]["alice"]), points_balance(client, stage["h"]["bob"])) == (left, GIFT)
    stage["clock"].set(local(2027, 12, 20, 3, 20))
    fire(app, "points_expire_due", stage)
    assert points_balance(client, stage["h"]["alice"]) == 0
    assert points_balance(client, stage["h"]["bob"]) == 0

    assert ledger_totals(app) == {"issuance": -earned, "volunteer": 0, "holds": 0, "redemptions": PRICE,
                                  "expiry": left + GIFT, "entries": 0}
