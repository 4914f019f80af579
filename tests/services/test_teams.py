"""Team rules: names, join modes, requests and invitations, captains, and every reason code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.errors import DomainError
from app.extensions import db
from app.services import access, teams
from models import (AuditLog, JoinMode, MembershipStatus, OrganizationStatus, Role, RoleGrant, TeamKind,
                    TeamMembership, VolunteerStatus)
from tests import factories as f


@pytest.fixture
def world(world):
    world.build("tree", "org", "other_org", "team", "other_team", "organizer", "other_organizer", "other_captain",
                "alice")
    world["bob"] = f.approved_volunteer("sim_bob", world.tree["community"], world.now, real_name="李四",
                                        mobile="13700001111")
    return world


def code_of(call) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


def with_mode(team, mode):
    team.join_mode = mode
    db.session.flush()
    return team


def join(volunteer, team, now):
    member, moved = teams.join(volunteer.account, team.id, now=now)
    return member.membership, moved


def memberships() -> int:
    return db.session.scalar(select(func.count()).select_from(TeamMembership))


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


def test_an_organiser_creates_and_edits_teams_with_unique_names(world, now):
    team = teams.create(world["organizer"], world["org"].id, name="法律服务队", kind=TeamKind.LEGAL,
                        join_mode=JoinMode.OPEN, now=now)
    assert (team.kind, team.join_mode, team.organization_id) == (TeamKind.LEGAL, JoinMode.OPEN, world["org"].id)
    assert code_of(lambda: teams.create(world["organizer"], world["org"].id, name="医疗队", kind=TeamKind.GENERAL,
                                        join_mode=JoinMode.APPROVAL, now=now)) == "team_name_taken"
    # Another organisation may use the same name.
    teams.create(world["other_organizer"], world["other_org"].id, name="法律服务队", kind=TeamKind.LEGAL,
                 join_mode=JoinMode.OPEN, now=now)
    assert code_of(lambda: teams.update(world["organizer"], team.id, {"name": "医疗队"}, now=now)) == "team_name_taken"
    teams.update(world["organizer"], team.id, {"name": "法律服务队", "join_mode": "invitation", "kind": "general"},
                 now=now)
    assert (team.name, team.join_mode, team.kind) == ("法律服务队", JoinMode.INVITATION, TeamKind.GENERAL)
    assert actions() == ["team.created", "team.created", "team.updated"]


def test_only_organisers_of_an_approved_organisation_run_teams(world, now):
    pending = f.organization("待审协会", world["tree"]["district"], now, status=OrganizationStatus.PENDING)
    pending_organizer = f.organizer("sim_pending_org", pending, now)

    def create(who, org_id):
        return lambda: teams.create(who, org_id, name="新队", kind=TeamKind.GENERAL, join_mode=JoinMode.OPEN, now=now)

    assert code_of(create(pending_organizer, pending.id)) == "organization_not_approved"
    assert code_of(create(world["other_organizer"], world["org"].id)) == "not_organizer"
    assert code_of(create(world["alice"].account, world["org"].id)) == "not_organizer"
    assert code_of(create(world["organizer"], 424242)) == "organization_not_found"
    assert code_of(lambda: teams.update(world["organizer"], 424242, {}, now=now)) == "team_not_found"
    assert code_of(lambda: teams.update(world["other_organizer"], world["team"].id, {"name": "改名"},
                                        now=now)) == "not_organizer"


def test_an_open_team_takes_an_approved_volunteer_at_once_and_a_repeat_changes_nothing(world, now):
    team = with_mode(world["team"], JoinMode.OPEN)
    membership, moved = join(world["alice"], team, now)
    again, moved_again = join(world["alice"], team, now)
    assert moved and not moved_again and again.id == membership.id
    assert membership.status is MembershipStatus.ACTIVE
    assert memberships() == 1 and actions() == ["team.joined"]


def test_an_approval_team_takes_requests_that_a_captain_or_the_organiser_decides(world, now):
    team = world["team"]
    captain = f.captain("sim_captain", team, now)
    request, moved = join(world["alice"], team, now)
    assert moved and request.status is MembershipStatus.REQUESTED
    assert join(world["alice"], team, now) == (request, False)
    approved = teams.decide(captain, team.id, world["alice"].id, approve=True, reason=None, now=now)
    assert approved.membership.status is MembershipStatus.ACTIVE
    assert approved.membership.decided_by_account_id == captain.id and approved.membership.decided_at == now
    join(world["bob"], team, now)
    rejected = teams.decide(world["organizer"], team.id, world["bob"].id, approve=False, reason="人数已满", now=now)
    assert (rejected.membership.status, rejected.membership.reason) == (MembershipStatus.REJECTED, "人数已满")
    assert actions() == ["team.join_requested", "team.member_approved", "team.join_requested", "team.member_rejected"]


def test_decisions_have_reason_codes(world, now):
    team = world["team"]
    join(world["alice"], team, now)
    decide = teams.decide
    assert code_of(lambda: decide(world["organizer"], team.id, world["alice"].id, approve=False, reason=" ",
                                  now=now)) == "reason_required"
    assert code_of(lambda: decide(world["organizer"], team.id, world["bob"].id, approve=True, reason=None,
                                  now=now)) == "membership_not_found"
    assert code_of(lambda: decide(world["other_captain"], team.id, world["alice"].id, approve=True, reason=None,
                                  now=now)) == "not_team_manager"
    assert code_of(lambda: decide(world["other_organizer"], team.id, world["alice"].id, approve=True, reason=None,
                                  now=now)) == "not_team_manager"
    assert code_of(lambda: decide(world["organizer"], 424242, world["alice"].id, approve=True, reason=None,
                                  now=now)) == "team_not_found"
    decide(world["organizer"], team.id, world["alice"].id, approve=True, reason=None, now=now)
    assert code_of(lambda: decide(world["organizer"], team.id, world["alice"].id, approve=False, reason="迟了",
                                  now=now)) == "already_decided"


def test_only_approved_volunteers_join_and_only_teams_that_exist(world, now):
    pending = f.volunteer(f.account("sim_pending", now), world["tree"]["community"], now)
    assert pending.status is VolunteerStatus.PENDING
    assert code_of(lambda: teams.join(pending.account, world["team"].id, now=now)) == "not_approved_volunteer"
    assert code_of(lambda: teams.join(world["organizer"], world["team"].id, now=now)) == "not_approved_volunteer"
    assert code_of(lambda: teams.join(world["alice"].account, 424242, now=now)) == "team_not_found"
    hidden_org = f.organization("未批协会", world["tree"]["district"], now, status=OrganizationStatus.PENDING)
    hidden = f.team(hidden_org, "未批队", now)
    assert code_of(lambda: teams.join(world["alice"].account, hidden.id, now=now)) == "team_not_found"
    assert memberships() == 0


def test_an_invitation_team_takes_only_invited_volunteers(world, now):
    team = with_mode(world["team"], JoinMode.INVITATION)
    assert code_of(lambda: join(world["alice"], team, now)) == "invitation_only"
    invited, created = teams.invite(world["organizer"], team.id, world["alice"].id, now=now)
    assert created and invited.membership.status is MembershipStatus.INVITED
    again, created_again = teams.invite(world["organizer"], team.id, world["alice"].id, now=now)
    assert not created_again and again.membership.id == invited.membership.id
    accepted, moved = join(world["alice"], team, now + timedelta(hours=1))
    assert moved and accepted.status is MembershipStatus.ACTIVE and accepted.id == invited.membership.id
    assert accepted.decided_by_account_id == world["organizer"].id
    assert actions() == ["team.member_invited", "team.joined"]


def test_invitations_have_reason_codes(world, now):
    team = world["team"]
    pending = f.volunteer(f.account("sim_pending", now), world["tree"]["community"], now)
    invite = teams.invite
    assert code_of(lambda: invite(world["organizer"], team.id, 424242, now=now)) == "volunteer_not_found"
    assert code_of(lambda: invite(world["organizer"], team.id, pending.id, now=now)) == "invitee_not_approved"
    assert code_of(lambda: invite(world["other_organizer"], team.id, world["alice"].id, now=now)) == "not_organizer"
    join(world["alice"], team, now)
    assert code_of(lambda: invite(world["organizer"], team.id, world["alice"].id, now=now)) == "already_requested"
    teams.decide(world["organizer"], team.id, world["alice"].id, approve=True, reason=None, now=now)
    assert code_of(lambda: invite(world["organizer"], team.id, world["alice"].id, now=now)) == "already_member"


def test_rejoining_after_rejection_or_removal_reuses_the_row(world, now):
    team = world["team"]
    request, _ = join(world["alice"], team, now)
    teams.decide(world["organizer"], team.id, world["alice"].id, approve=False, reason="先参加培训", now=now)
    again, moved = join(world["alice"], team, now)
    assert moved and again.id == request.id and again.status is MembershipStatus.REQUESTED and again.reason is None
    teams.decide(world["organizer"], team.id, world["alice"].id, approve=True, reason=None, now=now)
    removed = teams.remove_member(world["organizer"], team.id, world["alice"].id, now=now)
    assert removed.membership.status is MembershipStatus.REMOVED
    with_mode(team, JoinMode.OPEN)
    back, moved = join(world["alice"], team, now)
    assert moved and back.id == request.id and back.status is MembershipStatus.ACTIVE
    assert memberships() == 1


def test_captains_are_approved_active_members_and_lose_the_role_when_removed(world, now):
    team = world["team"]
    alice = world["alice"]
    assert code_of(lambda: teams.appoint_captain(world["organizer"], team.id, alice.id, now=now)) == "not_a_member"
    join(alice, team, now)
    assert code_of(lambda: teams.appoint_captain(world["organizer"], team.id, alice.id, now=now)) == "not_a_member"
    teams.decide(world["organizer"], team.id, alice.id, approve=True, reason=None, now=now)
    assert code_of(lambda: teams.appoint_captain(world["organizer"], team.id, 424242, now=now)) == "not_a_member"
    assert code_of(lambda: teams.appoint_captain(world["other_organizer"], team.id, alice.id,
                                                 now=now)) == "not_organizer"
    assert teams.appoint_captain(world["organizer"], team.id, alice.id, now=now) == (team, True)
    assert teams.appoint_captain(world["organizer"], team.id, alice.id, now=now) == (team, False)
    assert access.is_captain(alice.account_id, team.id)
    [summary] = teams.summarize([team])
    assert summary.member_count == 1
    assert [(c.account_id, c.volunteer_id, c.real_name) for c in summary.captains] == [
        (alice.account_id, alice.id, alice.real_name)]
    teams.remove_member(world["organizer"], team.id, alice.id, now=now)
    assert not access.is_captain(alice.account_id, team.id)
    assert teams.summary(team).member_count == 0
    assert db.session.scalar(select(AuditLog.detail).where(AuditLog.action == "team.member_removed")) == {
        "team_id": team.id, "captain_dismissed": True}


def test_dismissing_a_captain_twice_is_not_found(world, now):
    team = with_mode(world["team"], JoinMode.OPEN)
    join(world["alice"], team, now)
    teams.appoint_captain(world["organizer"], team.id, world["alice"].id, now=now)
    teams.dismiss_captain(world["organizer"], team.id, world["alice"].id, now=now)
    assert code_of(lambda: teams.dismiss_captain(world["organizer"], team.id, world["alice"].id,
                                                 now=now)) == "not_a_captain"
    assert code_of(lambda: teams.dismiss_captain(world["organizer"], team.id, 424242, now=now)) == "not_a_captain"
    assert db.session.scalar(select(func.count()).select_from(RoleGrant).where(
        RoleGrant.role == Role.CAPTAIN, RoleGrant.team_id == team.id)) == 0


def test_removing_needs_a_member(world, now):
    team = world["team"]
    assert code_of(lambda: teams.remove_member(world["organizer"], team.id, world["alice"].id,
                                               now=now)) == "membership_not_found"
    join(world["alice"], team, now)  # a request is decided, not removed
    assert code_of(lambda: teams.remove_member(world["organizer"], team.id, world["alice"].id,
                                               now=now)) == "membership_not_found"
    invited, _ = teams.invite(world["organizer"], team.id, world["bob"].id, now=now)
    withdrawn = teams.remove_member(world["organizer"], team.id, world["bob"].id, now=now)
    assert withdrawn.membership.status is MembershipStatus.REMOVED


def test_members_are_listed_for_managers_and_memberships_for_their_volunteer(world, now):
    team = with_mode(world["team"], JoinMode.OPEN)
    join(world["alice"], team, now)
    join(world["bob"], team, now + timedelta(minutes=1))
    teams.appoint_captain(world["organizer"], team.id, world["bob"].id, now=now)
    rows, total = teams.list_members(world["bob"].account, team.id, status=None, page=1, per_page=20)
    assert total == 2 and [(m.volunteer.id, m.is_captain) for m in rows] == [(world["alice"].id, False),
                                                                             (world["bob"].id, True)]
    rows, total = teams.list_members(world["organizer"], team.id, status=MembershipStatus.REQUESTED, page=1,
                                     per_page=20)
    assert (rows, total) == ([], 0)
    assert code_of(lambda: teams.list_members(world["alice"].account, team.id, status=None, page=1,
                                              per_page=20)) == "not_team_manager"
    mine, total = teams.my_teams(world["bob"].account, status=None, page=1, per_page=20)
    assert total == 1 and mine[0].team.id == team.id and mine[0].is_captain
    assert code_of(lambda: teams.my_teams(world["organizer"], status=None, page=1,
                                          per_page=20)) == "not_approved_volunteer"


def test_teams_of_an_unapproved_organisation_are_hidden_from_outsiders(world, now):
    pending = f.organization("待审协会", world["tree"]["district"], now, status=OrganizationStatus.PENDING)
    f.team(pending, "待审队", now)
    own = f.organizer("sim_pending_org", pending, now)
    admin = f.admin("sim_admin", world["tree"]["district"], now)
    assert [s.team.name for s in teams.visible_teams(own, pending.id)] == ["待审队"]
    assert [s.team.name for s in teams.visible_teams(admin, pending.id)] == ["待审队"]
    for outsider in (world["alice"].account, world["other_organizer"]):
        assert code_of(lambda: teams.visible_teams(outsider, pending.id)) == "organization_not_found"
    assert [s.team.name for s in teams.visible_teams(world["alice"].account, world["org"].id)] == ["医疗队"]
