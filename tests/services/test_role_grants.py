"""Role-grant rules: organisers appoint and remove organisers (never the last), admins appoint admins below them."""

from __future__ import annotations

import pytest

from app.errors import DomainError
from app.services import access, role_grants
from tests import factories as f


@pytest.fixture
def world(world):
    world.build("org", "organizer", "admin", "other_admin", "city_admin", "alice", "bob")
    return world


def code_of(call) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


def test_an_appointed_organiser_may_remove_the_first_but_not_themselves_last(world, now):
    org_id = world.org.id
    grant, created = role_grants.appoint_organizer(world.organizer.id, org_id, world.alice.id, now=now)
    assert created and grant.granted_by_account_id == world.organizer.id
    _, again = role_grants.appoint_organizer(world.organizer.id, org_id, world.alice.id, now=now)
    assert not again
    alice = world.alice.account_id
    role_grants.remove_organizer(alice, org_id, world.organizer.id, now=now)
    assert access.organizer_account_ids(org_id) == [alice]
    assert code_of(lambda: role_grants.remove_organizer(alice, org_id, alice, now=now)) == "last_organizer"
    assert code_of(lambda: role_grants.remove_organizer(world.organizer.id, org_id, alice, now=now)) == "not_organizer"


def test_organisers_of_an_unapproved_organisation_appoint_nobody(world, now):
    from models import OrganizationStatus

    pending = f.organization("新协会", world.tree["street"], now, status=OrganizationStatus.PENDING)
    organizer = f.organizer("sim_pending_org", pending, now)
    assert code_of(lambda: role_grants.appoint_organizer(organizer.id, pending.id, world.alice.id,
                                                         now=now)) == "organization_not_approved"


def test_admins_appoint_below_their_region_only(world, now):
    tree = world.tree
    grant, created = role_grants.appoint_admin(world.admin.id, tree["street"].id, world.alice.id, now=now)
    assert created and grant.region_id == tree["street"].id
    assert access.is_admin_over(world.alice.account_id, tree["community"])
    assert code_of(lambda: role_grants.appoint_admin(world.admin.id, tree["district"].id, world.bob.id,
                                                     now=now)) == "not_admin_of_region"
    assert code_of(lambda: role_grants.appoint_admin(world.other_admin.id, tree["street"].id, world.bob.id,
                                                     now=now)) == "not_admin_of_region"
    role_grants.remove_admin(world.city_admin.id, tree["street"].id, world.alice.account_id, now=now)
    assert not access.is_admin_over(world.alice.account_id, tree["community"])


def test_listing_a_region_shows_its_subtree_only(world, now):
    street_admin = f.admin("sim_street_admin", world.tree["street"], now)
    rows, total = role_grants.holders(street_admin.id, region_id=world.tree["street"].id, limit=20, cursor=None)
    assert total == 1 and [h.grant.account_id for h in rows] == [street_admin.id]
    rows, total = role_grants.holders(world.admin.id, region_id=world.tree["district"].id, limit=1, cursor=None)
    assert total == 3 and len(rows) == 2  # one page plus the row that tells there is a next one
    assert code_of(lambda: role_grants.holders(street_admin.id, region_id=world.tree["district"].id, limit=20,
                                               cursor=None)) == "not_admin_of_region"
