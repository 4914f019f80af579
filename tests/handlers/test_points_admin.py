"""Points administration over HTTP: the ledger of any account for admins, the bonus's reason, the
earning cut-off in the rules, and the activity's points grade in the activity API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from app.services.points import earning
from app.timeutil import to_local
from models import ActivityStatus, RecordKind, RecordSource, ServiceRecord
from tests import factories as f


@pytest.fixture
def world(world, app):
    app.extensions["clock"] = lambda: world.now
    world.build("tree", "org", "organizer", "admin", "other_admin", "alice")
    world["held"] = world.add_activity(starts_in=-timedelta(days=30), status=ActivityStatus.FINISHED)
    world.alice.volunteer_number, world.alice.real_name = "V0001", "张小三"
    db.session.add(ServiceRecord(volunteer_id=world.alice.id, activity_id=world.held.id, kind=RecordKind.ATTENDANCE,
                                 source=RecordSource.SCAN, minutes=600, created_at=world.now))
    db.session.commit()
    earning.catch_up(now=world.now)   # alice holds 100
    return world


def test_a_bonus_needs_a_reason_shown_on_the_volunteers_lines(world, client):
    admin, organizer, alice = f.bearer(world.admin), f.bearer(world.organizer), f.bearer(world.alice.account)
    base = f"/api/v1/organizations/{world.org.id}/points"
    assert client.post(f"{base}/funding", headers=admin, json={"amount": 300, "nonce": "fund-0001"}).status_code == 201
    bonus = {"volunteer_id": world.alice.id, "activity_id": world.held.id, "amount": 10, "nonce": "bonus-001"}
    missing = client.post(f"{base}/bonuses", headers=organizer, json=bonus)
    assert missing.status_code == 422
    blank = client.post(f"{base}/bonuses", headers=organizer, json={**bonus, "reason": "  "})
    assert (blank.status_code, blank.get_json()["error"]["code"]) == (422, "bonus_reason_required")
    long = client.post(f"{base}/bonuses", headers=organizer, json={**bonus, "reason": "长" * 101})
    assert long.get_json()["error"]["code"] == "bonus_reason_too_long"
    given = client.post(f"{base}/bonuses", headers=organizer, json={**bonus, "reason": "暴雨夜坚守岗位"})
    assert given.status_code == 201
    line = client.get("/api/v1/me/points", headers=alice).get_json()["items"][0]
    assert (line["memo"], line["code"], line["counterparty"]) == ("暴雨夜坚守岗位", "bonus", f"{world.org.name} 组织奖励积分池")
    assert client.get(base, headers=organizer).get_json()["items"][0]["memo"] == "暴雨夜坚守岗位"


def test_admins_read_the_ledger_of_an_account_in_their_region(world, client):
    admin, other, organizer = f.bearer(world.admin), f.bearer(world.other_admin), f.bearer(world.organizer)
    district = world.tree["district"].id
    found = client.get(f"/api/v1/regions/{district}/points/accounts?volunteer_number=V0001", headers=admin)
    assert found.status_code == 200, found.get_json()
    [account] = found.get_json()["items"]
    assert (account["name"], account["kind_label"], account["balance"]) == ("志愿者 张*三", "志愿者积分账户", 100)
    assert client.get(f"/api/v1/regions/{district}/points/accounts", headers=other).status_code == 403
    assert client.get(f"/api/v1/regions/{district}/points/accounts", headers=organizer).status_code == 403
    assert client.get(f"/api/v1/regions/{district}/points/accounts?volunteer_number=V404",
                      headers=admin).get_json()["error"]["code"] == "volunteer_not_found"
    system = client.get(f"/api/v1/regions/{district}/points/accounts", headers=admin).get_json()["items"]
    assert [a["name"] for a in system] == ["一社区 积分发行"]
    url = f"/api/v1/points/accounts/{account['id']}"
    page = client.get(f"{url}?limit=1", headers=admin).get_json()
    assert page["account"]["id"] == account["id"] and page["balance"] == 100
    [line] = page["items"]
    assert (line["code_label"], line["counterparty"], line["amount"], line["balance_after"]) == \
        ("服务积分", "一社区 积分发行", 100, 100)
    assert line["origin"] == f"服务记录 #{line['reference'].split(':')[1]}（{world.held.title}）"
    assert page["next_cursor"] is None
    assert client.get(url, headers=other).get_json()["error"]["code"] == "not_admin_of_region"
    assert client.get("/api/v1/points/accounts/999999", headers=admin).status_code == 404
    assert client.get(f"{url}?cursor=garbage", headers=admin).status_code == 422
    assert client.get(url).status_code == 401


def test_the_earning_cut_off_in_the_rules(world, client):
    admin = f.bearer(world.admin)
    url = f"/api/v1/regions/{world.tree['district'].id}/points-rules"
    answer = client.put(url, headers=admin, json={"earning_starts_on": "2027-01-01", "nonce": "rules-0001"})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["own"]["earning_starts_on"] == body["in_force"]["earning_starts_on"] == "2027-01-01"
    assert client.put(url, headers=admin, json={"earning_starts_on": "明年", "nonce": "rules-0002"}).status_code == 422
    cleared = client.put(url, headers=admin, json={"nonce": "rules-0003"}).get_json()
    assert cleared["in_force"]["earning_starts_on"] is None


def test_the_organiser_grades_an_activity_until_it_earned(world, client):
    organizer, alice = f.bearer(world.organizer), f.bearer(world.alice.account)
    grades = client.get(f"/api/v1/regions/{world.tree['community'].id}/points-grades", headers=alice).get_json()
    assert [g["label"] for g in grades["grades"]] == ["一级", "二级", "三级"] and grades["points_per_hour"] == 10
    start = to_local(world.now + timedelta(days=3)).replace(microsecond=0)
    body = {"organization_id": world.org.id, "region_id": world.tree["community"].id, "title": "防汛值守",
            "address": "一社区堤坝", "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=3)).isoformat(),
            "capacity": 10, "points_grade": 2}
    created = client.post("/api/v1/activities", headers=organizer, json=body)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["points_grade"] == 2
    assert client.post("/api/v1/activities", headers=organizer, json={**body, "points_grade": 4}).status_code == 422
    activity_id = created.get_json()["id"]
    patched = client.patch(f"/api/v1/activities/{activity_id}", headers=organizer, json={"points_grade": None})
    assert patched.status_code == 200 and patched.get_json()["points_grade"] is None
    # The finished activity earned for alice: its grade is history (and the activity is closed anyway).
    ongoing = world.add_activity(starts_in=-timedelta(hours=1))
    db.session.add(ServiceRecord(volunteer_id=world.alice.id, activity_id=ongoing.id, kind=RecordKind.ATTENDANCE,
                                 source=RecordSource.SCAN, minutes=30, created_at=world.now))
    db.session.commit()
    earning.catch_up(now=world.now)
    refused = client.patch(f"/api/v1/activities/{ongoing.id}", headers=organizer, json={"points_grade": 3})
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (409, "points_grade_locked")
    assert "不会" in refused.get_json()["error"]["message"]
