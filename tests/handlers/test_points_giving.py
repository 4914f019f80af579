"""Points over HTTP beyond the balance: rules per region, gifts, an organisation's pool and bonuses,
ranking consent and rankings; bad input (422), permissions (401/403), retries by nonce."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from app.services.points import earning
from models import ActivityStatus, RecordKind, RecordSource, ServiceRecord
from tests import factories as f


@pytest.fixture
def world(world):
    world.build("tree", "org", "organizer", "admin", "alice", "bob")
    world["held"] = world.add_activity(starts_in=-timedelta(days=30), status=ActivityStatus.FINISHED)
    world.alice.volunteer_number, world.bob.volunteer_number = "V0001", "V0002"
    world.alice.real_name = "张小三"
    db.session.add(ServiceRecord(volunteer_id=world.alice.id, activity_id=world.held.id, kind=RecordKind.ATTENDANCE,
                                 source=RecordSource.SCAN, minutes=600, created_at=world.now))
    db.session.commit()
    earning.catch_up(now=world.now)   # alice holds 100
    return world


def test_rules_read_set_and_cleared_by_admins_only(world, client):
    admin, organizer = f.bearer(world.admin), f.bearer(world.organizer)
    district = world.tree["district"].id
    url = f"/api/v1/regions/{district}/points-rules"
    assert client.get(url, headers=organizer).status_code == 403
    answer = client.put(url, headers=admin, json={"yearly_cap": 1500, "grade_coefficients": [1, 1.2, 1.5],
                                                 "nonce": "rules-0001"})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["in_force"]["yearly_cap"] == 1500 and body["in_force"]["origins"]["yearly_cap"] == district
    assert body["own"]["points_per_hour"] is None and body["in_force"]["points_per_hour"] == 10
    # The console says 「继承自 …」 by these names; a default value has no region, hence no name.
    assert body["in_force"]["origin_names"] == {str(district): world.tree["district"].name}
    assert client.put(url, headers=admin, json={"yearly_cap": -1, "nonce": "rules-0002"}).status_code == 422
    assert client.put(url, headers=admin, json={"grade_coefficients": [1, 20, 1], "nonce": "rules-0003"}).get_json()[
        "error"]["code"] == "invalid_points_rules"
    assert client.put(url, headers=admin, json={"bogus": 1, "nonce": "rules-0004"}).status_code == 422
    assert client.delete(url, headers=admin).get_json()["own"] is None


def test_a_gift_by_nonce_moves_points_once(world, client):
    alice = f.bearer(world.alice.account)
    body = {"to_volunteer_number": "V0002", "amount": 30, "nonce": "gift-0001"}
    first = client.post("/api/v1/me/points/gifts", headers=alice, json=body)
    again = client.post("/api/v1/me/points/gifts", headers=alice, json=body)
    assert first.status_code == again.status_code == 201 and first.get_json()["id"] == again.get_json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert client.get("/api/v1/me/points", headers=alice).get_json()["balance"] == 70
    assert client.post("/api/v1/me/points/gifts", headers=alice,
                       json={"to_volunteer_number": "V0002", "amount": 0, "nonce": "gift-0002"}).status_code == 422
    assert client.post("/api/v1/me/points/gifts", headers=alice,
                       json={"to_volunteer_number": "V0002", "amount": 5}).status_code == 422
    refused = client.post("/api/v1/me/points/gifts", headers=alice,
                          json={"to_volunteer_number": "V0002", "amount": 201, "nonce": "gift-0003"})
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (409, "gift_limit_exceeded")
    missing = client.post("/api/v1/me/points/gifts", headers=alice,
                          json={"to_volunteer_number": "V404", "amount": 5, "nonce": "gift-0004"})
    assert missing.status_code == 404
    garbled = client.post("/api/v1/me/points/gifts", headers={**alice, "Content-Type": "application/json"},
                          data="{not json")
    assert garbled.status_code in (400, 422) and "error" in garbled.get_json()
    assert client.post("/api/v1/me/points/gifts", json=body).status_code == 401
    assert client.post("/api/v1/me/points/gifts", headers=f.bearer(world.organizer),
                       json={**body, "nonce": "gift-0005"}).status_code == 403


def test_pool_funding_bonuses_and_the_pool_view(world, client):
    admin, organizer, alice = f.bearer(world.admin), f.bearer(world.organizer), f.bearer(world.alice.account)
    base = f"/api/v1/organizations/{world.org.id}/points"
    assert client.post(f"{base}/funding", headers=organizer, json={"amount": 100, "nonce": "fund-0001"}).status_code == 403
    assert client.post(f"{base}/funding", headers=admin, json={"amount": 300, "nonce": "fund-0002"}).status_code == 201
    bonus = {"volunteer_id": world.alice.id, "activity_id": world.held.id, "amount": 40, "reason": "暴雨夜坚守岗位",
             "nonce": "bonus-001"}
    assert client.post(f"{base}/bonuses", headers=admin, json=bonus).status_code == 403
    assert client.post(f"{base}/bonuses", headers=organizer, json=bonus).status_code == 201
    assert client.post(f"{base}/bonuses", headers=organizer, json=bonus).status_code == 201   # replayed
    capped = client.post(f"{base}/bonuses", headers=organizer, json={**bonus, "amount": 61, "nonce": "bonus-002"})
    assert capped.get_json()["error"]["code"] == "bonus_cap_exceeded"
    assert client.post(f"{base}/bonuses", headers=organizer, json={**bonus, "volunteer_id": 0}).status_code == 422
    view = client.get(base, headers=organizer).get_json()
    assert view["balance"] == 260 and [i["code"] for i in view["items"]] == ["bonus", "fund"]
    assert client.get(base, headers=alice).status_code == 403
    assert client.get(f"{base}?limit=0", headers=organizer).status_code == 422
    assert client.get("/api/v1/me/points", headers=alice).get_json()["balance"] == 140


def test_ranking_consent_is_off_until_turned_on(world, client):
    alice, admin = f.bearer(world.alice.account), f.bearer(world.admin)
    assert client.get("/api/v1/me/points/ranking-consent", headers=alice).get_json() == {"consented": False}
    url = f"/api/v1/regions/{world.tree['city'].id}/points/ranking"
    assert client.get(url, headers=admin).get_json()["items"] == []
    mine = client.get(f"/api/v1/organizations/{world.org.id}/points/ranking", headers=alice).get_json()
    assert mine["me"] == {"rank": 1, "points": 100, "shown": False}
    assert client.put("/api/v1/me/points/ranking-consent", headers=alice, json={"consented": True}).get_json() == {
        "consented": True}
    assert client.get(url, headers=admin).get_json()["items"] == [{"rank": 1, "name": "张*三", "points": 100}]
    assert client.put("/api/v1/me/points/ranking-consent", headers=alice, json={"consented": "maybe"}).status_code == 422
    assert client.get(f"{url}?year=1999", headers=admin).status_code == 422
    assert client.get(url).status_code == 401
