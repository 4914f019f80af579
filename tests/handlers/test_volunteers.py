"""Volunteer registration, /me, and review through the HTTP API."""

from __future__ import annotations


import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.resident_id import check_character
from models import AuditLog, Notification, Volunteer, VolunteerStatus
from tests import factories as f

ID_FIRST17 = "11010519900307123"  # born 1990-03-07, male (2nd-to-last digit 3 is odd)
ID_NUMBER = ID_FIRST17 + check_character(ID_FIRST17)


@pytest.fixture
def world(world):
    """Regions, an organisation in district 甲区, its organiser, an admin of 乙区, and a fresh account."""
    world.build("tree", "org", "other_org", "organizer", "other_organizer")
    world["admin"] = f.admin("sim_admin_other", world.tree["other_district"], world.now)
    world["newcomer"] = f.account("sim_new", world.now)
    f.subscribe_credit(world["newcomer"], "registration_result", world.now)
    db.session.commit()
    return world


def registration(world, **changes):
    body = dict(real_name="王小明", mobile="13912345678", id_number=ID_NUMBER, categories=["youth", "party_member"],
                skills=["急救", "摄影"], region_id=world["tree"]["community"].id)
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def test_register_creates_a_pending_archive_with_derived_identity(client, world):
    response = client.post("/api/v1/volunteers", json=registration(world), headers=f.bearer(world["newcomer"]))
    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "pending"
    assert body["birth_date"] == "1990-03-07" and body["gender"] == "male"
    assert body["mobile"] == "13912345678" and body["id_number"] == ID_NUMBER  # the owner sees it unmasked
    stored = db.session.scalar(select(Volunteer))
    assert ID_NUMBER.encode() not in stored.id_number_encrypted  # encrypted at rest
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "volunteer.registered")) == 1


def test_registering_twice_is_a_conflict(client, world):
    headers = f.bearer(world["newcomer"])
    assert client.post("/api/v1/volunteers", json=registration(world), headers=headers).status_code == 201
    again = client.post("/api/v1/volunteers", json=registration(world), headers=headers)
    assert again.status_code == 409 and again.json["error"]["code"] == "already_registered"


def test_an_id_number_registers_once(client, world, now):
    assert client.post("/api/v1/volunteers", json=registration(world), headers=f.bearer(world["newcomer"])).status_code == 201
    second = f.account("sim_second", now)
    db.session.commit()
    response = client.post("/api/v1/volunteers", json=registration(world), headers=f.bearer(second))
    assert response.status_code == 409 and response.json["error"]["code"] == "id_number_taken"
    assert db.session.scalar(select(func.count()).select_from(Volunteer)) == 1


@pytest.mark.parametrize("changes, code, field", [
    ({"id_number": ID_FIRST17 + ("0" if check_character(ID_FIRST17) != "0" else "1")}, "invalid_id_number", "id_number"),
    ({"mobile": "12345678901"}, "validation_failed", "mobile"),
    ({"mobile": "1391234567"}, "validation_failed", "mobile"),
    ({"real_name": "x"}, "validation_failed", "real_name"),
    ({"categories": ["astronaut"]}, "validation_failed", "categories.0"),
    ({"skills": ["技能" * 11] * 21}, "validation_failed", "skills"),
    ({"id_number": None, "birth_date": None}, "birth_date_required", "birth_date"),
    ({"id_number": None, "birth_date": "2099-01-01"}, "invalid_birth_date", "birth_date"),
    ({"birth_date": "1991-01-01"}, "birth_date_mismatch", "birth_date"),
    ({"nickname": "x"}, "validation_failed", "nickname"),
])
def test_bad_registrations_are_refused_with_a_field(client, world, changes, code, field):
    response = client.post("/api/v1/volunteers", json=registration(world, **changes), headers=f.bearer(world["newcomer"]))
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == code
    assert field in response.json["error"]["fields"]
    assert db.session.scalar(select(func.count()).select_from(Volunteer)) == 0


def test_region_must_exist_and_be_a_community(client, world):
    headers = f.bearer(world["newcomer"])
    street = client.post("/api/v1/volunteers", json=registration(world, region_id=world["tree"]["street"].id), headers=headers)
    assert street.status_code == 422 and street.json["error"]["code"] == "region_not_community"
    missing = client.post("/api/v1/volunteers", json=registration(world, region_id=99999), headers=headers)
    assert missing.status_code == 422 and missing.json["error"]["code"] == "region_not_found"


def test_minors_need_a_guardian(client, world):
    headers = f.bearer(world["newcomer"])
    minor = registration(world, id_number=None, birth_date="2010-06-01")
    refused = client.post("/api/v1/volunteers", json=minor, headers=headers)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "guardian_required"
    assert set(refused.json["error"]["fields"]) == {"guardian_name", "guardian_mobile"}
    accepted = client.post("/api/v1/volunteers", json={**minor, "guardian_name": "王大明", "guardian_mobile": "13800001111"},
                           headers=headers)
    assert accepted.status_code == 201


def test_api_requires_a_valid_token(client, world):
    assert client.get("/api/v1/me").json["error"]["code"] == "missing_token"
    bad = client.get("/api/v1/me", headers={"Authorization": "Bearer forged.token.value"})
    assert bad.status_code == 401 and bad.json["error"]["code"] == "invalid_token"


def test_a_token_of_an_unknown_account_is_refused(client, world):
    from app.extensions import settings
    from app.services import accounts

    token = accounts.issue_token(2_000_000_000, settings()["app"]["secret_key"])
    refused = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401 and refused.json["error"]["code"] == "invalid_token"


def test_expired_token_is_refused(make_app, world, monkeypatch):
    import time as real_time

    import itsdangerous.timed

    token = f.token_for(world["newcomer"])  # both apps sign with the same default secret key
    db.session.commit()  # end the read above: an open transaction would hold SQLite's write lock
    short = make_app(app={"token_ttl_seconds": 60})
    client = short.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).json["error"]["code"] == "not_registered"  # still valid

    class Later:
        @staticmethod
        def time():
            return real_time.time() + 61

    monkeypatch.setattr(itsdangerous.timed, "time", Later)
    expired = client.get("/api/v1/me", headers=headers)
    assert expired.status_code == 401 and expired.json["error"]["code"] == "token_expired"


def test_me_before_registering_is_not_found(client, world):
    response = client.get("/api/v1/me", headers=f.bearer(world["newcomer"]))
    assert response.status_code == 404 and response.json["error"]["code"] == "not_registered"


def test_patch_me_changes_only_self_editable_fields(client, world):
    headers = f.bearer(world["newcomer"])
    client.post("/api/v1/volunteers", json=registration(world), headers=headers)
    changed = client.patch("/api/v1/me", json={"mobile": "13700000000", "skills": ["法律咨询"],
                                               "region_id": world["tree"]["community2"].id}, headers=headers)
    assert changed.status_code == 200
    assert changed.json["mobile"] == "13700000000" and changed.json["skills"] == ["法律咨询"]
    assert changed.json["region"]["id"] == world["tree"]["community2"].id
    for forbidden in ({"real_name": "李四"}, {"status": "approved"}, {"id_number": ID_NUMBER}, {"mobile": None}):
        response = client.patch("/api/v1/me", json=forbidden, headers=headers)
        assert response.status_code == 422, forbidden
    me = client.get("/api/v1/me", headers=headers).json
    assert me["real_name"] == "王小明" and me["status"] == "pending" and me["mobile"] == "13700000000"


def test_organizer_lists_pending_in_scope_with_masked_contacts(client, world, now):
    client.post("/api/v1/volunteers", json=registration(world), headers=f.bearer(world["newcomer"]))
    outsider = f.account("sim_outsider", now)
    f.volunteer(outsider, world["tree"]["other_community"], now, mobile="13600000000")
    db.session.commit()
    page = client.get("/api/v1/volunteers?status=pending", headers=f.bearer(world["organizer"]))
    assert page.status_code == 200
    assert page.json["total"] == 1
    item = page.json["items"][0]
    assert item["mobile"] == "139****5678" and item["real_name"] == "王*明"
    assert "id_number" not in item
    other = client.get("/api/v1/volunteers", headers=f.bearer(world["other_organizer"])).json
    assert [v["mobile"] for v in other["items"]] == ["136****0000"]


def test_plain_volunteers_cannot_list_or_review(client, world):
    headers = f.bearer(world["newcomer"])
    client.post("/api/v1/volunteers", json=registration(world), headers=headers)
    volunteer_id = db.session.scalar(select(Volunteer.id))
    assert client.get("/api/v1/volunteers", headers=headers).status_code == 403
    response = client.post(f"/api/v1/volunteers/{volunteer_id}/review", json={"decision": "approve"}, headers=headers)
    assert response.status_code == 403 and response.json["error"]["code"] == "not_a_reviewer"


def test_review_outside_scope_is_forbidden_and_changes_nothing(client, world):
    client.post("/api/v1/volunteers", json=registration(world), headers=f.bearer(world["newcomer"]))
    volunteer_id = db.session.scalar(select(Volunteer.id))
    for outsider in ("other_organizer", "admin"):
        response = client.post(f"/api/v1/volunteers/{volunteer_id}/review", json={"decision": "approve"},
                               headers=f.bearer(world[outsider]))
        assert response.status_code == 403 and response.json["error"]["code"] == "out_of_scope"
    db.session.expire_all()
    assert db.session.get(Volunteer, volunteer_id).status is VolunteerStatus.PENDING
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


def test_approval_notifies_once_and_cannot_be_repeated(client, world):
    client.post("/api/v1/volunteers", json=registration(world), headers=f.bearer(world["newcomer"]))
    volunteer_id = db.session.scalar(select(Volunteer.id))
    url = f"/api/v1/volunteers/{volunteer_id}/review"
    approved = client.post(url, json={"decision": "approve"}, headers=f.bearer(world["organizer"]))
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    again = client.post(url, json={"decision": "reject", "reason": "重复"}, headers=f.bearer(world["organizer"]))
    assert again.status_code == 409 and again.json["error"]["code"] == "not_pending"
    notes = db.session.scalars(select(Notification)).all()
    assert len(notes) == 1
    assert notes[0].payload["data"]["phrase2"] == "已通过"
    assert notes[0].account_id == world["newcomer"].id


def test_rejection_needs_a_reason_and_the_volunteer_can_resubmit(client, world):
    headers = f.bearer(world["newcomer"])
    client.post("/api/v1/volunteers", json=registration(world), headers=headers)
    volunteer_id = db.session.scalar(select(Volunteer.id))
    url = f"/api/v1/volunteers/{volunteer_id}/review"
    no_reason = client.post(url, json={"decision": "reject"}, headers=f.bearer(world["organizer"]))
    assert no_reason.status_code == 422 and no_reason.json["error"]["code"] == "reason_required"
    reason = "所填社区与身份证地址不符，请核实后重新提交注册信息谢谢配合"
    rejected = client.post(url, json={"decision": "reject", "reason": reason}, headers=f.bearer(world["organizer"]))
    assert rejected.status_code == 200 and rejected.json["rejection_reason"] == reason
    note = db.session.scalar(select(Notification))
    assert note.payload["data"]["phrase2"] == "未通过"
    assert len(note.payload["data"]["thing3"]) <= 20 and note.payload["data"]["thing3"].endswith("…")
    resubmitted = client.post("/api/v1/volunteers", json=registration(world, region_id=world["tree"]["community2"].id),
                              headers=headers)
    assert resubmitted.status_code == 201 and resubmitted.json["status"] == "pending"
    assert resubmitted.json["rejection_reason"] is None


def test_review_of_unknown_volunteer_is_not_found(client, world):
    response = client.post("/api/v1/volunteers/424242/review", json={"decision": "approve"}, headers=f.bearer(world["organizer"]))
    assert response.status_code == 404 and response.json["error"]["code"] == "volunteer_not_found"


def test_organizer_of_an_unapproved_organization_cannot_review(client, world, now):
    from models import OrganizationStatus

    pending_org = f.organization("未审核组织", world["tree"]["district"], now, status=OrganizationStatus.PENDING)
    organizer = f.organizer("sim_pending_org", pending_org, now)
    db.session.commit()
    assert client.get("/api/v1/volunteers", headers=f.bearer(organizer)).status_code == 403
