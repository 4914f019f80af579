"""Points administration: a bonus's reason on its transfer and on every reader's lines, the earning
cut-off date, the activity's grade frozen once points were earned, and the ledger of any account for
the admins over its owner."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.errors import DomainError
from app.extensions import db
from app.services import activities
from app.services.points import earning, giving, ledger, rules as points_rules, views
from app.timeutil import to_local
from models import ActivityStatus, PointsAccountKind, PointsTransfer, RecordKind, RecordSource, ServiceRecord
from models.points_rules import PointsEarning

REASON = "暴雨夜坚守岗位"


def add_record(world, activity, volunteer, minutes=600):
    row = ServiceRecord(volunteer_id=volunteer.id, activity_id=activity.id, kind=RecordKind.ATTENDANCE,
                        source=RecordSource.SCAN, minutes=minutes, created_at=world.now)
    db.session.add(row)
    db.session.commit()
    return row


def code_of(call) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


@pytest.fixture
def world(world):
    world.build("tree", "org", "organizer", "admin", "other_admin", "city_admin", "alice", "bob")
    world["held"] = world.add_activity(starts_in=-timedelta(days=30), status=ActivityStatus.FINISHED)
    world.alice.volunteer_number, world.bob.volunteer_number = "V0001", "V0002"
    world.alice.real_name = "张小三"
    db.session.commit()
    return world


# ------------------------------------------------------------------------------------------ bonus reason

def test_a_bonus_takes_a_trimmed_reason_kept_on_the_transfer_and_shown_on_both_sides(world):
    add_record(world, world.held, world.alice)
    earning.catch_up(now=world.now)
    giving.fund_pool(world.admin.id, world.org.id, 100, "f", now=world.now)
    for reason, code in (("", "bonus_reason_required"), ("   ", "bonus_reason_required"),
                         (None, "bonus_reason_required"), ("长" * 101, "bonus_reason_too_long")):
        assert code_of(lambda: giving.bonus(world.organizer.id, world.org.id, world.alice.id, world.held.id, 5, "b",
                                            reason=reason, now=world.now)) == code
    row = giving.bonus(world.organizer.id, world.org.id, world.alice.id, world.held.id, 5, "b",
                       reason=f"  {REASON} ", now=world.now)
    giving.bonus(world.organizer.id, world.org.id, world.alice.id, world.held.id, 5, "c", reason="长" * 100,
                 now=world.now)
    db.session.commit()
    assert row.memo == REASON
    mine = views.mine(world.alice.account, limit=5, cursor=None)["items"]
    assert mine[1]["memo"] == REASON and mine[1]["counterparty"] == f"{world.org.name} 组织奖励积分池"
    assert mine[1]["origin"] == f"活动「{world.held.title}」"
    assert mine[2]["memo"] is None and mine[2]["origin"].startswith("服务记录 #")
    pool = giving.pool_view(world.organizer.id, world.org.id, limit=5, before=None)["items"]
    assert pool[1]["memo"] == REASON and pool[1]["counterparty"] == "志愿者 张*三"
    assert pool[2]["code"] == "fund" and pool[2]["counterparty"] == "甲区 积分发行"


def test_a_transfer_memo_is_never_changed(world):
    add_record(world, world.held, world.alice)
    earning.catch_up(now=world.now)
    giving.fund_pool(world.admin.id, world.org.id, 100, "f", now=world.now)
    giving.bonus(world.organizer.id, world.org.id, world.alice.id, world.held.id, 5, "b", reason=REASON, now=world.now)
    db.session.commit()
    with pytest.raises((IntegrityError, DBAPIError)):
        db.session.execute(update(PointsTransfer).where(PointsTransfer.code == "bonus").values(memo="改过的理由"))
    db.session.rollback()


def test_a_repeated_key_with_another_memo_is_refused(world):
    add_record(world, world.held, world.alice)
    earning.catch_up(now=world.now)
    ledger.transfer("fund-x", ledger.account(PointsAccountKind.ISSUANCE, 1, world.now).id,
                    ledger.account(PointsAccountKind.ORG_POOL, world.org.id, world.now).id, 50, "fund", None, world.now)
    ledger.bonus("k", world.org.id, world.alice.id, 5, "activity:1", world.now, memo="一")
    assert ledger.bonus("k", world.org.id, world.alice.id, 5, "activity:1", world.now, memo="一").memo == "一"
    assert code_of(lambda: ledger.bonus("k", world.org.id, world.alice.id, 5, "activity:1", world.now,
                                        memo="二")) == "idempotency_key_reused"


# ------------------------------------------------------------------------------------------ cut-off date

def test_records_of_activities_before_the_cut_off_earn_nothing_and_are_not_looked_at_again(world):
    recent = world.add_activity(starts_in=-timedelta(days=2), status=ActivityStatus.FINISHED)
    cut_off = to_local(world.now - timedelta(days=10)).date()
    # Set at the city, inherited by the community where the activities are.
    points_rules.set_rules(world.city_admin.id, world.tree["city"].id, {"earning_starts_on": cut_off}, now=world.now)
    old = add_record(world, world.held, world.alice)
    new = add_record(world, recent, world.alice, minutes=60)
    assert earning.catch_up(now=world.now)["earned"] == 10
    skipped = db.session.get(PointsEarning, old.id)
    assert (skipped.points, skipped.note) == (0, "before_earning_start")
    assert db.session.get(PointsEarning, new.id).points == 10
    assert old.id not in earning.pending_record_ids()
    assert earning.catch_up(now=world.now) == {"records": 0, "earned": 0, "taken_back": 0, "skipped": 0}
    # A correction of the skipped record is skipped too: nothing to take back.
    correction = ServiceRecord(volunteer_id=world.alice.id, activity_id=world.held.id, kind=RecordKind.CORRECTION,
                               source=RecordSource.MANUAL, minutes=-60, corrects_record_id=old.id,
                               created_at=world.now)
    db.session.add(correction)
    db.session.commit()
    earning.catch_up(now=world.now)
    assert db.session.get(PointsEarning, correction.id).note == "before_earning_start"
    in_force = points_rules.in_force(world.tree["community"])
    assert in_force.earning_starts_on == cut_off and in_force.origins["earning_starts_on"] == world.tree["city"].id


def test_a_region_below_sets_an_earlier_cut_off_and_the_date_is_validated(world):
    points_rules.set_rules(world.city_admin.id, world.tree["city"].id, {"earning_starts_on": date(2099, 1, 1)},
                           now=world.now)
    points_rules.set_rules(world.admin.id, world.tree["district"].id, {"earning_starts_on": date(2000, 1, 1)},
                           now=world.now)
    add_record(world, world.held, world.alice)
    assert earning.catch_up(now=world.now)["earned"] == 100
    assert code_of(lambda: points_rules.set_rules(world.admin.id, world.tree["district"].id,
                                                  {"earning_starts_on": "2027-01-01"}, now=world.now)) == \
        "invalid_points_rules"


# ------------------------------------------------------------------------------------------ activity grade

def test_the_grade_is_set_by_the_organiser_and_frozen_once_points_were_earned(world):
    upcoming = world.add_activity(starts_in=timedelta(days=3))
    points_rules.set_rules(world.admin.id, world.tree["district"].id, {"grade_coefficients": [1, 1.5, 2]},
                           now=world.now)
    db.session.commit()
    activities.update(world.organizer, upcoming.id, {"points_grade": 3}, now=world.now)
    assert code_of(lambda: activities.update(world.organizer, upcoming.id, {"points_grade": 4},
                                             now=world.now)) == "invalid_activity"
    db.session.rollback()
    # An activity under way: a record is written at check-out and earns on the next pass.
    ongoing = world.add_activity(starts_in=-timedelta(hours=1), points_grade=2)
    add_record(world, ongoing, world.alice, minutes=60)
    activities.update(world.organizer, ongoing.id, {"points_grade": 3}, now=world.now)  # not earned yet
    db.session.commit()
    assert earning.catch_up(now=world.now)["earned"] == 20
    assert code_of(lambda: activities.update(world.organizer, ongoing.id, {"points_grade": 1},
                                             now=world.now)) == "points_grade_locked"
    db.session.rollback()
    # The same grade again, or other fields, are still fine.
    activities.update(world.organizer, ongoing.id, {"points_grade": 3, "capacity": 30}, now=world.now)


def test_the_database_holds_the_grade_to_one_to_three(world):
    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            world.add_activity(points_grade=4)


def test_grades_with_their_coefficients_for_the_activity_form(world):
    points_rules.set_rules(world.admin.id, world.tree["district"].id, {"grade_coefficients": [1, 1.2, 1.5]},
                           now=world.now)
    answer = points_rules.grades(world.tree["community"].id)
    assert [(g["label"], g["coefficient"]) for g in answer["grades"]] == [("一级", 1.0), ("二级", 1.2), ("三级", 1.5)]


# ------------------------------------------------------------------------------------------ admins' ledger

def test_admins_find_and_read_accounts_in_their_subtree_only(world):
    add_record(world, world.held, world.alice)
    earning.catch_up(now=world.now)
    giving.fund_pool(world.admin.id, world.org.id, 100, "f", now=world.now)
    db.session.commit()
    found = views.find_accounts(world.admin.id, world.tree["district"].id, volunteer_number=None, limit=10,
                                cursor=None)["items"]
    assert {(a["kind"], a["name"]) for a in found} == {
        ("issuance", "一社区 积分发行"), ("issuance", "甲区 积分发行"), ("org_pool", f"{world.org.name} 组织奖励积分池")}
    first = views.find_accounts(world.admin.id, world.tree["district"].id, volunteer_number=None, limit=2, cursor=None)
    rest = views.find_accounts(world.admin.id, world.tree["district"].id, volunteer_number=None, limit=2,
                               cursor=first["next_cursor"])
    assert len(first["items"]) == 2 and len(rest["items"]) == 1 and rest["next_cursor"] is None
    [alice] = views.find_accounts(world.admin.id, world.tree["district"].id, volunteer_number="V0001", limit=10,
                                  cursor=None)["items"]
    assert (alice["name"], alice["balance"]) == ("志愿者 张*三", 100)
    ledger_view = views.account_ledger(world.admin.id, alice["id"], limit=10, cursor=None)
    [line] = ledger_view["items"]
    assert (line["counterparty"], line["amount"], line["balance_after"]) == ("一社区 积分发行", 100, 100)
    issuance = next(a for a in found if a["name"] == "一社区 积分发行")
    [line] = views.account_ledger(world.city_admin.id, issuance["id"], limit=10, cursor=None)["items"]
    assert (line["counterparty"], line["amount"], line["balance_after"]) == ("志愿者 张*三", -100, -100)
    # Another district's admin: neither the region, nor the volunteer, nor the account by id.
    assert code_of(lambda: views.find_accounts(world.other_admin.id, world.tree["district"].id, volunteer_number=None,
                                               limit=10, cursor=None)) == "not_admin_of_region"
    assert code_of(lambda: views.find_accounts(world.other_admin.id, world.tree["other_district"].id,
                                               volunteer_number="V0001", limit=10, cursor=None)) == "not_admin_of_region"
    assert code_of(lambda: views.account_ledger(world.other_admin.id, alice["id"], limit=10, cursor=None)) == \
        "not_admin_of_region"
    assert code_of(lambda: views.account_ledger(world.organizer.id, issuance["id"], limit=10, cursor=None)) == \
        "not_admin_of_region"
    assert code_of(lambda: views.account_ledger(world.admin.id, 999_999, limit=10, cursor=None)) == \
        "points_account_not_found"
    assert code_of(lambda: views.find_accounts(world.admin.id, world.tree["district"].id, volunteer_number="V404",
                                               limit=10, cursor=None)) == "volunteer_not_found"
