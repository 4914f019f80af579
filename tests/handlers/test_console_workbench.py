"""The workbench's counts, coming activities and weekly trends, each in the caller's scope only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from models import (ActivityKind, Checkin, CheckinMethod, CorrectionRequest, OrganizationStatus, ServiceRecord,
                    Signup, SignupStatus, TeamKind, VolunteerStatus)
from models.service_records import RecordKind
from tests import factories as f

FESTIVALS_NEXT_30_DAYS = ["世界残疾人日", "国家宪法日", "国际志愿者日", "国家公祭日"]


@pytest.fixture
def world(world, app):
    app.extensions["clock"] = lambda: world.now
    world.build("tree", "org", "other_org", "team", "other_team", "organizer", "other_organizer", "captain",
                "other_captain", "admin", "other_admin", "alice", "bob")
    now, tree = world.now, world.tree
    world["street_admin"] = f.admin("sim_street_admin", tree["street"], now)
    world["other_street_admin"] = f.admin("sim_other_street_admin", tree["other_street"], now)
    world["medical"] = f.team(world.org, "医疗专业队", now, kind=TeamKind.MEDICAL)
    world["medical_captain"] = f.captain("sim_medical_captain", world["medical"], now)
    f.volunteer(f.account("sim_pending", now), tree["community"], now, status=VolunteerStatus.PENDING)
    f.volunteer(f.account("sim_pending_far", now), tree["other_community"], now, status=VolunteerStatus.PENDING)
    f.organization("申请中的协会", tree["street"], now, status=OrganizationStatus.PENDING)
    world["today"] = world.add_activity(title="今天下午的活动", starts_in=timedelta(hours=4))
    world["tomorrow"] = world.add_activity(title="明天的活动", starts_in=timedelta(days=1))
    world["next_week"] = world.add_activity(title="下周的活动", starts_in=timedelta(days=6), of_team=False)
    world["later"] = world.add_activity(title="一个月后的活动", starts_in=timedelta(days=40))
    world["past"] = world.add_activity(title="上周的活动", starts_in=timedelta(days=-7))
    # 国际志愿者日 (12-05) has an activity of the organisation on the day.
    world["volunteer_day"] = world.add_activity(title="志愿者日活动", starts_in=timedelta(days=12), of_team=False)
    world["elsewhere"] = f.activity(world.other_org, tree["other_community"], now, team_row=world.other_team,
                                    title="乙区活动", starts_in=timedelta(hours=5))
    db.session.add_all([
        Signup(activity_id=world["tomorrow"].id, volunteer_id=world.alice.id, status=SignupStatus.PENDING,
               created_at=now, updated_at=now),
        Signup(activity_id=world["past"].id, volunteer_id=world.bob.id, status=SignupStatus.APPROVED,
               created_at=now - timedelta(days=7), updated_at=now),
        Signup(activity_id=world["elsewhere"].id, volunteer_id=world.bob.id, status=SignupStatus.PENDING,
               created_at=now, updated_at=now),
        CorrectionRequest(volunteer_id=world.bob.id, activity_id=world["past"].id, requested_minutes=60, reason="漏签",
                          created_at=now),
    ])
    db.session.flush()
    checkin = Checkin(activity_id=world["past"].id, volunteer_id=world.bob.id, checked_in_at=world["past"].starts_at,
                      checkin_method=CheckinMethod.MANUAL, checked_out_at=world["past"].ends_at,
                      checkout_method=CheckinMethod.AUTO_CLOSE, needs_review=True)
    db.session.add(checkin)
    db.session.flush()
    db.session.add(ServiceRecord(volunteer_id=world.bob.id, activity_id=world["past"].id, checkin_id=checkin.id,
                                 kind=RecordKind.ATTENDANCE, minutes=150, created_at=now - timedelta(days=7)))
    db.session.commit()
    return world


def workbench(client, world, who, **scope):
    query = "&".join(f"{k}={v}" for k, v in scope.items())
    return client.get(f"/api/v1/console/workbench?{query}", headers=f.bearer(world[who]))


def test_an_organisers_workbench(client, world):
    response = workbench(client, world, "organizer", organization_id=world.org.id)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["scope"]["kind"] == "organization" and body["scope"]["organization"]["id"] == world.org.id
    assert body["attention"] == {
        "pending_registrations": 1, "pending_organizations": None, "pending_signups": 1, "open_corrections": 1,
        "checkouts_to_review": 1, "teams_without_training": 1, "streets_without_training": None,
        "festival_days_without_activity": 3, "pending_declarations": 0, "retroactive_to_approve": None,
        "certificates_to_handle": 0, "pending_transfers": 0, "star_reviews_pending": None}
    assert [d["name"] for d in body["festival_days"]] == [n for n in FESTIVALS_NEXT_30_DAYS if n != "国际志愿者日"]
    assert [a["title"] for a in body["today"]] == ["今天下午的活动"]
    assert [a["title"] for a in body["coming"]] == ["明天的活动", "下周的活动"]
    assert body["coming"][0]["pending"] == 1 and body["quarter"]["label"] == "2026年第4季度"


def test_a_captain_sees_their_teams_only(client, world):
    body = workbench(client, world, "captain", organization_id=world.org.id).json
    assert body["scope"] == {"kind": "teams", "organization": {"id": world.org.id, "name": world.org.name},
                             "region": {"id": world.tree["district"].id, "name": "甲区"}, "team_ids": [world.team.id]}
    assert body["attention"]["pending_registrations"] is None and body["attention"]["pending_signups"] == 1
    assert body["attention"]["teams_without_training"] == 0  # a general team needs no training
    assert [a["title"] for a in body["coming"]] == ["明天的活动"]
    medical = workbench(client, world, "medical_captain", organization_id=world.org.id).json
    assert medical["attention"]["teams_without_training"] == 1 and medical["today"] == []


def test_a_street_admin_stays_inside_the_street(client, world):
    body = workbench(client, world, "street_admin", region_id=world.tree["street"].id).json
    assert body["scope"]["kind"] == "region"
    counts = body["attention"]
    assert counts["pending_registrations"] == 1 and counts["pending_organizations"] == 1
    assert counts["streets_without_training"] == 1 and counts["pending_signups"] == 1
    assert "乙区活动" not in [a["title"] for a in body["today"]]
    refused = workbench(client, world, "street_admin", region_id=world.tree["district"].id)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "not_admin_of_region"
    district = workbench(client, world, "admin", region_id=world.tree["district"].id).json
    assert district["attention"]["pending_registrations"] == 1


@pytest.mark.parametrize("who, scope, status", [
    ("other_organizer", "org", 403), ("other_captain", "org", 403), ("other_admin", "org", 403),
    ("other_street_admin", "org", 403), ("other_organizer", "district", 403), ("captain", "district", 403),
    ("other_street_admin", "street", 403),
])
def test_outsiders_get_no_workbench_and_no_trends(client, world, who, scope, status):
    params = {"organization_id": world.org.id} if scope == "org" else {"region_id": world.tree[scope].id}
    assert workbench(client, world, who, **params).status_code == status
    query = "&".join(f"{k}={v}" for k, v in params.items())
    assert client.get(f"/api/v1/console/trends?{query}", headers=f.bearer(world[who])).status_code == status


def test_a_plain_volunteer_and_a_bad_scope(client, world):
    alice = world.alice.account
    response = client.get(f"/api/v1/console/workbench?organization_id={world.org.id}", headers=f.bearer(alice))
    assert response.status_code == 403
    both = workbench(client, world, "admin", organization_id=world.org.id, region_id=world.tree["district"].id)
    assert both.status_code == 422 and both.json["error"]["code"] == "region_or_organization_required"
    assert workbench(client, world, "admin").status_code == 422
    assert workbench(client, world, "admin", organization_id=999999).status_code == 404


def test_weekly_trends(client, world):
    response = client.get(f"/api/v1/console/trends?organization_id={world.org.id}&weeks=3",
                          headers=f.bearer(world["organizer"]))
    assert response.status_code == 200, response.json
    weeks = response.json["weeks"]
    # FIXED_NOW is Monday 2026-11-23 in Shanghai: ISO week 48.
    assert [w["week"] for w in weeks] == ["2026-W46", "2026-W47", "2026-W48"]
    assert [w["signups"] for w in weeks] == [0, 1, 1]  # bob's a week ago (W47), alice's today; not 乙区's
    assert [w["service_minutes"] for w in weeks] == [0, 150, 0] and weeks[1]["service_hours"] == 2.5
    region = client.get(f"/api/v1/console/trends?region_id={world.tree['other_street'].id}",
                        headers=f.bearer(world["other_street_admin"])).json
    assert len(region["weeks"]) == 12 and sum(w["signups"] for w in region["weeks"]) == 1
    assert client.get(f"/api/v1/console/trends?organization_id={world.org.id}&weeks=53",
                      headers=f.bearer(world["organizer"])).status_code == 422


def test_a_training_this_quarter_clears_the_team(client, world):
    f.activity(world.org, world.tree["community"], world.now, team_row=world["medical"], title="医疗培训",
             kind=ActivityKind.TRAINING, starts_in=timedelta(days=-3))
    db.session.commit()
    body = workbench(client, world, "organizer", organization_id=world.org.id).json
    assert body["attention"]["teams_without_training"] == 0


def test_the_records_queues_are_counted_where_they_are_decided(client, world):
    """Declarations for the activity's managers; 补录 for admins above the organisation's region; certificate
    requests and objections for the issuing organisation; transfers for the receiving organisation or region."""
    from models import (Certificate, CertificateObjection, CertificateStatus, Declaration, RetroactiveEntry, Transfer,
                        TransferKind)

    now, tree, past = world.now, world.tree, world["past"]
    world.build("city_admin")
    db.session.add_all([
        Declaration(volunteer_id=world.alice.id, activity_id=past.id, starts_at=past.starts_at, ends_at=past.ends_at,
                    minutes=60, created_at=now),
        RetroactiveEntry(organization_id=world.org.id, region_id=world.org.region_id, title="社区义诊", place="卫生站",
                         starts_at=now - timedelta(days=20), ends_at=now - timedelta(days=20, hours=-2), created_at=now),
        Certificate(volunteer_id=world.bob.id, organization_id=world.org.id, period_start=now.date(),
                    period_end=now.date(), verification_code="a" * 16, requested_at=now, created_at=now),
        Transfer(volunteer_id=world.bob.id, kind=TransferKind.ORGANIZATION, to_organization_id=world.org.id,
                 from_region_id=tree["community"].id, created_at=now),
        Transfer(volunteer_id=world.alice.id, kind=TransferKind.COMMUNITY, from_region_id=tree["other_community"].id,
                 to_region_id=tree["community"].id, created_at=now),
    ])
    in_publicity = [Certificate(volunteer_id=world.alice.id, organization_id=world.org.id, period_start=now.date(),
                                period_end=now.date(), verification_code=str(n) * 16, requested_at=now, created_at=now,
                                status=CertificateStatus.PUBLICITY) for n in (1, 2)]
    db.session.add_all(in_publicity)
    db.session.flush()
    db.session.add(CertificateObjection(certificate_id=in_publicity[0].id, reason="时长有误", created_at=now))
    db.session.commit()

    organizer = workbench(client, world, "organizer", organization_id=world.org.id).json["attention"]
    assert (organizer["pending_declarations"], organizer["certificates_to_handle"], organizer["pending_transfers"],
            organizer["retroactive_to_approve"]) == (1, 2, 1, None)
    captain = workbench(client, world, "captain", organization_id=world.org.id).json["attention"]
    assert (captain["pending_declarations"], captain["certificates_to_handle"], captain["pending_transfers"]) == (1, None, None)
    other = workbench(client, world, "other_organizer", organization_id=world.other_org.id).json["attention"]
    assert (other["pending_declarations"], other["certificates_to_handle"], other["pending_transfers"]) == (0, 0, 0)
    # The entry is the district's organisation's: the city's admins approve it, not the district's own.
    assert workbench(client, world, "city_admin", region_id=tree["city"].id).json["attention"]["retroactive_to_approve"] == 1
    district = workbench(client, world, "admin", region_id=tree["district"].id).json["attention"]
    assert district["retroactive_to_approve"] == 0 and district["certificates_to_handle"] is None
    street = workbench(client, world, "street_admin", region_id=tree["street"].id).json["attention"]
    assert street["pending_transfers"] == 1
    assert workbench(client, world, "other_street_admin", region_id=tree["other_street"].id).json["attention"][
        "pending_transfers"] == 0


def test_star_applications_waiting_for_review_are_counted_for_the_regions_that_approve_them(client, world):
    from app.services.stars import flow as star_flow
    from models import StarOrigin

    star_flow.open_application(world.alice, 1, origin=StarOrigin.JOB, now=world.now, minutes=101 * 60)  # the street's
    star_flow.open_application(world.bob, 3, origin=StarOrigin.JOB, now=world.now, minutes=601 * 60)  # the district's
    db.session.commit()
    tree = world.tree
    counts = {who: workbench(client, world, who, region_id=tree[region].id).json["attention"]["star_reviews_pending"]
              for who, region in (("street_admin", "street"), ("admin", "district"),
                                  ("other_street_admin", "other_street"))}
    assert counts == {"street_admin": 1, "admin": 2, "other_street_admin": 0}
    assert workbench(client, world, "organizer", organization_id=world.org.id).json["attention"][
        "star_reviews_pending"] is None
