"""Record transfers: memberships move, records stay with their recorder, who keeps reading them; the receipt."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.errors import DomainError
from app.extensions import db
from app.services import access, archive, directory, service_records, transfers
from models import (Account, MembershipStatus, Notification, Role, RoleGrant, ServiceRecord, Team, TeamMembership,
                    Transfer, TransferKind, TransferStatus)
from tests import factories as f


@pytest.fixture
def world(app_context, now):
    w = f.World(now, other_org="乙区协会", other_organizer="sim_other").build("tree", "org", "team")
    w["held"] = w.add_attended_activity()          # 60 minutes recorded by `org`
    w.build("organizer", "other_org", "other_team", "other_organizer", "admin", "other_admin")
    member(w.team, w.alice, now)
    return w


def member(team: Team, volunteer, now, status: MembershipStatus = MembershipStatus.ACTIVE) -> TeamMembership:
    row = TeamMembership(team_id=team.id, volunteer_id=volunteer.id, status=status, created_at=now)
    db.session.add(row)
    db.session.flush()
    return row


def code_of(call) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


def to_org(w, now, **extra):
    fields = dict(kind=TransferKind.ORGANIZATION, organization_id=w.other_org.id, team_id=None,
                  from_organization_id=None, region_id=None, reason="工作调动")
    fields.update(extra)
    return transfers.apply(w.alice.account, now=now, **fields)


def to_community(w, now, community: str = "other_community"):
    return transfers.apply(w.alice.account, kind=TransferKind.COMMUNITY, organization_id=None, team_id=None,
                           from_organization_id=None, region_id=w.tree[community].id, reason="搬家", now=now)


def status_in(team: Team, volunteer) -> MembershipStatus | None:
    return db.session.scalar(select(TeamMembership.status).where(
        TeamMembership.team_id == team.id, TeamMembership.volunteer_id == volunteer.id)
        .execution_options(populate_existing=True))


def messages(kind: str, account: Account) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.kind == kind,
                                                              Notification.account_id == account.id)))


def test_an_organisation_transfer_moves_the_membership_and_leaves_the_records_with_their_recorder(world, now):
    w = world
    records_before = db.session.execute(select(ServiceRecord.id, ServiceRecord.activity_id, ServiceRecord.minutes)
                                        .order_by(ServiceRecord.id)).all()
    row = to_org(w, now, team_id=w.other_team.id)
    assert (row.status, row.from_organization_id, row.to_organization_id) == (
        TransferStatus.PENDING, w.org.id, w.other_org.id)
    assert [m.payload["title"] for m in messages("transfer_request", w.other_organizer)] == ["新的转移申请"]

    decided = transfers.decide(w.other_organizer, row.id, approve=True, reason=None, team_id=None,
                               now=now + timedelta(hours=1))
    assert decided.status is TransferStatus.APPROVED and decided.joined_team_id == w.other_team.id
    assert status_in(w.team, w.alice) is MembershipStatus.REMOVED
    assert status_in(w.other_team, w.alice) is MembershipStatus.ACTIVE
    # Hours stay where they were recorded: no record moved, none was added.
    assert db.session.execute(select(ServiceRecord.id, ServiceRecord.activity_id, ServiceRecord.minutes)
                              .order_by(ServiceRecord.id)).all() == records_before
    lines = decided.receipt["hours_by_recorder"]
    assert [(line["organization_id"], line["minutes"], line["records"], line["certified_by"]) for line in lines] == [
        (w.org.id, 60, 1, w.org.name)]
    assert decided.receipt["total_minutes"] == 60
    assert (decided.receipt["origin"]["name"], decided.receipt["destination"]["name"]) == (w.org.name, "乙区协会")
    assert decided.receipt_sha256 == hashlib.sha256(transfers.canonical(decided.receipt).encode()).hexdigest()
    # The releasing side is told through the outbox, and that its hours stay its own.
    [released] = messages("transfer_released", w.organizer)
    assert "1小时" in released.payload["text"] and "仍由本组织证明" in released.payload["text"]
    [result] = messages("transfer_result", w.alice.account)
    assert result.payload["title"] == "转移申请已通过"
    # The releasing organisation still reads the records it made (here it is also in region scope).
    assert access.recorder_ids_overseen(w.organizer.id, w.alice.id) == [w.org.id]


def test_a_captain_leaving_the_organisation_loses_the_captain_role_there(world, now):
    w = world
    from app.services import roles
    roles.grant(w.alice.account.id, Role.CAPTAIN, team_id=w.team.id, now=now)
    row = to_org(w, now, team_id=w.other_team.id)
    transfers.decide(w.other_organizer, row.id, approve=True, reason=None, team_id=None, now=now)
    assert not access.is_captain(w.alice.account.id, w.team.id)


def test_a_refusal_needs_a_reason_moves_nothing_and_tells_the_volunteer_why(world, now):
    w = world
    row = to_org(w, now)
    assert code_of(lambda: transfers.decide(w.other_organizer, row.id, approve=False, reason=" ", team_id=None,
                                            now=now)) == "reason_required"
    refused = transfers.decide(w.other_organizer, row.id, approve=False, reason="本组织暂不接收", team_id=None, now=now)
    assert refused.status is TransferStatus.REFUSED and refused.receipt is None
    assert status_in(w.team, w.alice) is MembershipStatus.ACTIVE and status_in(w.other_team, w.alice) is None
    [result] = messages("transfer_result", w.alice.account)
    assert "本组织暂不接收" in result.payload["text"]
    assert messages("transfer_released", w.organizer) == []
    assert code_of(lambda: transfers.receipt(w.alice.account, row.id)) == "transfer_not_approved"


@pytest.mark.parametrize("who, code", [("organizer", "not_organizer"), ("other_admin", "not_organizer"),
                                       ("alice", "not_organizer")])
def test_only_the_receiving_organisations_organisers_decide(world, now, who, code):
    w = world
    row = to_org(w, now, team_id=w.other_team.id)
    account = w.alice.account if who == "alice" else w[who]
    assert code_of(lambda: transfers.decide(account, row.id, approve=True, reason=None, team_id=None, now=now)) == code
    assert db.session.get(Transfer, row.id).status is TransferStatus.PENDING


def test_a_decision_is_taken_once(world, now):
    w = world
    row = to_org(w, now, team_id=w.other_team.id)
    transfers.decide(w.other_organizer, row.id, approve=True, reason=None, team_id=None, now=now)
    assert code_of(lambda: transfers.decide(w.other_organizer, row.id, approve=False, reason="重复", team_id=None,
                                            now=now)) == "already_decided"
    assert code_of(lambda: transfers.withdraw(w.alice.account, row.id, now=now)) == "already_decided"


def test_one_pending_application_at_a_time_and_a_withdrawn_one_frees_the_way(world, now):
    w = world
    first = to_org(w, now)
    assert code_of(lambda: to_community(w, now)) == "transfer_pending"
    transfers.withdraw(w.alice.account, first.id, now=now)
    second = to_community(w, now)
    assert {(t.id, t.status) for t in transfers.mine(w.alice.account)} == {
        (first.id, TransferStatus.WITHDRAWN), (second.id, TransferStatus.PENDING)}


def test_what_an_application_must_name(world, now):
    w = world
    assert code_of(lambda: to_org(w, now, organization_id=None)) == "organization_required"
    assert code_of(lambda: to_org(w, now, organization_id=w.org.id)) == "same_organization"
    assert code_of(lambda: to_org(w, now, team_id=w.team.id)) == "team_not_in_organization"
    assert code_of(lambda: to_org(w, now, from_organization_id=w.other_org.id)) == "not_a_member"
    pending_org = f.organization("待审协会", w.tree["district"], now, status=f.OrganizationStatus.PENDING)
    assert code_of(lambda: to_org(w, now, organization_id=pending_org.id)) == "organization_not_found"
    assert code_of(lambda: to_community(w, now, "community")) == "same_community"
    assert code_of(lambda: to_community(w, now, "street")) == "region_not_community"
    third = f.organization("丙协会", w.tree["district"], now)
    member(f.team(third, "丙队", now), w.alice, now)
    assert code_of(lambda: to_org(w, now)) == "from_organization_required"
    assert to_org(w, now, from_organization_id=third.id).from_organization_id == third.id
    assert db.session.scalar(select(func.count()).select_from(Transfer)) == 1


def test_the_approver_picks_the_team_when_the_organisation_has_several(world, now):
    w = world
    second_team = f.team(w.other_org, "乙区二队", now)
    row = to_org(w, now)
    assert code_of(lambda: transfers.decide(w.other_organizer, row.id, approve=True, reason=None, team_id=None,
                                            now=now)) == "team_required"
    assert code_of(lambda: transfers.decide(w.other_organizer, row.id, approve=True, reason=None, team_id=w.team.id,
                                            now=now)) == "team_not_in_organization"
    transfers.decide(w.other_organizer, row.id, approve=True, reason=None, team_id=second_team.id, now=now)
    assert status_in(second_team, w.alice) is MembershipStatus.ACTIVE


def test_a_community_transfer_moves_the_home_region_and_the_releasing_organisation_still_reads_its_records(world, now):
    w = world
    stranger_org = f.organization("乙区另一协会", w.tree["other_district"], now)
    stranger = f.organizer("sim_stranger", stranger_org, now)
    row = to_community(w, now)
    # The receiving community's nearest admins decide; the releasing side's nearest admins are told.
    assert messages("transfer_request", w.other_admin) and not messages("transfer_request", w.admin)
    assert code_of(lambda: transfers.decide(w.admin, row.id, approve=True, reason=None, team_id=None,
                                            now=now)) == "not_admin_of_region"
    transfers.decide(w.other_admin, row.id, approve=True, reason=None, team_id=None, now=now)
    db.session.refresh(w.alice)
    assert w.alice.region_id == w.tree["other_community"].id
    assert status_in(w.team, w.alice) is MembershipStatus.ACTIVE        # organisations are not left by moving home
    assert messages("transfer_released", w.admin)

    # Region scope followed her; the organisation that recorded her hour reads them still, and only them.
    assert code_of(lambda: directory.in_scope(w.organizer.id, w.alice.id)) == "volunteer_not_found"
    detail = directory.detail(w.organizer, w.alice.id)
    assert detail.organizations == [w.org.id]
    assert [(r.activity_id, r.minutes) for r in detail.records] == [(w.held.id, 60)]
    assert (detail.total_minutes, detail.record_count) == (60, 1)
    # Who neither covers her region nor recorded for her sees nothing; the new region's organisers see all.
    assert code_of(lambda: directory.detail(f.organizer("sim_nobody", f.organization(
        "甲区第三协会", w.tree["district"], now), now), w.alice.id)) == "volunteer_not_found"
    assert directory.detail(stranger, w.alice.id).organizations is None
    # The admin above the recorder reads them too.
    assert directory.detail(w.admin, w.alice.id).organizations == [w.org.id]
    # So does the archive: the recorder's lines only, read by the recorder after the move.
    volunteer, organizations = archive.readable_by(w.organizer, w.alice.id)
    lines = archive.archive(volunteer, organizations=organizations)["records"]
    assert organizations == [w.org.id] and [line["activity_id"] for line in lines] == [w.held.id]
    assert archive.archive(volunteer, organizations=[stranger_org.id])["records"] == []


def test_the_receipt_is_frozen_when_approved(world, now):
    w = world
    row = to_org(w, now, team_id=w.other_team.id)
    approved = transfers.decide(w.other_organizer, row.id, approve=True, reason=None, team_id=None, now=now)
    frozen, digest = dict(approved.receipt), approved.receipt_sha256
    record_id = db.session.scalar(select(ServiceRecord.id))
    service_records.correct(w.organizer, record_id, minutes_delta=30, reason="补记布置时间", now=now + timedelta(days=1))
    again = transfers.receipt(w.alice.account, row.id)
    assert (again.receipt, again.receipt_sha256) == (frozen, digest)
    assert transfers.hours_by_recorder(w.alice.id)[0]["minutes"] == 90      # the live figure moved, the receipt did not


def test_who_sees_a_transfer(world, now):
    w = world
    row = to_org(w, now, team_id=w.other_team.id)
    for account in (w.alice.account, w.organizer, w.other_organizer, w.admin, w.other_admin):
        assert transfers.visible(account, row.id).id == row.id
    bob = w.bob.account
    assert code_of(lambda: transfers.visible(bob, row.id)) == "transfer_not_found"
    assert code_of(lambda: transfers.withdraw(bob, row.id, now=now)) == "transfer_not_found"
    assert [t.id for t in transfers.of_organization(w.organizer, w.org.id, direction="outgoing", status=None)] == [row.id]
    assert transfers.of_organization(w.organizer, w.org.id, direction="incoming", status=None) == []
    assert [t.id for t in transfers.of_organization(w.other_organizer, w.other_org.id, direction="incoming",
                                                    status=TransferStatus.PENDING)] == [row.id]
    assert code_of(lambda: transfers.of_organization(w.organizer, w.other_org.id, direction=None,
                                                     status=None)) == "not_organizer_or_admin"


def test_region_queues_list_community_transfers_in_and_out(world, now):
    w = world
    row = to_community(w, now)
    assert [t.id for t in transfers.of_region(w.other_admin, w.tree["other_district"].id, direction="incoming",
                                              status=None)] == [row.id]
    assert [t.id for t in transfers.of_region(w.admin, w.tree["district"].id, direction="outgoing",
                                              status=None)] == [row.id]
    assert transfers.of_region(w.admin, w.tree["district"].id, direction="incoming", status=None) == []
    assert code_of(lambda: transfers.of_region(w.admin, w.tree["other_district"].id, direction=None,
                                               status=None)) == "not_admin_of_region"


def test_a_suspended_volunteer_is_not_moved(world, now):
    w = world
    row = to_org(w, now, team_id=w.other_team.id)
    w.alice.status = f.VolunteerStatus.SUSPENDED
    db.session.flush()
    assert code_of(lambda: transfers.decide(w.other_organizer, row.id, approve=True, reason=None, team_id=None,
                                            now=now)) == "volunteer_not_active"


def test_nothing_else_grants_roles(world, now):
    """Moving a membership never grants an organiser or captain role in the receiving organisation."""
    w = world
    grants = db.session.scalar(select(func.count()).select_from(RoleGrant))
    row = to_org(w, now, team_id=w.other_team.id)
    transfers.decide(w.other_organizer, row.id, approve=True, reason=None, team_id=None, now=now)
    assert db.session.scalar(select(func.count()).select_from(RoleGrant)) == grants
