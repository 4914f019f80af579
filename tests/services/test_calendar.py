"""The festival calendar: known dates over several years, every year 1950–2100, and local days."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from app.errors import DomainError
from app.extensions import db
from app.services import calendar
from models import AuditLog, LocalFestivalDay
from tests import factories as f

# Published dates (China's official holiday notices and almanacs).
KNOWN = {
    2024: {"spring_festival": date(2024, 2, 10), "qingming": date(2024, 4, 4), "dragon_boat": date(2024, 6, 10),
           "mid_autumn": date(2024, 9, 17), "double_ninth": date(2024, 10, 11), "disability_day": date(2024, 5, 19)},
    2025: {"spring_festival": date(2025, 1, 29), "qingming": date(2025, 4, 4), "dragon_boat": date(2025, 5, 31),
           "mid_autumn": date(2025, 10, 6), "double_ninth": date(2025, 10, 29), "disability_day": date(2025, 5, 18)},
    2026: {"spring_festival": date(2026, 2, 17), "qingming": date(2026, 4, 5), "dragon_boat": date(2026, 6, 19),
           "mid_autumn": date(2026, 9, 25), "double_ninth": date(2026, 10, 18), "disability_day": date(2026, 5, 17)},
    2027: {"spring_festival": date(2027, 2, 6), "qingming": date(2027, 4, 5), "dragon_boat": date(2027, 6, 9),
           "mid_autumn": date(2027, 9, 15), "double_ninth": date(2027, 10, 8), "disability_day": date(2027, 5, 16)},
    2008: {"spring_festival": date(2008, 2, 7), "qingming": date(2008, 4, 4), "dragon_boat": date(2008, 6, 8),
           "mid_autumn": date(2008, 9, 14), "disability_day": date(2008, 5, 18)},
}


@pytest.mark.parametrize("year", sorted(KNOWN))
def test_known_lunar_solar_term_and_weekday_dates(year):
    days = {day.key: day.day for day in calendar.built_in_days(year)}
    assert {key: days[key] for key in KNOWN[year]} == KNOWN[year]
    assert days["new_year"] == date(year, 1, 1) and days["memorial_day"] == date(year, 12, 13)


def test_every_year_from_1950_to_2100_has_every_day_in_its_season():
    for year in range(calendar.FIRST_YEAR, calendar.LAST_YEAR + 1):
        days = {day.key: day for day in calendar.built_in_days(year)}
        assert set(days) == calendar.BUILT_IN_KEYS
        assert all(day.day.year == year for day in days.values()), year
        assert date(year, 1, 21) <= days["spring_festival"].day <= date(year, 2, 20), year
        assert date(year, 4, 4) <= days["qingming"].day <= date(year, 4, 6), year
        assert days["disability_day"].day.weekday() == 6 and 15 <= days["disability_day"].day.day <= 21, year
        assert date(year, 9, 7) <= days["mid_autumn"].day <= date(year, 10, 8), year


def test_days_come_in_date_order_with_theme_and_lead():
    days = calendar.built_in_days(2026)
    assert [day.day for day in days] == sorted(day.day for day in days)
    double_ninth = next(day for day in days if day.key == "double_ninth")
    assert "老人" in double_ninth.theme and double_ninth.lead == "区卫生健康委"


@pytest.mark.parametrize("year", [1949, 2101, -1])
def test_years_outside_the_tables_are_refused(year):
    with pytest.raises(DomainError) as caught:
        calendar.built_in_days(year)
    assert caught.value.code == "year_out_of_range"


@pytest.fixture
def tree(app_context):
    return f.region_tree()


def test_an_admin_adds_a_local_day_seen_below_their_region_only(tree, now):
    admin = f.admin("sim_admin", tree["district"], now)
    row = calendar.add_local_day(admin.id, region_id=tree["district"].id, name="桂花节", month=9, day=28, year=None,
                                 theme="社区文化志愿服务", lead="区文化和旅游局", now=now)
    in_community = {day.key: day for day in calendar.festival_days(2026, region_id=tree["community"].id)}
    assert in_community[f"local_{row.id}"].day == date(2026, 9, 28)
    assert f"local_{row.id}" not in {day.key for day in calendar.festival_days(2026, region_id=tree["other_community"].id)}
    assert f"local_{row.id}" not in {day.key for day in calendar.festival_days(2026)}
    assert db.session.scalar(select(func.count()).select_from(AuditLog)
                             .where(AuditLog.action == "calendar.local_day_added")) == 1


def test_a_one_year_local_day_and_a_yearly_leap_day(tree, now):
    admin = f.admin("sim_admin", tree["city"], now)
    once = calendar.add_local_day(admin.id, region_id=tree["city"].id, name="运动会", month=8, day=8, year=2026,
                                  theme="赛会志愿服务", lead="市体育局", now=now)
    leap = calendar.add_local_day(admin.id, region_id=tree["city"].id, name="闰日", month=2, day=29, year=None,
                                  theme="测试", lead="市文明办", now=now)
    keys = lambda year: {day.key for day in calendar.festival_days(year, region_id=tree["city"].id)}  # noqa: E731
    assert f"local_{once.id}" in keys(2026) and f"local_{once.id}" not in keys(2027)
    assert f"local_{leap.id}" in keys(2028) and f"local_{leap.id}" not in keys(2027)


def test_others_cannot_add_or_remove_local_days_and_bad_dates_are_refused(tree, now):
    admin = f.admin("sim_admin", tree["district"], now)
    other_admin = f.admin("sim_other_admin", tree["other_district"], now)
    organizer = f.organizer("sim_org", f.organization("甲区协会", tree["district"], now), now)

    def add(who, **changes):
        fields = dict(region_id=tree["street"].id, name="地方节", month=6, day=6, year=None, theme="主题", lead="街道")
        with pytest.raises(DomainError) as caught:
            calendar.add_local_day(who.id, now=now, **{**fields, **changes})
        return caught.value.code

    assert add(other_admin) == add(organizer) == add(admin, region_id=tree["city"].id) == "not_admin_of_region"
    assert add(admin, month=2, day=30) == add(admin, month=4, day=31, year=2026) == "invalid_date"
    assert add(admin, year=2200) == "year_out_of_range"
    assert db.session.scalar(select(func.count()).select_from(LocalFestivalDay)) == 0
    row = calendar.add_local_day(admin.id, region_id=tree["street"].id, name="地方节", month=6, day=6, year=None,
                                 theme="主题", lead="街道", now=now)
    with pytest.raises(DomainError) as caught:
        calendar.remove_local_day(other_admin.id, row.id, now=now)
    assert caught.value.code == "not_admin_of_region"
    calendar.remove_local_day(admin.id, row.id, now=now)
    assert db.session.scalar(select(func.count()).select_from(LocalFestivalDay)) == 0


def test_lead_departments_carry_the_names_after_the_2018_reform():
    from app.services.calendar import BUILT_IN

    leads = {definition.key: definition.lead for definition in BUILT_IN}
    for old in ("环保局", "文体广新局", "老龄办", "公安分局"):
        assert not [key for key, lead in leads.items() if old in lead], old
    assert (leads["tree_planting_day"], leads["world_book_day"], leads["double_ninth"], leads["fire_safety_day"],
            leads["victory_day"]) == ("区生态环境局", "区文化和旅游局", "区卫生健康委", "区消防救援支队",
                                      "区退役军人事务局")
