"""Gifts within limits, an organisation's pool funded by an admin and its bonuses capped, rankings masked
and opt-in."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.errors import DomainError
from app.extensions import db
from app.services.points import earning, giving, ledger, rankings, rules as points_rules
from models import ActivityStatus, PointsAccountKind, RecordKind, RecordSource, ServiceRecord


def balance(volunteer, now):
    return ledger.balance(ledger.account(PointsAccountKind.VOLUNTEER, volunteer.id, now).id)


@pytest.fixture
def world(world):
    world.build("tree", "org", "organizer", "admin", "alice", "bob")
    world["held"] = world.add_activity(starts_in=-timedelta(days=30), status=ActivityStatus.FINISHED)
    world.alice.volunteer_number, world.bob.volunteer_number = "V0001", "V0002"
    world.alice.real_name, world.bob.real_name = "张小三", "李四"
    for volunteer, minutes in ((world.alice, 600), (world.bob, 300)):
        db.session.add(ServiceRecord(volunteer_id=volunteer.id, activity_id=world.held.id, kind=RecordKind.ATTENDANCE,
                                     source=RecordSource.SCAN, minutes=minutes, created_at=world.now))
    db.session.commit()
    earning.catch_up(now=world.now)       # alice 100, bob 50
    return world


def test_a_gift_within_limits_once_per_key(world):
    first = giving.gift(world.alice, "V0002", 30, "nonce-1", now=world.now)
    again = giving.gift(world.alice, "V0002", 30, "nonce-1", now=world.now)
    db.session.commit()
    assert first.id == again.id
    assert (balance(world.alice, world.now), balance(world.bob, world.now)) == (70, 80)


@pytest.mark.parametrize("number, amount, code", [("V0001", 10, "gift_to_self"), ("V9999", 10, "gift_recipient_not_found"),
                                                  ("V0002", 0, "points_amount_invalid"),
                                                  ("V0001", 95, "insufficient_points")])
def test_gifts_refused(world, number, amount, code):
    points_rules.set_rules(world.admin.id, world.tree["district"].id, {"gift_max_per_gift": 0}, now=world.now)
    with pytest.raises(DomainError) as caught:
        giving.gift(world.bob, number, amount, "n", now=world.now) if code == "insufficient_points" else \
            giving.gift(world.alice, number, amount, "n", now=world.now)
    assert caught.value.code == code


def test_gift_limits_per_gift_and_per_year(world):
    points_rules.set_rules(world.admin.id, world.tree["district"].id,
                           {"gift_max_per_gift": 40, "gift_max_per_year": 50}, now=world.now)
    with pytest.raises(DomainError) as caught:
        giving.gift(world.alice, "V0002", 41, "a", now=world.now)
    assert caught.value.code == "gift_limit_exceeded"
    giving.gift(world.alice, "V0002", 40, "b", now=world.now)
    with pytest.raises(DomainError) as caught:
        giving.gift(world.alice, "V0002", 11, "c", now=world.now)
    assert caught.value.context["given_this_year"] == 40
    giving.gift(world.alice, "V0002", 10, "d", now=world.now)
    # A new year, a new allowance.
    giving.gift(world.alice, "V0002", 40, "e", now=world.now + timedelta(days=366))


def test_pool_funded_by_an_admin_then_bonuses_capped_per_volunteer_and_activity(world):
    with pytest.raises(DomainError) as caught:
        giving.fund_pool(world.organizer.id, world.org.id, 100, "f", now=world.now)
    assert caught.value.code == "not_admin_of_region"
    with pytest.raises(DomainError) as caught:
        giving.bonus(world.organizer.id, world.org.id, world.alice.id, world.held.id, 10, "b0", reason="暴雨夜坚守岗位", now=world.now)
    assert caught.value.code == "pool_insufficient"
    giving.fund_pool(world.admin.id, world.org.id, 500, "f", now=world.now)
    points_rules.set_rules(world.admin.id, world.tree["district"].id, {"bonus_cap_per_activity": 30}, now=world.now)
    giving.bonus(world.organizer.id, world.org.id, world.alice.id, world.held.id, 20, "b1", reason="暴雨夜坚守岗位", now=world.now)
    giving.bonus(world.organizer.id, world.org.id, world.alice.id, world.held.id, 20, "b1", reason="暴雨夜坚守岗位", now=world.now)  # retry
    with pytest.raises(DomainError) as caught:
        giving.bonus(world.organizer.id, world.org.id, world.alice.id, world.held.id, 11, "b2", reason="暴雨夜坚守岗位", now=world.now)
    assert (caught.value.code, caught.value.context) == ("bonus_cap_exceeded", {"cap": 30, "given": 20})
    giving.bonus(world.organizer.id, world.org.id, world.bob.id, world.held.id, 30, "b3", reason="暴雨夜坚守岗位", now=world.now)
    with pytest.raises(DomainError) as caught:
        giving.bonus(world.admin.id, world.org.id, world.bob.id, world.held.id, 1, "b4", reason="暴雨夜坚守岗位", now=world.now)
    assert caught.value.code == "not_organizer"
    db.session.commit()
    assert (balance(world.alice, world.now), balance(world.bob, world.now)) == (120, 80)
    view = giving.pool_view(world.organizer.id, world.org.id, limit=2, before=None)
    assert view["balance"] == 450 and [i["amount"] for i in view["items"]] == [-30, -20]
    rest = giving.pool_view(world.admin.id, world.org.id, limit=2, before=view["next_before"])
    assert [i["code"] for i in rest["items"]] == ["fund"] and rest["next_before"] is None


def test_a_bonus_needs_service_at_the_activity(world):
    other = world.add_activity(starts_in=-timedelta(days=3), status=ActivityStatus.FINISHED)
    giving.fund_pool(world.admin.id, world.org.id, 500, "f", now=world.now)
    with pytest.raises(DomainError) as caught:
        giving.bonus(world.organizer.id, world.org.id, world.alice.id, other.id, 5, "x", reason="暴雨夜坚守岗位", now=world.now)
    assert caught.value.code == "bonus_not_served"


def test_rankings_show_only_who_opted_in_with_masked_names(world):
    by_org = rankings.ranking(organization_id=world.org.id, me=world.bob, now=world.now)
    assert by_org["items"] == [] and by_org["me"] == {"rank": 1, "points": 50, "shown": False}
    rankings.set_consent(world.alice, True, now=world.now)
    rankings.set_consent(world.bob, True, now=world.now)
    by_region = rankings.ranking(region_id=world.tree["city"].id, me=world.bob, now=world.now)
    assert by_region["items"] == [{"rank": 1, "name": "张*三", "points": 100}, {"rank": 2, "name": "李*", "points": 50}]
    assert by_region["me"]["rank"] == 2
    rankings.set_consent(world.alice, False, now=world.now)
    assert [i["name"] for i in rankings.ranking(organization_id=world.org.id, now=world.now)["items"]] == ["李*"]
    assert rankings.ranking(region_id=world.tree["other_community"].id, now=world.now)["items"] == []
