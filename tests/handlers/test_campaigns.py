"""Festival campaigns over HTTP: who opens them, linking activities, the yearly count."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from tests import factories as f


@pytest.fixture
def world(app, now):
    with app.app_context():
        w = f.World(now).build("tree", "org", "other_org")
        w["activity"] = w.add_activity(of_team=False, starts_in=timedelta(days=10))  # 12-3, near 12-5
        w.build("organizer", "other_organizer")
        w["admin"] = f.admin("sim_admin", w.tree["city"], now)
        world = {"org": w.org.id, "district": w.tree["district"].id, "activity": w.activity.id,
                 "headers": w.bearers("organizer", "other_organizer", "admin", "volunteer")}
        db.session.commit()
    return world


def test_an_organiser_opens_a_campaign_links_an_activity_and_sees_the_count(client, world):
    body = {"festival_key": "volunteer_day", "year": 2026, "organization_id": world["org"]}
    assert client.post("/api/v1/campaigns", json=body).status_code == 401
    for who in ("other_organizer", "volunteer"):
        refused = client.post("/api/v1/campaigns", json=body, headers=world["headers"][who])
        assert refused.status_code == 403 and refused.json["error"]["code"] == "not_organizer"
    opened = client.post("/api/v1/campaigns", json=body, headers=world["headers"]["organizer"])
    assert opened.status_code == 201 and opened.json["day"] == "2026-12-05" and opened.json["status"] == "draft"
    again = client.post("/api/v1/campaigns", json=body, headers=world["headers"]["organizer"])
    assert again.status_code == 409 and again.json["error"]["code"] == "campaign_exists"

    link = f"/api/v1/campaigns/{opened.json['id']}/activities"
    assert client.post(link, json={"activity_id": world["activity"]},
                       headers=world["headers"]["other_organizer"]).status_code == 403
    linked = client.post(link, json={"activity_id": world["activity"]}, headers=world["headers"]["organizer"])
    assert linked.status_code == 200 and linked.json["status"] == "planned"
    assert client.post("/api/v1/campaigns/999999/activities", json={"activity_id": world["activity"]},
                       headers=world["headers"]["organizer"]).status_code == 404

    url = f"/api/v1/organizations/{world['org']}/campaigns?year=2026"
    progress = client.get(url, headers=world["headers"]["organizer"])
    assert progress.status_code == 200
    assert (progress.json["counted"], progress.json["target"], progress.json["reached"]) == (1, 10, False)
    [item] = progress.json["items"]
    assert item["activity_count"] == 1
    assert [(a["id"], set(a)) for a in item["activities"]] == [(world["activity"], {"id", "title", "starts_at",
                                                                                     "status"})]
    assert client.get(url, headers=world["headers"]["admin"]).status_code == 200
    assert client.get(url, headers=world["headers"]["other_organizer"]).status_code == 403
    assert client.get(f"/api/v1/organizations/{world['org']}/campaigns?year=3000",
                      headers=world["headers"]["organizer"]).status_code == 422


def test_an_admin_opens_a_region_wide_campaign(client, world):
    body = {"festival_key": "double_ninth", "year": 2026, "region_id": world["district"], "theme": "全区重阳敬老"}
    refused = client.post("/api/v1/campaigns", json=body, headers=world["headers"]["organizer"])
    assert refused.status_code == 403 and refused.json["error"]["code"] == "not_admin_of_region"
    opened = client.post("/api/v1/campaigns", json=body, headers=world["headers"]["admin"])
    assert opened.status_code == 201 and opened.json["organization_id"] is None
    neither = client.post("/api/v1/campaigns", json={"festival_key": "double_ninth", "year": 2026},
                          headers=world["headers"]["admin"])
    assert neither.status_code == 422 and neither.json["error"]["code"] == "organization_or_region_required"


def test_an_organiser_unlinks_an_activity_and_the_campaign_goes_back_to_draft(client, world):
    body = {"festival_key": "volunteer_day", "year": 2026, "organization_id": world["org"]}
    opened = client.post("/api/v1/campaigns", json=body, headers=world["headers"]["organizer"]).json
    link = f"/api/v1/campaigns/{opened['id']}/activities"
    client.post(link, json={"activity_id": world["activity"]}, headers=world["headers"]["organizer"])
    denied = client.delete(f"{link}/{world['activity']}", headers=world["headers"]["other_organizer"])
    assert denied.status_code == 403
    unlinked = client.delete(f"{link}/{world['activity']}", headers=world["headers"]["organizer"])
    assert unlinked.status_code == 200 and unlinked.json["status"] == "draft"
    again = client.delete(f"{link}/{world['activity']}", headers=world["headers"]["organizer"])
    assert again.status_code == 404 and again.json["error"]["code"] == "activity_not_linked"


def test_each_campaign_lists_its_live_activities_soonest_first_drafts_only_for_organisers(app, client, world, now):
    from models import Activity, ActivityStatus

    app.extensions["clock"] = lambda: now  # the statuses follow the clock
    opened = client.post("/api/v1/campaigns", json={"festival_key": "volunteer_day", "year": 2026,
                                                    "organization_id": world["org"]},
                         headers=world["headers"]["organizer"]).json
    with app.app_context():
        org = db.session.get(Activity, world["activity"]).organization
        community = db.session.get(Activity, world["activity"]).region
        made = {status: f.activity(org, community, now, title=f"{status.value}活动", status=status,
                                   starts_in=timedelta(days=9)).id
                for status in (ActivityStatus.PUBLISHED, ActivityStatus.DRAFT, ActivityStatus.CANCELLED)}
        for activity_id in (world["activity"], *made.values()):
            db.session.get(Activity, activity_id).campaign_id = opened["id"]
        db.session.commit()
    url = f"/api/v1/organizations/{world['org']}/campaigns?year=2026"
    [item] = client.get(url, headers=world["headers"]["organizer"]).json["items"]
    # Soonest first (day 9 before day 10), the cancelled one left out; the draft counts for nothing.
    assert [a["id"] for a in item["activities"]] == [made[ActivityStatus.PUBLISHED], made[ActivityStatus.DRAFT],
                                                   world["activity"]]
    assert [a["status"] for a in item["activities"]] == ["published", "draft", "published"]
    assert item["activity_count"] == 2
    assert set(item["activities"][0]) == {"id", "title", "starts_at", "status"}
    [seen_by_admin] = client.get(url, headers=world["headers"]["admin"]).json["items"]
    assert [a["id"] for a in seen_by_admin["activities"]] == [made[ActivityStatus.PUBLISHED], world["activity"]]
    # Unlinking from the calendar takes it off the list.
    unlinked = client.delete(f"/api/v1/campaigns/{opened['id']}/activities/{world['activity']}",
                             headers=world["headers"]["organizer"])
    assert unlinked.status_code == 200
    [item] = client.get(url, headers=world["headers"]["organizer"]).json["items"]
    assert world["activity"] not in [a["id"] for a in item["activities"]] and item["activity_count"] == 1
