"""Organisation rules: who sees which organisations, and one decision per pending organisation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.errors import DomainError
from app.extensions import db
from app.services import organizations
from models import AuditLog, OrganizationStatus
from tests import factories as f


@pytest.fixture
def world(world):
    tree, now = world.tree, world.now
    world["pending"] = f.organization("甲区新协会", tree["street"], now, status=OrganizationStatus.PENDING)
    world["approved"] = f.organization("甲区老协会", tree["district"], now)
    world["other_pending"] = f.organization("乙区新协会", tree["other_district"], now, status=OrganizationStatus.PENDING)
    world.build("admin", "city_admin", "other_admin")
    world["organizer"] = f.organizer("sim_org", world.pending, now)
    world["stranger"] = f.account("sim_stranger", now)
    return world


def code_of(call) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


def names(rows) -> list[str]:
    return [row.name for row in rows]


def test_admins_see_their_subtree_and_organisers_their_own(world):
    rows, total = organizations.list_visible(world["admin"], status=None, page=1, per_page=20)
    assert (names(rows), total) == (["甲区新协会", "甲区老协会"], 2)
    rows, total = organizations.list_visible(world["city_admin"], status=None, page=1, per_page=20)
    assert total == 3
    rows, _ = organizations.list_visible(world["other_admin"], status=None, page=1, per_page=20)
    assert names(rows) == ["乙区新协会"]
    rows, _ = organizations.list_visible(world["organizer"], status=None, page=1, per_page=20)
    assert names(rows) == ["甲区新协会"]


def test_the_list_filters_by_status_and_pages(world):
    rows, total = organizations.list_visible(world["city_admin"], status=OrganizationStatus.PENDING, page=1, per_page=1)
    assert (names(rows), total) == (["甲区新协会"], 2)
    rows, total = organizations.list_visible(world["city_admin"], status=OrganizationStatus.PENDING, page=2, per_page=1)
    assert (names(rows), total) == (["乙区新协会"], 2)
    rows, total = organizations.list_visible(world["admin"], status=OrganizationStatus.REJECTED, page=1, per_page=20)
    assert (rows, total) == ([], 0)


def test_accounts_without_a_scope_cannot_list(world):
    assert code_of(lambda: organizations.list_visible(world["stranger"], status=None, page=1,
                                                      per_page=20)) == "not_admin_or_organizer"


def test_an_admin_approves_a_pending_organisation_in_their_subtree(world, now):
    organization = organizations.review(world["admin"], world["pending"].id, approve=True, reason=None, now=now)
    assert organization.status is OrganizationStatus.APPROVED
    assert organization.approved_by_account_id == world["admin"].id and organization.approved_at == now
    entry = db.session.scalar(select(AuditLog))
    assert (entry.action, entry.target_id, entry.actor_account_id) == (
        "organization.approved", world["pending"].id, world["admin"].id)


def test_a_rejection_needs_a_reason_which_the_audit_keeps(world, now):
    for reason in (None, "   "):
        assert code_of(lambda: organizations.review(world["admin"], world["pending"].id, approve=False, reason=reason,
                                                    now=now)) == "reason_required"
    organization = organizations.review(world["admin"], world["pending"].id, approve=False, reason=" 材料不全 ", now=now)
    assert organization.status is OrganizationStatus.REJECTED and organization.approved_at is None
    entry = db.session.scalar(select(AuditLog))
    assert entry.action == "organization.rejected" and entry.detail == {"reason": "材料不全"}


def test_only_a_pending_organisation_can_be_decided(world, now):
    organizations.review(world["admin"], world["pending"].id, approve=True, reason=None, now=now)
    assert code_of(lambda: organizations.review(world["city_admin"], world["pending"].id, approve=False, reason="晚了",
                                                now=now)) == "already_decided"
    assert code_of(lambda: organizations.review(world["admin"], world["approved"].id, approve=True, reason=None,
                                                now=now)) == "already_decided"


@pytest.mark.parametrize("who, code", [("other_admin", "not_admin_of_region"), ("organizer", "not_admin_of_region"),
                                       ("stranger", "not_admin_of_region")])
def test_reviews_outside_an_admins_subtree_are_refused(world, now, who, code):
    assert code_of(lambda: organizations.review(world[who], world["pending"].id, approve=True, reason=None,
                                                now=now)) == code
    db.session.refresh(world["pending"])
    assert world["pending"].status is OrganizationStatus.PENDING


def test_an_unknown_organisation_is_not_found(world, now):
    assert code_of(lambda: organizations.review(world["admin"], 424242, approve=True, reason=None,
                                                now=now)) == "organization_not_found"
