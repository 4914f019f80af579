"""Region management rules: who may change which node, retiring only unused regions, populations per year."""

from __future__ import annotations

import pytest

from app.errors import DomainError
from app.services import access, paging, region_management, regions
from models import RegionLevel
from tests import factories as f


@pytest.fixture
def world(world):
    world.build("admin", "other_admin", "city_admin", "organizer")
    world["street_admin"] = f.admin("sim_street_admin", world.tree["street"], world.now)
    return world


def code_of(call) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


def test_admin_above_is_strictly_above(world):
    tree = world.tree
    assert access.is_admin_above(world["street_admin"].id, tree["community"])
    assert not access.is_admin_above(world["street_admin"].id, tree["street"])
    assert access.is_admin_above(world["admin"].id, tree["street"])
    assert not access.is_admin_above(world["city_admin"].id, tree["city"])  # nobody is above the root
    assert not access.is_admin_above(world["other_admin"].id, tree["community"])


def test_children_get_the_next_level_and_a_generated_unique_code(world, now):
    street = region_management.add_child(world["admin"].id, world.tree["district"].id, name="新街道", code=None,
                                         now=now)
    assert (street.level, street.code) == (RegionLevel.STREET, "T1002")
    assert street.path == f"{world.tree['district'].path}{street.id}/"
    regions.add_region("T1003", "占位街道", RegionLevel.STREET, world.tree["other_district"])  # the next code, taken elsewhere
    community = region_management.add_child(world["admin"].id, world.tree["district"].id, name="又一街道", code=None,
                                            now=now)
    assert community.code == "T1004"


def test_retiring_needs_nothing_active_below(world, now):
    tree = world.tree
    f.volunteer(f.account("sim_pending", now), tree["community2"], now)  # pending: does not hold the region
    retired = region_management.retire(world["street_admin"].id, tree["community2"].id, reason="并入", now=now)
    assert retired.retired_at == now and retired.retired_reason == "并入"
    assert [r.name for r in regions.children_of(tree["street"].id)] == ["一社区"]
    assert code_of(lambda: regions.require_open(tree["community2"].id)) == "region_retired"
    assert code_of(lambda: regions.require_community(tree["community2"].id)) == "region_retired"
    f.approved_volunteer("sim_there", tree["community"], now)
    assert code_of(lambda: region_management.retire(world["street_admin"].id, tree["community"].id, reason="x",
                                                    now=now)) == "region_in_use"
    f.organization("三社区协会", tree["other_community"], now)
    assert code_of(lambda: region_management.retire(world["city_admin"].id, tree["other_community"].id,
                                                    reason="x", now=now)) == "region_in_use"


def test_a_later_year_moves_the_regions_population_an_earlier_one_does_not(world, now):
    community = world.tree["community"]
    region_management.set_population(world["street_admin"].id, community.id, year=2025, population=8100, now=now)
    region_management.set_population(world["street_admin"].id, community.id, year=2023, population=7000, now=now)
    assert community.population == 8100
    region_management.set_population(world["street_admin"].id, community.id, year=2025, population=8200, now=now)
    assert community.population == 8200
    assert [(p.year, p.population) for p in region_management.populations(world["admin"].id, community.id)] == [
        (2025, 8200), (2023, 7000)]
    node = region_management.tree(world["admin"].id, world.tree["street"].id, year=2025)
    assert [(c.region.name, c.population) for c in node.children] == [("一社区", 8200), ("二社区", None)]


@pytest.mark.parametrize("who", ["other_admin", "organizer"])
def test_outsiders_change_nothing(world, now, who):
    tree = world.tree
    account_id = world[who].id
    for call in (lambda: region_management.add_child(account_id, tree["street"].id, name="x", code=None, now=now),
                 lambda: region_management.rename(account_id, tree["community"].id, name="x", now=now),
                 lambda: region_management.retire(account_id, tree["community2"].id, reason="x", now=now),
                 lambda: region_management.set_population(account_id, tree["community"].id, year=2025,
                                                          population=1, now=now),
                 lambda: region_management.tree(account_id, tree["street"].id, year=2025)):
        assert code_of(call) == "not_admin_of_region"
    assert tree["community"].name == "一社区" and tree["community2"].retired_at is None


@pytest.mark.parametrize("values", [("x", 1), (None, 2, "a"), ("2026-11-23T02:00:00+00:00", 5)])
def test_cursors_round_trip(values):
    assert paging.decode_cursor(paging.encode_cursor(values)) == values


@pytest.mark.parametrize("cursor", ["", "!!!", "bnVsbA", "eyJhIjoxfQ", "W3RydWVd", "W1tdXQ"])
def test_garbage_cursors_are_refused(cursor):
    assert code_of(lambda: paging.decode_cursor(cursor)) == "invalid_cursor"
