"""Certificates: issuers, the four parts, review, publicity (calendar and working days), objections, issue, revocation."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from app import pii
from app.errors import DomainError
from app.extensions import db, settings
from app.services.certificates import content, flow, publicity, tasks, verification
from app.timeutil import SHANGHAI
from models import (ActivityKind, ArchiveEntry, ArchiveEntryKind, ActivityStatus, Certificate, CertificateStatus, Checkin, CheckinMethod,
                    ObjectionStatus, OrganizationStatus, RecordKind, RecordSource, RoleGrant, ServiceRecord)
from tests import factories as f

START, END = date(2026, 1, 1), date(2026, 11, 22)


def record(world, activity, minutes, *, source=RecordSource.SCAN, volunteer=None):
    volunteer = volunteer or world.alice
    row = ServiceRecord(volunteer_id=volunteer.id, activity_id=activity.id,
                        kind=RecordKind.ATTENDANCE if source is RecordSource.SCAN else RecordKind.CORRECTION,
                        source=source, minutes=minutes, created_at=world.now, reason=None)
    db.session.add(row)
    db.session.flush()
    return row


@pytest.fixture
def served(world):
    """alice served 2 h scanned + 30 min entered for `org`, 1 h for `other_org`, and attended a training of `org`."""
    world.build("org", "organizer", "other_org", "other_organizer", "alice", "bob")
    world.alice.id_number_encrypted = pii.encrypt("110101199001011234", settings()["app"]["pii_key"])
    world.alice.volunteer_number = "110101-000042"
    world.org.contact_name, world.org.contact_mobile = "王会长", "010-12345678"
    world["held"] = world.add_activity(starts_in=-timedelta(days=30), status=ActivityStatus.FINISHED,
                                       title="社区环境整治", description="清理楼道杂物，张贴宣传海报")
    record(world, world.held, 120)
    record(world, world.held, 30, source=RecordSource.MANUAL)
    world["training"] = world.add_activity(starts_in=-timedelta(days=20), status=ActivityStatus.FINISHED,
                                           title="急救培训", kind=ActivityKind.TRAINING)
    db.session.add(Checkin(activity_id=world.training.id, volunteer_id=world.alice.id,
                           checked_in_at=world.training.starts_at, checkin_method=CheckinMethod.MANUAL))
    record(world, world.training, 90)
    world["elsewhere"] = f.activity(world.other_org, world.tree["other_community"], world.now,
                                    starts_in=-timedelta(days=10), status=ActivityStatus.FINISHED, title="乙区义诊")
    record(world, world.elsewhere, 60)
    # Outside the period: never on a certificate for it.
    world["last_year"] = world.add_activity(starts_in=-timedelta(days=400), status=ActivityStatus.FINISHED)
    record(world, world.last_year, 600)
    return world


def requested(world):
    rows = flow.request(world.alice.account, START, END, note="升学用", now=world.now)
    return {row.organization_id: row for row in rows}


def approved(world, *, at=None):
    row = requested(world)[world.org.id]
    return flow.review(world.organizer.id, row.id, approve=True, reason=None, now=at or world.now)


def test_one_certificate_per_organisation_that_recorded_hours_and_a_repeat_reuses_them(served):
    first = requested(served)
    assert sorted(first) == sorted([served.org.id, served.other_org.id])
    assert all(row.status is CertificateStatus.REQUESTED and len(row.verification_code) == 16 for row in first.values())
    again = requested(served)
    assert {key: row.id for key, row in again.items()} == {key: row.id for key, row in first.items()}


def test_awards_are_the_issuers_own_in_the_period_less_those_retracted(served):
    def entry(title, organization, day, *, retracts=None):
        row = ArchiveEntry(volunteer_id=served.alice.id, kind=ArchiveEntryKind.AWARD, title=title, issuer=None,
                           occurred_on=day, organization_id=organization.id, retracts_entry_id=retracts,
                           reason="文件", created_by_account_id=served.organizer.id, created_at=served.now)
        db.session.add(row)
        db.session.flush()
        return row

    day = (served.now - timedelta(days=5)).date()
    entry("优秀志愿者", served.org, day)
    taken_back = entry("误录的表彰", served.org, day)
    entry("撤销：误录的表彰", served.org, day, retracts=taken_back.id)
    entry("乙协会表彰", served.other_org, day)
    entry("去年的表彰", served.org, day - timedelta(days=400))
    awards = approved(served).content["service"]["awards"]
    assert awards == [{"date": day.isoformat(), "title": "优秀志愿者", "granted_by": "甲区志愿者协会"}]


@pytest.mark.parametrize("start, end, code", [
    (date(2026, 11, 22), date(2026, 1, 1), "invalid_certificate_period"),
    (date(2026, 1, 1), date(2026, 11, 24), "invalid_certificate_period"),   # ends after today
    (date(2020, 1, 1), date(2020, 12, 31), "no_hours_in_period"),
])
def test_bad_periods_are_refused(served, start, end, code):
    with pytest.raises(DomainError) as caught:
        flow.request(served.alice.account, start, end, note=None, now=served.now)
    assert caught.value.code == code


def test_the_star_held_when_reviewed_is_in_the_content_and_on_the_page(served):
    from app.services.certificates import pdf
    from models import StarApplication, StarOrigin, StarStatus

    db.session.add(StarApplication(volunteer_id=served.alice.id, level=2, status=StarStatus.AWARDED,
                                   origin=StarOrigin.VOLUNTEER, approval_region_id=served.tree["street"].id,
                                   qualifying_minutes=300 * 60, months_registered=12, rules={},
                                   opened_at=served.now, awarded_at=served.now))
    db.session.flush()
    row = approved(served)
    assert row.content["identity"]["star_level"] == 2
    page = pdf.html(row.content, "https://example.org/v/x?c=y", font_path=None)
    assert "2星级志愿者" in page
    # A volunteer without a star: no line for it.
    assert "星级" not in pdf.html({**row.content, "identity": {**row.content["identity"], "star_level": 0}},
                                  "https://example.org/v/x?c=y", font_path=None)


def test_content_has_the_four_parts_with_masked_id_and_service_hours_only(served):
    row = approved(served)
    c = row.content
    assert c["identity"] == {"name": "张三丰", "masked_name": "张*丰", "id_type": "居民身份证",
                             "id_number_masked": "110***********1234", "volunteer_number": "110101-000042",
                             "star_level": 0}
    service = c["service"]
    assert (service["hours"], service["scanned_hours"], service["entered_hours"]) == (2.5, 2.0, 0.5)
    assert [a["title"] for a in service["activities"]] == ["社区环境整治"]
    assert service["activities"][0]["content"] == "清理楼道杂物，张贴宣传海报"
    assert [t["title"] for t in service["trainings"]] == ["急救培训"]   # listed, not counted in the hours
    assert service["awards"] == []
    assert c["issuer"]["name"] == "甲区志愿者协会" and c["issuer"]["person_in_charge"] == "王会长"
    assert c["issuer"]["contact"] == "010-12345678" and c["issuer"]["issued_for_dissolved"] is False
    assert c["other"]["serial"] == row.serial and c["other"]["issue_date"] is None
    assert any("升学用" in note for note in c["other"]["notes"])
    assert "110101199001011234" not in str(c)


def test_serials_count_per_issuer_and_year(served):
    row = approved(served)
    assert row.serial == f"ZM{served.org.id:06d}-2026-00001"
    bob_activity = served.add_activity(starts_in=-timedelta(days=5), status=ActivityStatus.FINISHED)
    record(served, bob_activity, 60, volunteer=served.bob)
    bobs = flow.request(served.bob.account, START, END, note=None, now=served.now)
    second = flow.review(served.organizer.id, bobs[0].id, approve=True, reason=None, now=served.now)
    assert second.serial == f"ZM{served.org.id:06d}-2026-00002"


def test_only_the_issuers_organisers_review_and_a_rejection_needs_a_reason(served):
    row = requested(served)[served.org.id]
    for outsider in (served.other_organizer, served.admin, served.bob.account):
        with pytest.raises(DomainError) as caught:
            flow.review(outsider.id, row.id, approve=True, reason=None, now=served.now)
        assert caught.value.code in ("not_certificate_handler", "certificate_not_found")
    with pytest.raises(DomainError) as caught:
        flow.review(served.organizer.id, row.id, approve=False, reason=None, now=served.now)
    assert caught.value.code == "rejection_reason_required"
    rejected = flow.review(served.organizer.id, row.id, approve=False, reason="时长有误", now=served.now)
    assert rejected.status is CertificateStatus.REJECTED and rejected.serial is None
    with pytest.raises(DomainError) as caught:
        flow.review(served.organizer.id, row.id, approve=True, reason=None, now=served.now)
    assert caught.value.code == "certificate_not_requested"


def test_a_dissolved_organisation_is_handled_by_the_admin_of_its_region(served):
    row = requested(served)[served.org.id]
    db.session.execute(RoleGrant.__table__.delete().where(RoleGrant.organization_id == served.org.id))
    served.org.status = OrganizationStatus.REJECTED
    with pytest.raises(DomainError):
        flow.review(served.other_admin.id, row.id, approve=True, reason=None, now=served.now)
    done = flow.review(served.admin.id, row.id, approve=True, reason=None, now=served.now)
    assert done.content["issuer"]["issued_for_dissolved"] is True
    assert done.content["issuer"]["issuing_region"] == "甲区"


def local(year, month, day):
    return datetime(year, month, day, tzinfo=SHANGHAI).astimezone(timezone.utc)


@pytest.mark.parametrize("working_days, expected_end", [
    (False, local(2026, 10, 8)),    # 10-01 … 10-07 counted
    # Working days skip the National Day holiday (10-01 … 10-07) and count the make-up Saturday 10-10:
    # 10-08, 10-09, 10-10, 10-12, 10-13, 10-14, 10-15.
    (True, local(2026, 10, 16)),
])
def test_publicity_in_calendar_or_working_days(served, working_days, expected_end):
    flow.set_policy(served.city_admin.id, served.tree["city"].id, publicity_days=7, working_days=working_days,
                    now=served.now)
    row = approved(served, at=local(2026, 9, 30) + timedelta(hours=15))
    assert row.publicity_ends_at == expected_end


def test_the_nearest_regions_rule_wins_else_the_configured_default(served):
    assert publicity.policy_for(served.tree["street"]) == publicity.Policy(7, False, None)
    flow.set_policy(served.city_admin.id, served.tree["city"].id, publicity_days=10, working_days=False, now=served.now)
    flow.set_policy(served.admin.id, served.tree["district"].id, publicity_days=5, working_days=True, now=served.now)
    assert publicity.policy_for(served.tree["street"]).publicity_days == 5
    assert publicity.policy_for(served.tree["other_street"]).publicity_days == 10
    with pytest.raises(DomainError) as caught:
        flow.set_policy(served.admin.id, served.tree["city"].id, publicity_days=3, working_days=False, now=served.now)
    assert caught.value.code == "not_admin_of_region"


def test_years_beyond_the_holiday_data_count_monday_to_friday(app):
    policy = publicity.Policy(3, True, None)
    with app.app_context():
        assert publicity.last_day(date(2031, 1, 3), policy) == date(2031, 1, 8)   # Fri → Mon, Tue, Wed


def test_a_published_schedule_in_the_configuration_covers_a_year_the_calendar_lacks(make_app):
    # A made-up schedule for 2031 (beyond the bundled data): Jan 6–8 off, Sunday Jan 12 worked instead.
    app = make_app(working_days={"holidays": ["2031-01-06", "2031-01-07", "2031-01-08"],
                                 "make_up_days": ["2031-01-12"]})
    policy = publicity.Policy(3, True, None)
    with app.app_context():
        assert not publicity.is_working_day(date(2031, 1, 7))
        assert publicity.is_working_day(date(2031, 1, 12))
        assert not publicity.is_working_day(date(2031, 1, 11))              # an ordinary Saturday
        # Fri 3 → Thu 9, Fri 10, Sun 12 (make-up): Mon–Wed were holidays.
        assert publicity.last_day(date(2031, 1, 3), policy) == date(2031, 1, 12)
        # A year the configuration does not mention still follows the bundled calendar: 2026-10-01 is National Day.
        assert not publicity.is_working_day(date(2026, 10, 1))
        assert publicity.is_working_day(date(2026, 10, 10))                 # its make-up Saturday


def test_issue_waits_for_the_end_of_publicity_and_open_objections(served):
    row = approved(served)
    assert flow.issue(row.id, now=row.publicity_ends_at - timedelta(seconds=1)) is False
    objection = flow.object_to(served.bob.account.id, row.id, reason="该活动我也在场，时长似乎偏多", now=served.now)
    after = row.publicity_ends_at + timedelta(minutes=1)
    assert flow.due_for_issue(after) == []
    with pytest.raises(DomainError) as caught:
        flow.issue_by_handler(served.organizer.id, row.id, now=after)
    assert caught.value.code == "objections_open"
    flow.decide_objection(served.organizer.id, row.id, objection.id, upheld=False, note="已核实签到记录", now=after)
    assert flow.due_for_issue(after) == [row.id]
    assert flow.issue(row.id, now=after) is True
    assert flow.issue(row.id, now=after) is False     # once
    issued = db.session.get(Certificate, row.id)
    assert issued.status is CertificateStatus.ISSUED and issued.snapshot["other"]["issue_date"] == "2026-12-01"
    assert issued.snapshot_sha256 == content.snapshot_hash(issued.snapshot)


def test_an_upheld_objection_rejects_and_objections_outside_publicity_are_refused(served):
    row = approved(served)
    objection = flow.object_to(served.bob.account.id, row.id, reason="时长不实", now=served.now)
    decided = flow.decide_objection(served.organizer.id, row.id, objection.id, upheld=True, note="核实有误",
                                    now=served.now)
    assert decided.status is ObjectionStatus.UPHELD
    assert db.session.get(Certificate, row.id).status is CertificateStatus.REJECTED
    with pytest.raises(DomainError) as caught:
        flow.decide_objection(served.organizer.id, row.id, objection.id, upheld=False, note="改判", now=served.now)
    assert caught.value.code == "objection_decided"
    with pytest.raises(DomainError) as caught:
        flow.object_to(served.alice.account.id, row.id, reason="再提", now=served.now)
    assert caught.value.code == "not_in_publicity"
    with pytest.raises(DomainError) as caught:    # no longer public: others do not learn it exists
        flow.object_to(served.bob.account.id, row.id, reason="再提", now=served.now)
    assert caught.value.code == "certificate_not_found"


def test_issued_figures_never_change_and_revocation_needs_an_issued_certificate(served):
    row = approved(served)
    flow.issue(row.id, now=row.publicity_ends_at)
    frozen, digest = dict(db.session.get(Certificate, row.id).snapshot), row.snapshot_sha256
    record(served, served.held, 300, source=RecordSource.MANUAL)   # a later correction
    again = db.session.get(Certificate, row.id)
    assert again.snapshot == frozen and again.snapshot_sha256 == digest
    revoked = flow.revoke(served.organizer.id, row.id, reason="活动记录造假", now=served.now + timedelta(days=30))
    assert revoked.status is CertificateStatus.REVOKED
    with pytest.raises(DomainError) as caught:
        flow.revoke(served.organizer.id, row.id, reason="再撤", now=served.now)
    assert caught.value.code == "certificate_not_issued"


def test_verification_needs_the_code_and_shows_publicity_issue_and_revocation(served):
    row = approved(served)
    with pytest.raises(DomainError) as caught:
        verification.lookup(row.serial, "A" * 16)
    assert caught.value.code == "certificate_not_found"
    shown = verification.public_view(verification.lookup(row.serial, row.verification_code.lower()))
    assert shown["status"] == "publicity" and shown["masked_name"] == "张*丰" and shown["hours"] == 2.5
    assert shown["publicity_ends_on"] == "2026-11-30" and shown["issue_date"] is None
    unreviewed = requested(served)[served.other_org.id]
    with pytest.raises(DomainError):
        verification.lookup(unreviewed.serial or "ZM", unreviewed.verification_code)


def test_verification_lookups_are_rate_limited_per_client(served):
    for _ in range(settings()["certificates"]["verify_burst"]):
        verification.require_budget("198.51.100.7")
    with pytest.raises(DomainError) as caught:
        verification.require_budget("198.51.100.7")
    assert caught.value.status == 429
    verification.require_budget("198.51.100.8")   # another client has its own budget


def test_the_pdf_page_has_the_four_parts_a_seal_area_and_the_qr_of_the_verification_link(served):
    row = approved(served)
    flow.issue(row.id, now=row.publicity_ends_at)
    snapshot, url = row.snapshot, verification.link(row.serial, row.verification_code)
    assert url == f"https://volunteer.example.org/v/{row.serial}?c={row.verification_code}"
    page = tasks.pdf.html(snapshot, url, font_path=None)
    for part in ("一、志愿者身份信息", "二、志愿服务信息", "三、出具组织信息", "四、其他", "盖章", "110***********1234",
                 "110101-000042", "社区环境整治", "急救培训", "王会长", row.serial, "2026-12-01", url):
        assert part in page, part
    assert "<svg" in page and "110101199001011234" not in page


def test_the_holder_is_told_each_step_once_and_the_issue_notice_carries_the_link(served):
    from sqlalchemy import select
    from models import Notification

    row = approved(served)
    flow.issue(row.id, now=row.publicity_ends_at)
    flow.issue(row.id, now=row.publicity_ends_at)     # the job and the button: told once
    flow.revoke(served.organizer.id, row.id, reason="活动记录有误", now=row.publicity_ends_at)
    told = db.session.execute(select(Notification.account_id, Notification.idempotency_key, Notification.payload)
                              .where(Notification.kind == "certificate_progress").order_by(Notification.id)).all()
    assert {account_id for account_id, _, _ in told} == {served.alice.account.id}
    assert [key.rsplit(":", 1)[1] for _, key, _ in told] == ["publicity", "issued", "revoked"]
    assert verification.link(row.serial, row.verification_code) in str(told[1].payload)
