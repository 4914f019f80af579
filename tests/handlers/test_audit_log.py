"""The audit log through the HTTP API: admins read their subtrees' entries, newest first, filtered and paged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.services import audit
from models import AuditLog, VolunteerStatus
from tests import factories as f


@pytest.fixture
def world(app, now):
    app.extensions["clock"] = lambda: now
    with app.app_context():
        w = f.World(now)
        w.build("org", "organizer", "team", "captain", "other_org", "other_organizer", "admin", "other_admin",
                "city_admin", "alice", "activity")
        street_admin = f.admin("sim_street_admin", w.tree["street"], now)
        other_street_admin = f.admin("sim_other_street_admin", w.tree["other_street"], now)
        f.volunteer(w.admin, w.tree["community"], now, real_name="司马管理", status=VolunteerStatus.APPROVED)
        lonely = f.account("sim_lonely", now)
        t = lambda minutes: now - timedelta(minutes=minutes)  # noqa: E731
        audit.record(w.admin.id, "organization.approved", "organization", w.org.id, now=t(60))
        audit.record(w.other_admin.id, "organization.approved", "organization", w.other_org.id, now=t(50))
        audit.record(street_admin.id, "volunteer.approved", "volunteer", w.alice.id, now=t(40))
        audit.record(w.organizer.id, "team.updated", "team", w.team.id, now=t(30), fields=["name"])
        audit.record(w.organizer.id, "activity.published", "activity", w.activity.id, now=t(30))
        audit.record(other_street_admin.id, "region.renamed", "region", w.tree["other_community"].id, now=t(20),
                     old_name="三社区", new_name="新三社区")
        audit.record(w.city_admin.id, "account.disabled", "account", lonely.id, now=t(10), reason="违规")
        world = {"admin_account": w.admin.id, "org_id": w.org.id, "tree": {k: v.id for k, v in w.tree.items()},
                 "headers": w.bearers("admin", "other_admin", "city_admin", "organizer", "captain", "volunteer")}
        world["headers"]["street_admin"] = f.bearer(street_admin)
        world["headers"]["other_street_admin"] = f.bearer(other_street_admin)
        world["headers"]["anonymous"] = {}
        db.session.commit()
    return world


def log(client, headers, query=""):
    return client.get(f"/api/v1/audit-log{query}", headers=headers)


def actions(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [item["action"] for item in response.json["items"]]


def test_a_district_admin_reads_the_district_newest_first(client, world):
    response = log(client, world["headers"]["admin"])
    assert actions(response) == ["activity.published", "team.updated", "volunteer.approved", "organization.approved"]
    assert response.json["total"] == 4 and response.json["next_cursor"] is None
    oldest = response.json["items"][-1]
    assert oldest["actor"] == {"account_id": world["admin_account"], "name": "司**理"}
    assert (oldest["target_type"], oldest["target_id"], oldest["region"]["name"]) == (
        "organization", world["org_id"], "甲区")
    team = response.json["items"][1]
    assert team["detail"] == {"fields": ["name"]}


@pytest.mark.parametrize("who, expected", [
    ("street_admin", ["volunteer.approved"]),
    ("other_street_admin", ["region.renamed"]),
    ("other_admin", ["region.renamed", "organization.approved"]),
])
def test_an_admin_sees_no_other_subtree(client, world, who, expected):
    assert actions(log(client, world["headers"][who])) == expected


def test_a_city_admin_sees_everything_and_entries_without_a_region(client, world):
    response = log(client, world["headers"]["city_admin"])
    assert response.json["total"] == 7 and actions(response)[0] == "account.disabled"
    assert response.json["items"][0]["region"] is None and response.json["items"][0]["actor"]["name"] is None


@pytest.mark.parametrize("query, expected", [
    ("?action=organization.approved", ["organization.approved", "organization.approved"]),
    ("?action=organization.", ["organization.approved", "organization.approved"]),
    ("?action=organization", []),
    ("?target_type=region", ["region.renamed"]),
    ("?since=2026-11-23T01:30:00Z&until=2026-11-23T09:40:00%2B08:00", ["team.updated", "activity.published"]),
])
def test_filters(client, world, query, expected):
    assert sorted(actions(log(client, world["headers"]["city_admin"], query))) == sorted(expected)


def test_filter_by_actor_and_by_a_region_in_scope(client, world):
    by_admin = log(client, world["headers"]["city_admin"], f"?actor_account_id={world['admin_account']}")
    assert actions(by_admin) == ["organization.approved"]
    street = log(client, world["headers"]["admin"], f"?region_id={world['tree']['street']}")
    assert actions(street) == ["volunteer.approved"]
    outside = log(client, world["headers"]["admin"], f"?region_id={world['tree']['other_district']}")
    assert (outside.status_code, outside.json["error"]["code"]) == (403, "not_admin_of_region")


def test_pages_follow_the_cursor_without_gaps_or_repeats(client, world):
    seen, cursor = [], None
    while True:
        page = log(client, world["headers"]["city_admin"], "?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert page.status_code == 200 and page.json["total"] == 7
        seen += [item["id"] for item in page.json["items"]]
        cursor = page.json["next_cursor"]
        if cursor is None:
            break
    everything = [item["id"] for item in log(client, world["headers"]["city_admin"], "?limit=100").json["items"]]
    assert seen == everything and len(seen) == 7


@pytest.mark.parametrize("cursor", ["nonsense!", "WyJ4IiwxXQ", "WzEsMl0", "WyIyMDI2LTExLTIzVDAxOjAwOjAwIiwxXQ"])
def test_a_garbage_cursor_is_refused(client, world, cursor):
    response = log(client, world["headers"]["city_admin"], f"?cursor={cursor}")
    assert (response.status_code, response.json["error"]["code"]) == (422, "invalid_cursor")


@pytest.mark.parametrize("query", ["?since=2026-11-23T01:00:00", "?limit=0", "?action=DROP%20TABLE"])
def test_bad_queries_are_refused(client, world, query):
    response = log(client, world["headers"]["city_admin"], query)
    assert (response.status_code, response.json["error"]["code"]) == (422, "validation_failed")


@pytest.mark.parametrize("who, status, code", [("organizer", 403, "not_an_admin"), ("captain", 403, "not_an_admin"),
                                               ("volunteer", 403, "not_an_admin"), ("anonymous", 401, "missing_token")])
def test_only_admins_read_the_log(client, world, who, status, code):
    response = log(client, world["headers"][who])
    assert (response.status_code, response.json["error"]["code"]) == (status, code)


def test_every_entry_gets_its_targets_region_path(app, world):
    with app.app_context():
        paths = dict(db.session.execute(select(AuditLog.target_type, AuditLog.region_path)).all())
        from models import Region
        path = {name: db.session.get(Region, rid).path for name, rid in world["tree"].items()}
    assert paths == {"organization": paths["organization"], "volunteer": path["community"],
                     "team": path["district"], "activity": path["district"], "region": path["other_community"],
                     "account": None}
    assert paths["organization"] in (path["district"], path["other_district"])
