"""Account deletion as a service: confirmation, broadcasts, idempotence."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.errors import DomainError, Unauthorized
from app.extensions import db
from app.services import accounts, broadcasts
from models import Account, Organization, Volunteer, VolunteerStatus
from tests import factories as f


@pytest.fixture
def world(world):
    world.build("tree", "org")
    world["leaving"] = f.approved_volunteer("sim_leaving", world.tree["community"], world.now)
    world["staying"] = f.approved_volunteer("sim_staying", world.tree["community"], world.now)
    db.session.commit()
    return world


@pytest.mark.parametrize("confirmation", [None, "", "yes", "注 销"])
def test_deletion_without_the_confirmation_is_refused_and_changes_nothing(world, now, confirmation):
    with pytest.raises(DomainError) as refused:
        accounts.delete(world["leaving"].account, confirmation=confirmation, now=now)
    assert refused.value.code == "confirmation_required"
    db.session.rollback()
    assert db.session.get(Volunteer, world["leaving"].id).status is VolunteerStatus.APPROVED


def test_a_deleted_volunteer_receives_no_broadcast(world, now):
    audience = broadcasts.Audience("region", world["tree"]["district"].id)
    before = {row.id for row in db.session.execute(broadcasts.recipients_query(audience))}
    assert before == {world["leaving"].id, world["staying"].id}
    accounts.delete(world["leaving"].account, confirmation=accounts.DELETE_CONFIRMATION, now=now)
    db.session.commit()
    after = {row.id for row in db.session.execute(broadcasts.recipients_query(audience))}
    assert after == {world["staying"].id}


def test_deleting_twice_is_refused_the_second_time(world, now):
    account = world["leaving"].account
    accounts.delete(account, confirmation=accounts.DELETE_CONFIRMATION, now=now)
    db.session.commit()
    generation = db.session.get(Account, account.id).token_generation
    with pytest.raises(Unauthorized):
        accounts.delete(account, confirmation=accounts.DELETE_CONFIRMATION, now=now)
    db.session.rollback()
    assert db.session.get(Account, account.id).token_generation == generation == 1
    with pytest.raises(Unauthorized):
        accounts.account_by_id(account.id)


def test_disabling_or_enabling_a_deleted_or_unknown_account_is_not_found(world, now):
    accounts.delete(world["leaving"].account, confirmation=accounts.DELETE_CONFIRMATION, now=now)
    for account_id in (world["leaving"].account_id, 2_000_000_000):
        with pytest.raises(DomainError) as missing:
            accounts.disable(account_id, actor_account_id=None, reason="x", now=now)
        assert missing.value.code == "account_not_found"
