"""The volunteer directory, detail, suspension, the audited mobile number and the XLSX export."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.services import checkins, directory, paging
from models import (Activity, AuditLog, Checkin, CheckinMethod, Notification, Signup, SignupMode, SignupStatus,
                    TeamMembership, Volunteer, VolunteerStatus)
from models.teams import MembershipStatus
from tests import factories as f


@pytest.fixture
def world(world):
    """alice and bob (一社区), carol (二社区, pending), dave (三社区 in 乙区); the casts of both districts."""
    world.build("tree", "org", "other_org", "organizer", "other_organizer", "team", "captain", "other_team",
                "other_captain", "admin", "other_admin")
    now = world.now
    world["alice"] = f.approved_volunteer("sim_alice", world.tree["community"], now, real_name="李美丽",
                                          mobile="13511112222", categories=["youth"], skills=["急救"])
    world["bob"] = f.approved_volunteer("sim_bob", world.tree["community"], now + timedelta(minutes=1),
                                        real_name="王强", mobile="13633334444", categories=["retiree"],
                                        skills=["摄影"], total_service_minutes=300)
    world["carol"] = f.volunteer(f.account("sim_carol", now), world.tree["community2"], now + timedelta(minutes=2),
                                 real_name="赵丽华", mobile="13755556666")
    world["dave"] = f.approved_volunteer("sim_dave", world.tree["other_community"], now + timedelta(minutes=3),
                                         real_name="孙丽", mobile="13877772222")
    world["street_admin"] = f.admin("sim_street_admin", world.tree["street"], now)
    world["other_street_admin"] = f.admin("sim_other_street_admin", world.tree["other_street"], now)
    db.session.add(TeamMembership(team_id=world.team.id, volunteer_id=world["bob"].id, status=MembershipStatus.ACTIVE,
                                  created_at=now))
    db.session.commit()
    return world


def names(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [item["real_name"] for item in response.json["items"]]


def test_the_directory_is_masked_newest_first_and_holds_only_the_callers_regions(client, world):
    page = client.get("/api/v1/volunteers", headers=f.bearer(world["organizer"]))
    assert names(page) == ["赵*华", "王*", "李*丽"]
    assert page.json["total"] == 3 and page.json["next_cursor"] is None
    item = page.json["items"][2]
    assert item["mobile"] == "135****1111"[:3] + "****" + "2222" and item["region"]["name"] == "一社区"
    assert set(item) >= {"id", "status", "categories", "skills", "total_service_minutes", "created_at", "age"}
    assert names(client.get("/api/v1/volunteers", headers=f.bearer(world["other_organizer"]))) == ["孙*"]
    assert names(client.get("/api/v1/volunteers", headers=f.bearer(world["other_admin"]))) == ["孙*"]


@pytest.mark.parametrize("query, expected", [
    ("status=approved", ["王*", "李*丽"]),
    ("status=pending", ["赵*华"]),
    ("q=丽", ["赵*华", "李*丽"]),
    ("q=2222", ["李*丽"]),
    ("category=youth", ["李*丽"]),
    ("skill=摄影", ["王*"]),
    ("team_id={team}", ["王*"]),
    ("region_id={community2}", ["赵*华"]),
    ("sort=real_name&status=approved", sorted(["王*", "李*丽"], key=lambda n: {"王*": "王强", "李*丽": "李美丽"}[n])),
    ("sort=-total_service_minutes", ["王*", "赵*华", "李*丽"]),
    ("q=%25", []),
])
def test_filters_and_sorts(client, world, query, expected):
    query = query.format(team=world.team.id, community2=world.tree["community2"].id)
    assert names(client.get(f"/api/v1/volunteers?{query}", headers=f.bearer(world["organizer"]))) == expected


def test_cursor_pages_walk_every_row_once(client, world):
    headers = f.bearer(world["organizer"])
    for sort in ("-created_at", "real_name", "total_service_minutes", "-real_name"):
        seen, cursor = [], None
        while True:
            url = f"/api/v1/volunteers?limit=1&sort={sort}" + (f"&cursor={cursor}" if cursor else "")
            page = client.get(url, headers=headers)
            assert page.status_code == 200 and page.json["total"] == 3
            seen += [item["id"] for item in page.json["items"]]
            cursor = page.json["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 3, sort


def test_a_cursor_carries_no_name(client, world):
    page = client.get("/api/v1/volunteers?limit=1&sort=real_name", headers=f.bearer(world["organizer"]))
    values = paging.decode_cursor(page.json["next_cursor"])
    assert values == (page.json["items"][0]["id"], 3)  # the last row's id and the total, nothing else


@pytest.mark.parametrize("cursor", ["garbage!", "bnVsbA", paging.encode_cursor(("x", 1)), paging.encode_cursor((1,)),
                                    paging.encode_cursor(({"a": 1}, 2))])
def test_a_bad_cursor_is_422(client, world, cursor):
    response = client.get(f"/api/v1/volunteers?cursor={cursor}", headers=f.bearer(world["organizer"]))
    assert response.status_code == 422 and response.json["error"]["code"] in ("invalid_cursor", "validation_failed")


def test_cursor_round_trips_datetimes():
    from datetime import datetime, timezone

    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert paging.decode_cursor(paging.encode_cursor((at, "李", 7))) == (at, "李", 7)


def test_numbered_pages_still_work_for_the_review_queue(client, world):
    page = client.get("/api/v1/volunteers?status=approved&page=2&per_page=1", headers=f.bearer(world["organizer"]))
    assert page.status_code == 200 and page.json["page"] == 2 and page.json["per_page"] == 1
    assert names(page) == ["王*"]  # oldest first: alice, then bob


def test_who_may_not_use_the_directory(client, world):
    for who in ("captain", "alice"):
        response = client.get("/api/v1/volunteers", headers=f.bearer(world[who].account if who == "alice" else world[who]))
        assert response.status_code == 403 and response.json["error"]["code"] == "not_a_reviewer"
    outside = client.get(f"/api/v1/volunteers?region_id={world.tree['community'].id}",
                         headers=f.bearer(world["other_organizer"]))
    assert outside.status_code == 403 and outside.json["error"]["code"] == "region_out_of_scope"
    # Another street's admin stays inside their street.
    street = client.get("/api/v1/volunteers", headers=f.bearer(world["street_admin"]))
    assert names(street) == ["赵*华", "王*", "李*丽"]
    assert client.get(f"/api/v1/volunteers?region_id={world.tree['other_community'].id}",
                      headers=f.bearer(world["street_admin"])).status_code == 403


def test_detail_shows_sign_ups_records_and_teams_masked(client, world):
    held = world.add_attended_activity()
    db.session.commit()
    alice = world["alice"]
    response = client.get(f"/api/v1/volunteers/{alice.id}", headers=f.bearer(world["organizer"]))
    assert response.status_code == 200, response.json
    body = response.json
    assert body["real_name"] == "李*丽" and body["mobile"] == "135****2222"
    assert body["signups"]["total"] == 1 and body["signups"]["recent"][0]["activity_title"] == held.title
    assert body["service"]["record_count"] == 1 and body["service"]["total_minutes"] == 60
    assert body["service"]["total_hours"] == 1.0 and body["service"]["recent"][0]["minutes"] == 60
    bob = client.get(f"/api/v1/volunteers/{world['bob'].id}", headers=f.bearer(world["admin"])).json
    assert [t["name"] for t in bob["teams"]] == [world.team.name]


def test_detail_is_not_found_outside_the_callers_regions(client, world):
    alice = world["alice"]
    for who in ("other_organizer", "other_admin", "other_street_admin"):
        response = client.get(f"/api/v1/volunteers/{alice.id}", headers=f.bearer(world[who]))
        assert response.status_code == 404 and response.json["error"]["code"] == "volunteer_not_found", who
    for who in ("captain", "other_captain"):
        assert client.get(f"/api/v1/volunteers/{alice.id}", headers=f.bearer(world[who])).status_code == 403
    assert client.get(f"/api/v1/volunteers/{alice.id}", headers=f.bearer(world["bob"].account)).status_code == 403


def test_suspend_blocks_sign_up_and_check_in_and_reinstate_lifts_it(client, world, now):
    alice = world["alice"]
    activity = world.add_activity(starts_in=timedelta(minutes=30))
    db.session.commit()
    headers = f.bearer(world["organizer"])
    response = client.post(f"/api/v1/volunteers/{alice.id}/suspend", json={"reason": "多次无故缺席"}, headers=headers)
    assert response.status_code == 200, response.json
    assert response.json["status"] == "suspended" and response.json["suspension_reason"] == "多次无故缺席"
    again = client.post(f"/api/v1/volunteers/{alice.id}/suspend", json={"reason": "再次"}, headers=headers)
    assert again.status_code == 409 and again.json["error"]["code"] == "not_suspendable"
    refused = client.post(f"/api/v1/activities/{activity.id}/signups", json={"join_waitlist": False},
                          headers=f.bearer(alice.account))
    assert refused.status_code == 403 and refused.json["error"]["code"] == "not_approved_volunteer"
    assert names(client.get("/api/v1/volunteers?status=suspended", headers=headers)) == ["李*丽"]
    kinds = db.session.scalars(select(Notification.kind).where(Notification.account_id == alice.account_id)).all()
    assert "account_status" in kinds
    back = client.post(f"/api/v1/volunteers/{alice.id}/reinstate", json={"reason": "已沟通"}, headers=headers)
    assert back.status_code == 200 and back.json["status"] == "approved" and back.json["suspension_reason"] is None
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.target_id == alice.id)
                                 .order_by(AuditLog.id)).all()
    assert actions[-2:] == ["volunteer.suspended", "volunteer.reinstated"]
    twice = client.post(f"/api/v1/volunteers/{alice.id}/reinstate", json={"reason": "x"}, headers=headers)
    assert twice.status_code == 409 and twice.json["error"]["code"] == "not_suspended"


def test_suspending_cancels_future_sign_ups_and_the_waitlist_moves_up(app, client, world, now):
    from app.services import signups

    app.extensions["clock"] = lambda: now
    alice, bob = world["alice"], world["bob"]
    full = world.add_activity(title="满员活动", capacity=1, starts_in=timedelta(days=2))
    later = world.add_activity(title="下周活动", starts_in=timedelta(days=7), signup_mode=SignupMode.APPROVAL)
    started = world.add_activity(title="进行中", starts_in=timedelta(hours=-1))
    at_the_door = world.add_activity(title="门口已签到", starts_in=timedelta(minutes=20))
    signups.apply(alice.account, full.id, join_waitlist=False, now=now)
    signups.apply(bob.account, full.id, join_waitlist=True, now=now + timedelta(seconds=1))
    signups.apply(alice.account, later.id, join_waitlist=False, now=now)
    signups.apply(alice.account, at_the_door.id, join_waitlist=False, now=now)
    db.session.add_all([
        Signup(activity_id=started.id, volunteer_id=alice.id, status=SignupStatus.APPROVED, created_at=now,
               updated_at=now),
        Checkin(activity_id=at_the_door.id, volunteer_id=alice.id, checked_in_at=now,
                checkin_method=CheckinMethod.MANUAL),
    ])
    db.session.commit()
    def state(activity) -> tuple[str, str]:
        rows = dict(db.session.execute(select(Volunteer.real_name, Signup.status).join(
            Volunteer, Volunteer.id == Signup.volunteer_id).where(Signup.activity_id == activity.id)).all())
        return tuple(rows.get(name) and rows[name].value for name in ("李美丽", "王强"))

    assert state(full) == ("approved", "waitlisted") and state(later) == ("pending", None)
    response = client.post(f"/api/v1/volunteers/{alice.id}/suspend", json={"reason": "多次无故缺席"},
                           headers=f.bearer(world["organizer"]))
    assert response.status_code == 200, response.json
    assert response.json["signups_cancelled"] == 2 and response.json["status"] == "suspended"
    db.session.expire_all()
    # Her seat went to bob, first on the waitlist, as on a cancel; the seat count did not move.
    assert state(full) == ("cancelled", "approved") and db.session.get(Activity, full.id).seats_taken == 1
    assert state(later) == ("cancelled", None)
    # What has started, or where she is already checked in, is history and stays.
    assert state(started) == ("approved", None) and state(at_the_door) == ("approved", None)
    promoted = db.session.scalars(select(Notification.payload).where(Notification.account_id == bob.account_id)).all()
    assert any("候补成功" in str(payload) for payload in promoted)
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "volunteer.suspended")).one()
    assert entry.detail["signups_cancelled"] == 2
    # Nothing else to cancel: a reinstated and again suspended volunteer gets 0.
    headers = f.bearer(world["organizer"])
    assert client.post(f"/api/v1/volunteers/{alice.id}/reinstate", json={"reason": "已沟通"},
                       headers=headers).json.get("signups_cancelled") is None
    again = client.post(f"/api/v1/volunteers/{alice.id}/suspend", json={"reason": "再次"}, headers=headers)
    assert again.status_code == 200 and again.json["signups_cancelled"] == 0


def test_a_suspended_volunteer_cannot_check_in(app_context, world, now):
    from app.services import signups, volunteers

    alice = world["alice"]
    # Started already: suspending leaves that sign-up (future ones it cancels), yet she cannot check in.
    held = world.add_activity(starts_in=timedelta(minutes=-10))
    signups.apply(alice.account, held.id, join_waitlist=False, now=now - timedelta(hours=1))
    _, cancelled = volunteers.suspend(world["organizer"], alice.id, reason="调查中", now=now)
    assert cancelled == 0
    rules = checkins.Rules(opens_minutes_before_start=60, checkout_grace_minutes=120, min_minutes_before_checkout=5)
    with pytest.raises(checkins.CheckinError) as refused:
        checkins.manual_entry(world["captain"].id, held.id, volunteer_id=alice.id, reason="测试", nonce="n1",
                              rules=rules, now=now)
    assert refused.value.code == "volunteer_suspended"


@pytest.mark.parametrize("who", ["other_organizer", "other_admin", "other_street_admin", "captain", "other_captain",
                                 "bob"])
def test_outsiders_cannot_suspend_reinstate_or_read_the_number(client, world, who):
    alice = world["alice"]
    caller = world[who].account if who == "bob" else world[who]
    for action in ("suspend", "reinstate", "mobile"):
        response = client.post(f"/api/v1/volunteers/{alice.id}/{action}", json={"reason": "看看"},
                               headers=f.bearer(caller))
        assert response.status_code in (403, 404), (action, response.json)
        assert "13511112222" not in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Volunteer, alice.id).status is VolunteerStatus.APPROVED
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action.in_(("volunteer.suspended", "volunteer.mobile_revealed")))) == 0


def test_the_full_number_needs_a_reason_and_each_read_is_audited_without_it(client, world):
    alice = world["alice"]
    url = f"/api/v1/volunteers/{alice.id}/mobile"
    missing = client.post(url, json={}, headers=f.bearer(world["organizer"]))
    assert missing.status_code == 422
    blank = client.post(url, json={"reason": "   "}, headers=f.bearer(world["organizer"]))
    assert blank.status_code == 422
    for who in ("organizer", "admin"):
        response = client.post(url, json={"reason": "联系活动事宜"}, headers=f.bearer(world[who]))
        assert response.status_code == 200 and response.json == {"mobile": "13511112222"}
    entries = db.session.scalars(select(AuditLog).where(AuditLog.action == "volunteer.mobile_revealed")).all()
    assert len(entries) == 2 and all(e.detail == {"reason": "联系活动事宜"} and e.target_id == alice.id for e in entries)
    assert not any("13511112222" in str(e.detail) for e in entries)


def _sheet_text(body: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(body)) as book:
        return book.read("xl/sharedStrings.xml").decode("utf-8")


def test_export_is_a_masked_spreadsheet_and_audited(client, world):
    response = client.get("/api/v1/volunteers/export.xlsx?status=approved&q=丽", headers=f.bearer(world["organizer"]))
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    text = _sheet_text(response.data)
    assert "李*丽" in text and "135****2222" in text and "13511112222" not in text and "李美丽" not in text
    assert "王*" not in text and "孙*" not in text
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "volunteer.exported")).one()
    assert entry.detail == {"rows": 1, "filters": {"status": "approved", "q": "given"}}


def test_export_refuses_too_many_rows_and_outsiders(client, world, monkeypatch):
    monkeypatch.setattr(directory, "EXPORT_LIMIT", 2)
    response = client.get("/api/v1/volunteers/export.xlsx", headers=f.bearer(world["organizer"]))
    assert response.status_code == 422 and response.json["error"]["code"] == "export_too_large"
    assert response.json["error"]["context"] == {"total": 3, "limit": 2}
    for caller in (world["captain"], world["other_captain"], world["bob"].account):
        assert client.get("/api/v1/volunteers/export.xlsx", headers=f.bearer(caller)).status_code == 403
    far = client.get("/api/v1/volunteers/export.xlsx", headers=f.bearer(world["other_street_admin"]))
    assert far.status_code == 200 and "李*丽" not in _sheet_text(far.data) and "孙*" in _sheet_text(far.data)
    other = client.get("/api/v1/volunteers/export.xlsx", headers=f.bearer(world["other_organizer"]))
    assert other.status_code == 200 and "李*丽" not in _sheet_text(other.data)
