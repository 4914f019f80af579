"""Organisation rules: who sees which organisations, and one decision per pending organisation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.errors import DomainError
from app.extensions import db
from app.services import access, organizations
from models import AuditLog, OrganizationKind, OrganizationStatus, RoleGrant
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


def test_accounts_without_a_scope_list_only_their_own_applications(world, now):
    assert organizations.list_visible(world["stranger"], status=None, page=1, per_page=20) == ([], 0)
    world.other_pending.applicant_account_id = world["stranger"].id
    world.approved.applicant_account_id = world["stranger"].id  # approved without granting: still their application
    rows, total = organizations.list_visible(world["stranger"], status=None, page=1, per_page=20)
    assert (names(rows), total) == (["甲区老协会", "乙区新协会"], 2)
    rows, total = organizations.list_visible(world["stranger"], status=OrganizationStatus.PENDING, page=1, per_page=20)
    assert (names(rows), total) == (["乙区新协会"], 1)


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


def application(world, **changes) -> organizations.Application:
    values = dict(name="一街道青年志愿者协会", credit_code="91350100M000100Y43", region_id=world.tree["street"].id,
                  kind=OrganizationKind.SOCIAL, contact_name="李老师", contact_mobile="13800001111")
    values.update(changes)
    return organizations.Application(**values)


def test_an_application_is_pending_and_approval_makes_the_applicant_its_organiser(world, now):
    organization = organizations.apply(world["stranger"], application(world, credit_code="91350100m000100y43 "), now=now)
    assert (organization.status, organization.credit_code) == (OrganizationStatus.PENDING, "91350100M000100Y43")
    assert organization.applicant_account_id == world["stranger"].id
    assert not access.is_organizer(world["stranger"].id, organization.id)
    organizations.review(world["admin"], organization.id, approve=True, reason=None, now=now)
    assert access.is_organizer(world["stranger"].id, organization.id)
    grant = db.session.scalar(select(RoleGrant).where(RoleGrant.organization_id == organization.id))
    assert grant.granted_by_account_id == world["admin"].id


@pytest.mark.parametrize("changes, code", [
    ({"credit_code": "91350100M000100Y44"}, "invalid_credit_code"),
    ({"name": "甲区新协会"}, "organization_name_taken"),
    ({"region_id": 424242}, "region_not_found"),
])
def test_bad_applications(world, now, changes, code):
    assert code_of(lambda: organizations.apply(world["stranger"], application(world, **changes), now=now)) == code


def test_a_credit_code_registers_one_organisation(world, now):
    organizations.apply(world["stranger"], application(world), now=now)
    assert code_of(lambda: organizations.apply(world["organizer"], application(world, name="另一个协会"),
                                               now=now)) == "credit_code_taken"


def test_the_applicant_and_overseers_see_it_others_do_not(world, now):
    organization = organizations.apply(world["stranger"], application(world), now=now)
    for who in ("stranger", "admin", "city_admin"):
        assert organizations.visible(world[who].id, organization.id) is organization
    for who in ("other_admin", "organizer"):
        assert code_of(lambda: organizations.visible(world[who].id, organization.id)) == "organization_not_found"


def test_organisers_edit_only_the_profile(world, now):
    organizations.update_profile(world["organizer"].id, world["pending"].id, {"address": "一街道 1 号"}, now=now)
    assert world["pending"].address == "一街道 1 号"
    assert code_of(lambda: organizations.update_profile(world["organizer"].id, world["pending"].id,
                                                        {"name": "新名"}, now=now)) == "not_editable"
    assert code_of(lambda: organizations.update_profile(world["admin"].id, world["pending"].id,
                                                        {"address": "x"}, now=now)) == "not_organizer"
