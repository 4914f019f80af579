"""Points from service records: rules inherited, coefficient by grade, yearly cap, sources, corrections
reversed (clamped), the catch-up pass earning once however often it runs, and expiry FIFO."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.errors import DomainError
from app.extensions import db
from app.services.points import earning, expiry, ledger, rules as points_rules
from models import (ActivityStatus, PointsAccountKind, PointsTransfer, RecordKind, RecordSource, ServiceRecord,
                    TransferCode)
from jobs import points as points_jobs
from models.points_rules import PointsEarning
from tests import factories as f


def record(world, minutes, *, source=RecordSource.SCAN, volunteer=None, activity=None, corrects=None, at=None):
    volunteer = volunteer or world.alice
    row = ServiceRecord(volunteer_id=volunteer.id, activity_id=(activity or world.held).id,
                        kind=RecordKind.ATTENDANCE if corrects is None else RecordKind.CORRECTION,
                        source=source, minutes=minutes, created_at=at or world.now, reason=None,
                        corrects_record_id=corrects.id if corrects else None)
    db.session.add(row)
    db.session.commit()
    return row


def balance(volunteer, now):
    return ledger.balance(ledger.account(PointsAccountKind.VOLUNTEER, volunteer.id, now).id)


@pytest.fixture
def world(world):
    world.build("tree", "org", "admin", "alice", "bob")
    world["held"] = world.add_activity(starts_in=-timedelta(days=30), status=ActivityStatus.FINISHED)
    db.session.commit()
    return world


def run(world, **kw):
    return earning.catch_up(now=world.now, **kw)


def test_rules_default_and_inherited_value_by_value(world):
    community, district = world.tree["community"], world.tree["district"]
    rules = points_rules.in_force(community)
    assert rules.points_per_hour == 10 and rules.yearly_cap == 0 and rules.expiry_months == 0
    points_rules.set_rules(world.admin.id, district.id, {"points_per_hour": 20, "yearly_cap": 1500}, now=world.now)
    points_rules.set_rules(world.admin.id, world.tree["street"].id, {"grade_coefficients": [1, 1.2, 1.5]},
                           now=world.now)
    rules = points_rules.in_force(community)
    assert (rules.points_per_hour, rules.yearly_cap, rules.grade_coefficients) == (20, 1500, [1.0, 1.2, 1.5])
    assert rules.origins["points_per_hour"] == district.id and rules.origins["expiry_months"] is None
    assert points_rules.in_force(world.tree["other_community"]).points_per_hour == 10


@pytest.mark.parametrize("values", [{"points_per_hour": -1}, {"grade_coefficients": [1, 2]}, {"sources": ["x"]},
                                    {"yearly_cap": -5}, {"expiry_months": 999}, {"nonsense": 1}])
def test_bad_rules_are_refused(world, values):
    with pytest.raises(DomainError) as caught:
        points_rules.set_rules(world.admin.id, world.tree["district"].id, values, now=world.now)
    assert caught.value.code == "invalid_points_rules"


def test_a_record_earns_once_with_the_grade_coefficient_however_often_the_pass_runs(world):
    points_rules.set_rules(world.admin.id, world.tree["district"].id, {"grade_coefficients": [1.0, 1.2, 1.5]},
                           now=world.now)
    world.held.points_grade = 3
    db.session.commit()
    first = record(world, 90)
    assert run(world)["earned"] == 22            # 1.5 h × 10 × 1.5 = 22.5 → 22
    assert run(world) == {"records": 0, "earned": 0, "taken_back": 0, "skipped": 0}
    # A retry of one record (e.g. a pass that crashed after its read) earns nothing more.
    assert earning.earn_record(first.id, now=world.now) is None
    assert balance(world.alice, world.now) == 22
    transfer = db.session.scalar(select(PointsTransfer).where(PointsTransfer.idempotency_key == f"earn:record:{first.id}"))
    assert transfer.amount == 22 and transfer.code == TransferCode.EARN
    # Points never change hours.
    assert db.session.get(ServiceRecord, first.id).minutes == 90


def test_sources_that_do_not_earn_and_the_yearly_cap(world):
    points_rules.set_rules(world.admin.id, world.tree["district"].id, {"sources": ["scan"], "yearly_cap": 25},
                           now=world.now)
    record(world, 60, source=RecordSource.IMPORT)
    record(world, 120)
    record(world, 120)
    record(world, 60, volunteer=world.bob)
    run(world)
    notes = [row.note for row in db.session.scalars(select(PointsEarning).order_by(PointsEarning.record_id))]
    assert notes == ["source_not_earning", None, "yearly_cap", None]
    assert balance(world.alice, world.now) == 25 and balance(world.bob, world.now) == 10
    # Next year the cap starts again.
    record(world, 60, at=world.now + timedelta(days=400))
    run(world)
    assert balance(world.alice, world.now) == 35


def test_a_correction_takes_points_back_and_is_clamped_to_what_is_held(world):
    first = record(world, 120)
    run(world)
    record(world, -60, source=RecordSource.MANUAL, corrects=first)
    assert run(world)["taken_back"] == 10
    assert balance(world.alice, world.now) == 10
    corrections = db.session.scalars(select(PointsTransfer).where(PointsTransfer.code == TransferCode.CORRECT)).all()
    assert [(c.amount, c.corrects_transfer_id) for c in corrections] == [
        (10, db.session.scalar(select(PointsTransfer.id).where(PointsTransfer.idempotency_key == f"earn:record:{first.id}")))]
    # Alice gives her remaining points away; a further correction cannot take what she no longer holds.
    ledger.gift("g1", world.alice.id, world.bob.id, 8, None, world.now)
    db.session.commit()
    record(world, -60, source=RecordSource.MANUAL, corrects=first)
    run(world)
    last = db.session.scalars(select(PointsEarning).order_by(PointsEarning.record_id.desc())).first()
    assert (last.points, last.computed_points, last.note) == (-2, -10, "clamped_to_balance")
    assert balance(world.alice, world.now) == 0


def test_a_correction_never_takes_back_more_than_was_earned_at_the_activity(world):
    record(world, 30)
    run(world)
    record(world, -120, source=RecordSource.MANUAL)
    run(world)
    last = db.session.scalars(select(PointsEarning).order_by(PointsEarning.record_id.desc())).first()
    assert (last.points, last.note) == (-5, "clamped_to_earned")
    assert balance(world.alice, world.now) == 0


def test_the_pass_works_in_batches_and_catches_up(world):
    for _ in range(5):
        record(world, 60)
    assert run(world, limit=2)["records"] == 2
    assert run(world, limit=10)["records"] == 3
    assert balance(world.alice, world.now) == 50
    assert db.session.scalar(select(func.count()).select_from(PointsEarning)) == 5


def test_the_minutely_window_and_the_nightly_full_pass(world):
    late = record(world, 60)           # committed "late": below the window of the highest earned id
    for _ in range(3):
        record(world, 60)
    db.session.add(PointsEarning(
        record_id=late.id + 3, volunteer_id=world.alice.id, activity_id=world.held.id, year=2026, points=0,
        computed_points=0, created_at=world.now))
    db.session.commit()
    assert earning.catch_up(now=world.now, window=1)["records"] == 0
    assert points_jobs.earn_full(now=world.now)["records"] == 3
    assert balance(world.alice, world.now) == 30


def test_points_expire_first_in_first_out_once(world):
    points_rules.set_rules(world.admin.id, world.tree["district"].id, {"expiry_months": 12}, now=world.now)
    old_now = world.now - timedelta(days=400)
    ledger.earn("old", world.tree["district"].id, world.alice.id, 100, None, old_now)
    ledger.earn("new", world.tree["district"].id, world.alice.id, 50, None, world.now)
    ledger.gift("spent", world.alice.id, world.bob.id, 30, None, world.now)
    db.session.commit()
    assert expiry.expire_due(now=world.now) == {"expired": 70, "volunteers": 1}
    assert balance(world.alice, world.now) == 50
    assert expiry.expire_due(now=world.now) == {"expired": 0, "volunteers": 0}
    assert expiry.expire_due(now=world.now + timedelta(days=1)) == {"expired": 0, "volunteers": 0}
    # Bob's 30 received now do not expire yet.
    assert balance(world.bob, world.now) == 30


def test_a_record_written_by_the_real_check_out_path_earns_on_the_next_pass(app_context, now):
    w = f.World(now).build("tree", "org", "team", "captain", "volunteer")
    w.add_attended_activity()                     # check-in and check-out by the captain: one 60-minute record
    db.session.commit()
    assert run(w) == {"records": 1, "earned": 10, "taken_back": 0, "skipped": 0}
    assert balance(w.volunteer, now) == 10
    assert db.session.scalar(select(ServiceRecord.minutes)) == 60


def test_a_record_the_ledger_refuses_is_logged_and_retried_without_blocking_the_rest(world, monkeypatch):
    bad = record(world, 60)
    record(world, 60)
    real = {name: getattr(ledger, name) for name in ("transfer", "earn_locked")}

    def refusing(name):
        def refuse_bad(key, *args, **kwargs):
            if key == earning.earn_key(bad.id):
                raise DomainError("points_amount_invalid", "测试")
            return real[name](key, *args, **kwargs)
        return refuse_bad

    for name in real:
        monkeypatch.setattr(ledger, name, refusing(name))
    # The chunk with the refused record is undone as a whole, then each record is tried on its own.
    assert run(world) == {"records": 2, "earned": 10, "taken_back": 0, "skipped": 0, "failed": 1}
    for name, function in real.items():
        monkeypatch.setattr(ledger, name, function)
    assert run(world)["earned"] == 10
    assert balance(world.alice, world.now) == 20
