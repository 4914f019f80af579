"""Quarterly reports: submission with a snapshot, the overview of who is late, the daily reminders."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.db import unit_of_work
from app.errors import DomainError
from app.extensions import db
from app.services import quarterly_reports, regions
from models import Notification, RegionLevel
from tests import factories as f

Q4_MID = datetime(2026, 12, 10, 2, 0, tzinfo=timezone.utc)     # 10 December: no reminders yet
REMIND = datetime(2026, 12, 16, 1, 15, tzinfo=timezone.utc)    # 16 December 09:15 Shanghai
AFTER_DUE = datetime(2026, 12, 26, 1, 15, tzinfo=timezone.utc)  # 26 December: the 25th has passed


@pytest.fixture
def area(app_context):
    city = regions.add_region("C0", "测试市", RegionLevel.CITY, None, 1000)
    district = regions.add_region("D1", "甲区", RegionLevel.DISTRICT, city, 40)
    north = regions.add_region("S1", "北街道", RegionLevel.STREET, district, 10)
    south = regions.add_region("S2", "南街道", RegionLevel.STREET, district, 10)
    community = regions.add_region("M1", "北社区", RegionLevel.COMMUNITY, north, 10)
    regions.add_region("M2", "南社区", RegionLevel.COMMUNITY, south, 10)
    start = datetime(2026, 1, 5, 2, 0, tzinfo=timezone.utc)
    f.approved_volunteer("sim_v1", community, start, reviewed_at=start)
    people = {"district_admin": f.admin("sim_district", district, start),
              "north_admin": f.admin("sim_north", north, start),
              "south_admin": f.admin("sim_south", south, start)}
    db.session.commit()
    return {"city": city, "district": district, "north": north, "south": south, "community": community, **people}


def test_a_street_submits_once_with_its_figures(area):
    with unit_of_work():
        report = quarterly_reports.submit(area["north_admin"].id, area["north"].id, "2026-Q4", "已整改", now=Q4_MID)
    assert report.quarter == "2026-Q4" and report.note == "已整改"
    registration = next(row for row in report.figures["figures"] if row["key"] == "registration_rate")
    assert (registration["numerator"], registration["denominator"], registration["value"]) == (1, 10, 10.0)
    with pytest.raises(DomainError) as again:
        quarterly_reports.submit(area["north_admin"].id, area["north"].id, "2026-Q4", "", now=Q4_MID)
    assert again.value.code == "report_already_submitted"


@pytest.mark.parametrize("who, where, quarter, code", [
    ("district_admin", "north", "2026-Q4", "not_unit_admin"),     # the district does not report for its street
    ("south_admin", "north", "2026-Q4", "not_unit_admin"),
    ("north_admin", "community", "2026-Q4", "not_a_reporting_unit"),
    ("north_admin", "north", "2027-Q1", "quarter_not_started"),
    ("north_admin", "north", "2026-12", "invalid_period"),
])
def test_who_may_submit_what(area, who, where, quarter, code):
    with pytest.raises(DomainError) as refused:
        quarterly_reports.submit(area[who].id, area[where].id, quarter, "", now=Q4_MID)
    assert refused.value.code == code


def test_the_overview_says_who_submitted_and_who_is_late(area):
    with unit_of_work():
        quarterly_reports.submit(area["north_admin"].id, area["north"].id, "2026-Q4", "", now=Q4_MID)
    before = quarterly_reports.overview(area["district_admin"].id, area["district"].id, "2026-Q4", now=Q4_MID)
    states = {unit["name"]: unit for unit in before["units"]}
    assert (states["北街道"]["state"], states["南街道"]["state"]) == ("submitted", "not_yet")
    assert before["summary"] == {"submitted": 1, "not_yet": 1, "late": 0}
    assert str(before["due_on"]) == "2026-12-25"
    assert any(red["key"] == "registration_rate" for red in states["南街道"]["red"])   # nobody registered there
    assert states["南街道"]["untrained"] == ["南街道"] and states["南街道"]["untrained_count"] == 1
    after = quarterly_reports.overview(area["district_admin"].id, area["district"].id, "2026-Q4", now=AFTER_DUE)
    assert {unit["name"]: unit["state"] for unit in after["units"]} == {"北街道": "submitted", "南街道": "late"}
    with pytest.raises(DomainError) as refused:
        quarterly_reports.overview(area["north_admin"].id, area["district"].id, "2026-Q4", now=Q4_MID)
    assert refused.value.code == "not_admin_of_region"


def _reminded() -> list[int]:
    return list(db.session.scalars(select(Notification.account_id)
                                   .where(Notification.kind == "quarterly_report_reminder")))


def test_reminders_from_the_15th_once_a_day_to_units_without_a_report(area):
    with unit_of_work():
        quarterly_reports.submit(area["north_admin"].id, area["north"].id, "2026-Q4", "", now=Q4_MID)
    with unit_of_work():
        assert quarterly_reports.remind(now=Q4_MID) == 0                  # before the 15th
    with unit_of_work():
        # 南街道 to 甲区, and 甲区 itself to the city: both without a report, both with red indicators.
        assert quarterly_reports.remind(now=REMIND) == 2
    assert sorted(_reminded()) == sorted([area["south_admin"].id, area["district_admin"].id])
    text = db.session.scalar(select(Notification.payload).where(
        Notification.account_id == area["south_admin"].id))["text"]
    assert "南街道" in text and "12月25日前" in text and "未达标" in text
    with unit_of_work():
        assert quarterly_reports.remind(now=REMIND + timedelta(hours=2)) == 0   # same day: nothing again
    with unit_of_work():
        assert quarterly_reports.remind(now=AFTER_DUE) == 2                     # a later day: reminded, now late
    assert "已超过报送期限" in db.session.scalars(select(Notification.payload).order_by(Notification.id.desc())).first()["text"]
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 4
