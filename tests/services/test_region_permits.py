"""An organisation's activities take place in its region's subtree, unless an admin above both permits another."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.errors import DomainError
from app.extensions import db
from app.services import activities, region_permits, trainings
from models import Activity, ActivityKind, RegionPermit
from tests import factories as f


@pytest.fixture
def world(world):
    # An organisation of 一街道 (like 磁器口街道) and admins at several levels.
    world["org"] = f.organization("一街道志愿者协会", world.tree["street"], world.now)
    world.build("organizer", "city_admin")
    world["district_admin"] = f.admin("sim_district_admin", world.tree["district"], world.now)
    return world.build("other_admin")


def form(world, now, region, **extra):
    values = dict(organization_id=world["org"].id, region_id=region.id, title="季度培训", address="社区活动室",
                  starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, hours=2), capacity=10,
                  themes=["培训"], kind=ActivityKind.TRAINING, publish=True)
    values.update(extra)
    return values


def refused(call) -> DomainError:
    with pytest.raises(DomainError) as caught:
        with db.session.begin_nested():
            call()
    return caught.value


def activity_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Activity))


def test_an_activity_outside_the_organisations_region_is_refused(world, now):
    inside = activities.create(world["organizer"], form(world, now, world["tree"]["community2"]), now=now)
    assert inside.region_id == world["tree"]["community2"].id
    error = refused(lambda: activities.create(world["organizer"], form(world, now, world["tree"]["other_community"]),
                                              now=now))
    assert (error.code, error.status, list(error.fields)) == ("region_outside_organization", 422, ["region_id"])
    assert activity_count() == 1
    # The other street did not become "trained" by someone else's training.
    report = trainings.report(trainings.Quarter.of(now))
    trained = {street["id"]: street["trained"] for street in report["streets"]}
    assert trained == {world["tree"]["street"].id: True, world["tree"]["other_street"].id: False}


def test_an_admin_above_both_regions_permits_another_region(world, now):
    other_street = world["tree"]["other_street"]
    grant = lambda who: region_permits.grant(world[who].id, world["org"].id, region_id=other_street.id,  # noqa: E731
                                             reason="两街道联合开展", now=now)
    # The district admin covers the organisation but not the other street; the other admin the reverse.
    for who in ("district_admin", "other_admin", "organizer"):
        assert refused(lambda: grant(who)).code == "not_admin_of_both_regions"
    assert db.session.scalar(select(func.count()).select_from(RegionPermit)) == 0
    permit = grant("city_admin")
    assert grant("city_admin").id == permit.id  # granting again changes nothing
    placed = activities.create(world["organizer"], form(world, now, world["tree"]["other_community"]), now=now)
    assert placed.region_id == world["tree"]["other_community"].id
    assert [p.region_id for p in region_permits.permits_of(world["organizer"].id, world["org"].id)] == [other_street.id]

    region_permits.revoke(world["city_admin"].id, world["org"].id, region_id=other_street.id, now=now)
    assert refused(lambda: activities.create(world["organizer"], form(world, now, world["tree"]["other_community"]),
                                             now=now)).code == "region_outside_organization"
    assert db.session.get(Activity, placed.id) is not None  # what was placed stays
    assert refused(lambda: region_permits.revoke(world["city_admin"].id, world["org"].id, region_id=other_street.id,
                                                 now=now)).code == "region_permit_not_found"


def test_a_permit_inside_the_organisations_own_region_is_refused(world, now):
    error = refused(lambda: region_permits.grant(world["city_admin"].id, world["org"].id,
                                                 region_id=world["tree"]["community"].id, reason="无需", now=now))
    assert error.code == "region_already_covered"
