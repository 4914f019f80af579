"""Who manages what is answered once, in app/services/access.py, with one code per rule."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from app import checkin_codes
from app.errors import DomainError
from app.extensions import db
from app.services import access, checkin_displays, checkins, signups
from models import Activity, ActivityStatus, OrganizationStatus
from tests import factories as f
from tests.test_error_codes import raised_codes

# The codes of access rules and of the nouns' loaders: each is raised in access.py and nowhere else.
ACCESS_CODES = ("activity_not_found", "organization_not_found", "team_not_found", "not_organizer",
                "not_activity_manager", "not_admin_of_region", "not_organizer_or_admin", "not_team_manager",
                "not_a_reviewer", "not_station_operator")
# Codes the rules had before they were written once; no service may answer with them again.
RETIRED_CODES = ("not_your_team", "not_your_activity", "not_admin")
RULES = checkins.Rules(opens_minutes_before_start=60, checkout_grace_minutes=120, min_minutes_before_checkout=5)


def test_every_access_code_is_raised_in_access_py_only():
    raised = raised_codes()
    for code in ACCESS_CODES:
        places = {where.split(":")[0] for where in raised[code]}
        assert places == {"app/services/access.py"}, (code, raised[code])
        assert len(raised[code]) == 1, (code, raised[code])
    assert not set(RETIRED_CODES) & set(raised)


@pytest.fixture
def world(app_context, now):
    world = f.World(now).build("tree", "org", "team")
    world["activity"] = world.add_activity(starts_in=timedelta(hours=1))
    world["alice"] = f.approved_volunteer("sim_alice", world.tree["community"], now, real_name="李爱丽")
    signups.apply(world.volunteer.account, world.activity.id, join_waitlist=False, now=now)
    checkin_displays.personal_code(world.volunteer.account, now=now)
    world["draft"] = world.add_activity(status=ActivityStatus.DRAFT)
    world["stranger"] = f.account("sim_stranger", now)
    return world.build("organizer", "captain", "other_captain", "other_organizer", "admin", "other_admin")


def refused(call) -> tuple[str, int]:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code, caught.value.status


@pytest.mark.parametrize("who, manages", [("organizer", True), ("captain", True), ("other_captain", False),
                                          ("other_organizer", False), ("admin", False), ("stranger", False)])
def test_the_activity_manager_rule_is_the_same_in_python_and_in_sql(world, who, manages):
    account_id, activity = world[who].id, world["activity"]
    assert access.is_activity_manager(account_id, activity) is manages
    in_sql = db.session.scalar(select(access.activity_manager_condition(account_id)).where(Activity.id == activity.id))
    assert bool(in_sql) is manages
    if not manages:
        assert refused(lambda: access.require_activity_manager(account_id, activity, doing="查看报名")) == \
            ("not_activity_manager", 403)


def test_the_activity_loader_has_one_not_found_and_hides_drafts_as_asked(world):
    draft = world["draft"]
    assert refused(lambda: access.activity(10**9)) == ("activity_not_found", 404)
    assert access.activity(draft.id) is draft
    assert refused(lambda: access.activity(draft.id, hide_drafts=True)) == ("activity_not_found", 404)
    assert access.activity(draft.id, drafts_seen_by=world["organizer"].id) is draft
    for who in ("captain", "other_organizer", "stranger"):
        assert refused(lambda: access.activity(draft.id, drafts_seen_by=world[who].id)) == ("activity_not_found", 404)


def test_organisers_admins_and_overseers(world):
    org = world["org"]
    assert access.require_organizer(world["organizer"].id, org.id, doing="发布活动") is org
    code, status = refused(lambda: access.require_organizer(world["captain"].id, org.id, doing="发布活动"))
    assert (code, status) == ("not_organizer", 403)
    assert refused(lambda: access.require_organizer(world["organizer"].id, 10**9, doing="发布活动")) == \
        ("organization_not_found", 404)
    district, community = world["tree"]["district"], world["tree"]["community"]
    assert access.require_admin_over(world["admin"].id, community, doing="查看培训情况") is community
    assert refused(lambda: access.require_admin_over(world["other_admin"].id, district, doing="查看培训情况")) == \
        ("not_admin_of_region", 403)
    assert access.oversees(world["organizer"].id, org) and access.oversees(world["admin"].id, org)
    for who in ("other_admin", "other_organizer", "captain"):
        assert refused(lambda: access.require_overseer(world[who].id, org, doing="查看")) == ("not_organizer_or_admin", 403)


def test_an_unapproved_organisation_is_organised_but_not_managed(world, now):
    pending = f.organization("待审协会", world["tree"]["district"], now, status=OrganizationStatus.PENDING)
    organizer = f.organizer("sim_pending_org", pending, now)
    assert access.require_organizer(organizer.id, pending.id, doing="发布公告", approved=False) is pending
    with pytest.raises(DomainError) as caught:
        access.require_organizer(organizer.id, pending.id, doing="管理队伍")
    assert caught.value.code == "organization_not_approved" and caught.value.message == "组织通过审核后才能管理队伍"


def test_team_managers(world, now):
    team = world["team"]
    assert access.require_team_manager(world["captain"].id, team, doing="查看本队成员") is team
    assert access.require_team_manager(world["organizer"].id, team, doing="查看本队成员") is team
    for who in ("other_captain", "other_organizer", "admin"):
        assert refused(lambda: access.require_team_manager(world[who].id, team, doing="查看本队成员")) == \
            ("not_team_manager", 403)
    assert refused(lambda: access.team(10**9)) == ("team_not_found", 404)


def test_a_scan_answers_with_a_frozen_answer_and_its_refusals_are_logged_by_code(world, caplog):
    start = world["activity"].starts_at
    volunteer = world["volunteer"]
    code = checkin_codes.personal_code(volunteer.id, volunteer.checkin_secret, start)
    caplog.set_level(logging.INFO, logger="app.services.checkins")
    answer = checkins.captain_scan(world["captain"].id, world["activity"].id, code=code, nonce="n-first",
                                   rules=RULES, now=start)
    assert isinstance(answer, checkins.ScanAnswer) and answer.result == "checked_in"
    with pytest.raises(dataclasses.FrozenInstanceError):
        answer.minutes = 99  # type: ignore[misc]
    assert not caplog.records
    assert refused(lambda: checkins.captain_scan(world["other_captain"].id, world["activity"].id, code=code,
                                                 nonce="n-other", rules=RULES, now=start)) == ("not_activity_manager", 403)
    assert refused(lambda: checkins.captain_scan(world["captain"].id, world["activity"].id, code=code,
                                                 nonce="n-again", rules=RULES, now=start)) == ("already_checked_in", 409)
    logged = [(r.levelno, r.getMessage()) for r in caplog.records]
    activity_id = world["activity"].id
    assert logged == [
        (logging.WARNING, f"scan refused: activity={activity_id} kind=captain_scan code=not_activity_manager"),
        (logging.INFO, f"scan refused: activity={activity_id} kind=captain_scan code=already_checked_in")]
    # No personal data: not the name (masked or not), the code, or the volunteer's id.
    text = " ".join(message for _, message in logged)
    assert "李" not in text and code not in text and f"V{volunteer.id}" not in text
