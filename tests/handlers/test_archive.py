"""A volunteer's archive over HTTP: the 2012 记录办法's fields, who reads it, award and complaint
entries (append-only, retracted by a new entry), attendee evaluations with history, activity reports."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.extensions import db
from app.services import checkins, signups, uploads
from models import ActivityKind, ActivityReport, ArchiveEntry, AttendeeEvaluation, AuditLog, UploadPurpose
from tests import factories as f

RULES = checkins.Rules(opens_minutes_before_start=60, checkout_grace_minutes=120, min_minutes_before_checkout=5)


def attend(world, activity, volunteer, minutes: int) -> None:
    """`volunteer` signs up and the captain checks them in and out by hand (one attendance record)."""
    signups.apply(volunteer.account, activity.id, join_waitlist=False, now=world.now)
    for nonce, at in ((f"in-{activity.id}-{volunteer.id}", activity.starts_at),
                      (f"out-{activity.id}-{volunteer.id}", activity.starts_at + timedelta(minutes=minutes))):
        checkins.manual_entry(world.captain.id, activity.id, volunteer_id=volunteer.id, reason="测试", nonce=nonce,
                              rules=RULES, now=at)


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def world(world, app):
    """`held`: a service activity alice served an hour at (finished by the clock); `training`: a training she
    attended for 30 minutes after it; `coming`: tomorrow's activity; bob attended nothing."""
    world.build("tree", "org", "team", "captain", "organizer", "other_org", "other_organizer", "other_captain",
                "admin", "other_admin", "city_admin", "alice", "bob")
    held = world.add_attended_activity()
    held.beneficiary, held.lead_name = "一社区空巢老人", "李队长"
    training = world.add_activity(kind=ActivityKind.TRAINING, title="应急救护培训", address="社区活动室",
                                  starts_in=timedelta(hours=4, minutes=5), duration=timedelta(minutes=30))
    attend(world, training, world.alice, 30)
    world["held"], world["training"] = held, training
    world["coming"] = world.add_activity(starts_in=timedelta(days=2), title="明天的活动")
    world["headers"] = world.bearers("captain", "organizer", "other_organizer", "other_captain", "admin",
                                     "other_admin", "city_admin", "alice", "bob")
    db.session.commit()
    app.extensions["clock"] = lambda: world.now + timedelta(hours=6)
    return world


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_the_volunteer_sees_every_section_with_the_fields_of_the_2012_rules(client, world):
    h = world["headers"]
    held = world["held"]
    assert client.put(f"/api/v1/activities/{held.id}/evaluations", headers=h["captain"], json={
        "items": [{"volunteer_id": world.alice.id, "rating": "excellent", "note": "耐心细致"}],
        "nonce": "evaluate-1"}).status_code == 200
    assert client.post(f"/api/v1/volunteers/{world.alice.id}/archive/entries", headers=h["organizer"], json={
        "kind": "award", "title": "优秀志愿者", "issuer": "甲区文明办", "occurred_on": "2026-11-01",
        "organization_id": world.org.id, "reason": "甲文明〔2026〕12号", "nonce": "award-0001"}).status_code == 201
    response = client.get("/api/v1/me/archive", headers=h["alice"])
    assert response.status_code == 200, response.json
    body = response.json
    assert body["volunteer"]["name"] == "张三丰" and body["volunteer"]["id"] == world.alice.id
    [record] = body["records"]
    assert {key: record[key] for key in ("name", "activity_date", "place", "beneficiary", "content", "minutes",
                                         "hours", "evaluation", "evaluation_note", "lead")} == {
        "name": "敬老院陪伴服务", "activity_date": "2026-11-23", "place": "一社区敬老院", "beneficiary": "一社区空巢老人",
        "content": "陪老人聊天、读报", "minutes": 60, "hours": 1.0, "evaluation": "excellent",
        "evaluation_note": "耐心细致", "lead": "李队长"}
    assert record["recorder"]["organization_name"] == "甲区志愿者协会"
    assert record["sources"] == ["scan"] and [e["minutes"] for e in record["entries"]] == [60]
    [training] = body["trainings"]
    assert training["name"] == "应急救护培训" and training["minutes"] == 30 and training["place"] == "社区活动室"
    [award] = body["awards"]
    assert award["title"] == "优秀志愿者" and award["issuer"] == "甲区文明办" and award["retraction"] is None
    [evaluation] = body["evaluations"]
    assert evaluation["rating"] == "excellent" and evaluation["label"] == "优秀" and evaluation["history"] == []
    assert body["complaints"] == []
    assert body["totals"] == {"service_minutes": 60, "service_hours": 1.0, "service_activities": 1,
                              "training_minutes": 30, "trainings": 1, "awards": 1, "complaints": 0}


def test_a_period_narrows_every_section(client, world):
    h = world["headers"]
    client.post(f"/api/v1/volunteers/{world.alice.id}/archive/entries", headers=h["admin"], json={
        "kind": "award", "title": "年度之星", "occurred_on": "2025-12-01", "reason": "区表彰文件", "nonce": "award-old-1"})
    within = client.get("/api/v1/me/archive?from=2026-01-01&to=2026-12-31", headers=h["alice"]).json
    assert len(within["records"]) == 1 and within["awards"] == []
    before = client.get("/api/v1/me/archive?to=2025-12-31", headers=h["alice"]).json
    assert before["records"] == [] and [a["title"] for a in before["awards"]] == ["年度之星"]
    bad = client.get("/api/v1/me/archive?from=2026-12-31&to=2026-01-01", headers=h["alice"])
    assert bad.status_code == 422 and bad.json["error"]["code"] == "validation_failed"


@pytest.mark.parametrize("who, status", [("organizer", 200), ("admin", 200), ("city_admin", 200),
                                         ("other_organizer", 404), ("other_admin", 404), ("captain", 403),
                                         ("bob", 403)])
def test_who_reads_a_volunteers_archive(client, world, who, status):
    response = client.get(f"/api/v1/volunteers/{world.alice.id}/archive", headers=world["headers"][who])
    assert response.status_code == status, response.json
    if status == 200:
        assert response.json["volunteer"]["name"] == "张*丰" and len(response.json["records"]) == 1


def test_a_newcomer_without_an_archive_is_told_to_register(client, world):
    response = client.get("/api/v1/me/archive", headers=world["headers"]["captain"])
    assert response.status_code == 404 and response.json["error"]["code"] == "not_registered"


def test_complaints_are_appended_and_retracted_by_a_new_entry_once(client, world):
    h = world["headers"]
    url = f"/api/v1/volunteers/{world.alice.id}/archive/entries"
    complaint = {"kind": "complaint", "title": "服务迟到", "detail": "服务对象反映迟到半小时", "issuer": "服务对象家属",
                 "occurred_on": "2026-11-20", "organization_id": world.org.id, "reason": "投诉受理单 2026-031",
                 "nonce": "complaint-01"}
    first = client.post(url, json=complaint, headers=h["organizer"])
    assert first.status_code == 201 and first.json["kind"] == "complaint"
    again = client.post(url, json=complaint, headers=h["organizer"])
    assert again.status_code == 201 and again.json["id"] == first.json["id"] and again.headers["Idempotent-Replayed"]
    assert count(ArchiveEntry) == 1
    retract = f"{url}/{first.json['id']}/retraction"
    done = client.post(retract, json={"reason": "经核实为误报", "organization_id": world.org.id, "nonce": "retract-01"},
                       headers=h["organizer"])
    assert done.status_code == 201 and done.json["reason"] == "经核实为误报"
    twice = client.post(retract, json={"reason": "重复撤销", "nonce": "retract-02"}, headers=h["admin"])
    assert twice.status_code == 409 and twice.json["error"]["code"] == "already_retracted"
    of_retraction = client.post(f"{url}/{done.json['id']}/retraction", json={"reason": "撤销撤销", "nonce": "retract-03"},
                                headers=h["admin"])
    assert of_retraction.status_code == 404 and of_retraction.json["error"]["code"] == "archive_entry_not_found"
    body = client.get("/api/v1/me/archive", headers=h["alice"]).json
    [shown] = body["complaints"]
    assert shown["title"] == "服务迟到" and shown["retraction"]["reason"] == "经核实为误报"
    assert body["totals"]["complaints"] == 0
    assert count(ArchiveEntry) == 2  # nothing was changed: the retraction is a row of its own
    actions = set(db.session.scalars(select(AuditLog.action).where(AuditLog.target_id == world.alice.id)))
    assert {"archive.complaint_added", "archive.complaint_retracted"} <= actions


@pytest.mark.parametrize("who, body, status, code", [
    ("organizer", {}, 422, "organization_required"),
    ("organizer", {"organization_id": "other"}, 403, "not_organizer"),
    ("other_organizer", {"organization_id": "other"}, 404, "volunteer_not_found"),
    ("captain", {}, 403, "not_a_reviewer"),
    ("alice", {}, 403, "not_a_reviewer"),
    ("organizer", {"organization_id": "org", "occurred_on": "2099-01-01"}, 422, "validation_failed"),
])
def test_refused_entries_change_nothing(client, world, who, body, status, code):
    values = {"kind": "award", "title": "优秀志愿者", "occurred_on": "2026-11-01", "reason": "表彰文件", "nonce": "refused-1",
              **body}
    if "organization_id" in values:
        values["organization_id"] = world.org.id if values["organization_id"] == "org" else world.other_org.id
    response = client.post(f"/api/v1/volunteers/{world.alice.id}/archive/entries", json=values,
                           headers=world["headers"][who])
    assert response.status_code == status and response.json["error"]["code"] == code
    assert count(ArchiveEntry) == 0


def test_an_admin_over_the_volunteer_records_without_an_organisation(client, world):
    response = client.post(f"/api/v1/volunteers/{world.alice.id}/archive/entries", headers=world["headers"]["admin"],
                           json={"kind": "award", "title": "抗疫先进个人", "occurred_on": "2026-10-01",
                                 "reason": "区委表彰决定", "nonce": "admin-award-1"})
    assert response.status_code == 201 and response.json["organization"] is None


def test_captains_rate_attendees_and_history_is_kept(client, world):
    h = world["headers"]
    url = f"/api/v1/activities/{world['held'].id}/evaluations"
    item = {"volunteer_id": world.alice.id, "rating": "qualified", "note": "按时到岗"}
    first = client.put(url, json={"items": [item], "nonce": "rate-0001"}, headers=h["captain"])
    assert first.status_code == 200 and first.json["changed"] == 1
    [line] = first.json["attendees"]
    assert line["rating"] == "qualified" and line["revision"] == 1 and line["name"] == "张*丰"
    same = client.put(url, json={"items": [item], "nonce": "rate-0002"}, headers=h["organizer"])
    assert same.status_code == 200 and same.json["changed"] == 0
    better = client.put(url, json={"items": [{**item, "rating": "excellent", "note": "表现突出"}], "nonce": "rate-0003"},
                        headers=h["organizer"])
    assert better.json["changed"] == 1 and better.json["attendees"][0]["revision"] == 2
    assert count(AttendeeEvaluation) == 2
    [evaluation] = client.get("/api/v1/me/archive", headers=h["alice"]).json["evaluations"]
    assert evaluation["rating"] == "excellent" and [r["rating"] for r in evaluation["history"]] == ["qualified"]
    listed = client.get(url, headers=h["captain"])
    assert listed.status_code == 200 and listed.json["attendees"][0]["rating"] == "excellent"


@pytest.mark.parametrize("who, target, activity, status, code", [
    ("other_captain", "alice", "held", 403, "not_activity_manager"),
    ("other_organizer", "alice", "held", 403, "not_activity_manager"),
    ("alice", "alice", "held", 403, "not_activity_manager"),
    ("captain", "bob", "held", 422, "not_an_attendee"),
    ("captain", "alice", "coming", 409, "activity_not_held"),
])
def test_refused_evaluations_write_nothing(client, world, who, target, activity, status, code):
    response = client.put(f"/api/v1/activities/{world[activity].id}/evaluations", headers=world["headers"][who],
                          json={"items": [{"volunteer_id": world[target].id, "rating": "unqualified"}],
                                "nonce": "refused-rating-1"})
    assert response.status_code == status and response.json["error"]["code"] == code
    assert count(AttendeeEvaluation) == 0


def test_one_volunteer_twice_in_one_put_is_refused(client, world):
    item = {"volunteer_id": world.alice.id, "rating": "qualified"}
    response = client.put(f"/api/v1/activities/{world['held'].id}/evaluations", headers=world["headers"]["captain"],
                          json={"items": [item, {**item, "rating": "excellent"}], "nonce": "twice-rating-1"})
    assert response.status_code == 422 and "items[1].volunteer_id" in response.json["error"]["fields"]


def photo(world, owner) -> str:
    return uploads.store(owner.id, UploadPurpose.ACTIVITY_PHOTO, jpeg(), content_type="image/jpeg", now=world.now,
                         width=8, height=6, thumbnail=jpeg()).token


def test_organisers_report_a_held_activity_with_photos_and_revisions_are_kept(client, world):
    h = world["headers"]
    mine = [photo(world, world.organizer) for _ in range(2)]
    captains = photo(world, world.captain)
    db.session.commit()
    url = f"/api/v1/activities/{world['held'].id}/report"
    assert client.get(url, headers=h["organizer"]).json["error"]["code"] == "report_not_found"
    first = client.put(url, json={"summary": "陪伴老人12位，读报两小时。", "photos": mine, "nonce": "report-0001"},
                       headers=h["organizer"])
    assert first.status_code == 200, first.json
    assert first.json["revision"] == 1 and [p["token"] for p in first.json["photos"]] == mine
    assert all(p["url"] and p["thumbnail_url"] for p in first.json["photos"])
    # The captain keeps the organiser's photos and adds one of their own: a second revision.
    second = client.put(url, json={"summary": "陪伴老人12位。", "photos": [*mine, captains], "nonce": "report-0002"},
                        headers=h["captain"])
    assert second.status_code == 200 and second.json["revision"] == 2 and len(second.json["photos"]) == 3
    same = client.put(url, json={"summary": "陪伴老人12位。", "photos": [*mine, captains], "nonce": "report-0003"},
                      headers=h["captain"])
    assert same.json["revision"] == 2 and count(ActivityReport) == 2
    for who in ("organizer", "captain", "admin", "city_admin"):
        read = client.get(url, headers=h[who])
        assert read.status_code == 200 and read.json["summary"] == "陪伴老人12位。"
    for who in ("alice", "other_admin", "other_organizer"):
        assert client.get(url, headers=h[who]).status_code == 403
    [record] = client.get("/api/v1/me/archive", headers=h["alice"]).json["records"]
    assert record["summary"] == "陪伴老人12位。"


@pytest.mark.parametrize("who, activity, photos, status, code", [
    ("organizer", "coming", "own", 409, "activity_not_held"),
    ("other_organizer", "held", "none", 403, "not_activity_manager"),
    ("alice", "held", "none", 403, "not_activity_manager"),
    ("organizer", "held", "captains", 422, "upload_not_found"),
    ("organizer", "held", "too_many", 422, "validation_failed"),
])
def test_refused_reports_write_nothing(client, world, who, activity, photos, status, code):
    tokens = {"own": lambda: [photo(world, world.organizer)], "none": lambda: [],
              "captains": lambda: [photo(world, world.captain)],
              "too_many": lambda: [photo(world, world.organizer) for _ in range(21)]}[photos]()
    db.session.commit()
    response = client.put(f"/api/v1/activities/{world[activity].id}/report", headers=world["headers"][who],
                          json={"summary": "活动总结", "photos": tokens, "nonce": "refused-report-1"})
    assert response.status_code == status and response.json["error"]["code"] == code
    assert count(ActivityReport) == 0


def test_activities_carry_beneficiary_and_lead(client, world):
    response = client.patch(f"/api/v1/activities/{world['coming'].id}", headers=world["headers"]["organizer"],
                            json={"beneficiary": "社区独居老人", "lead_name": "王组长"})
    assert response.status_code == 200
    assert response.json["beneficiary"] == "社区独居老人" and response.json["lead_name"] == "王组长"

