"""The festival calendar: the days themed campaigns are run on, for any year 1950–2100.

Fixed solar dates are fixed; 春节, 端午, 中秋 and 重阳 are lunar dates and 清明 is a solar term, all
computed by lunar-python (6tail's calendar library, tables to 2100); 全国助残日 is the third Sunday
of May. Themes and lead departments follow the district's festival task table (seeds/004, 附件3).
Admins add local days for their region; they join the built-in ones in every year they apply to.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from datetime import date, datetime, timedelta
from typing import Literal

from lunar_python import Lunar, Solar
from sqlalchemy import select

from app.errors import DomainError, NotFound
from app.extensions import db
from app.services import access, audit, regions
from models import LocalFestivalDay

FIRST_YEAR, LAST_YEAR = 1950, 2100

Rule = Literal["solar", "lunar", "solar_term", "nth_weekday", "local"]


@dataclass(frozen=True)
class FestivalDay:
    key: str            # stable across years: campaigns are keyed by (festival, year)
    name: str
    day: date
    rule: Rule
    theme: str
    lead: str
    local_day_id: int | None = None
    region_id: int | None = None


@dataclass(frozen=True)
class _Definition:
    key: str
    name: str
    rule: Rule
    month: int
    day: int            # for nth_weekday: which Sunday of the month
    theme: str
    lead: str


_LEAD_DEFAULT = "区文明办"
# Lead departments by today's names: the 2018 reform of government bodies renamed or merged several
# of those the task table names (环保局 → 生态环境局; 文体广新局 → 文化和旅游局; 老龄办 → within the
# 卫生健康委; fire services from the police to 消防救援; veterans' care to the new 退役军人事务局).
_ECOLOGY = "区生态环境局"
_CULTURE = "区文化和旅游局"
_HEALTH = "区卫生健康委"
_FIRE = "区消防救援支队"
_VETERANS = "区退役军人事务局"
# The built-in festival days (PRODUCT.md; seeds/004 附件3 and seeds/001).
BUILT_IN: tuple[_Definition, ...] = (
    _Definition("new_year", "元旦", "solar", 1, 1, "新年志愿服务，邻里守望迎新春", _LEAD_DEFAULT),
    _Definition("spring_festival", "春节", "lunar", 1, 1, "关爱空巢老人、留守儿童和困难群众，共度新春", _LEAD_DEFAULT),
    _Definition("lei_feng_day", "学雷锋纪念日·中国青年志愿者服务日", "solar", 3, 5, "学雷锋志愿服务集中行动", "团区委"),
    _Definition("tree_planting_day", "植树节", "solar", 3, 12, "植绿护绿环保志愿服务", _ECOLOGY),
    _Definition("qingming", "清明节", "solar_term", 4, 0, "缅怀英烈，文明祭扫，网上祭英烈", _LEAD_DEFAULT),
    _Definition("earth_day", "世界地球日", "solar", 4, 22, "关爱自然，保护山川河流", _ECOLOGY),
    _Definition("world_book_day", "世界读书日", "solar", 4, 23, "全民阅读志愿服务", _CULTURE),
    _Definition("labour_day", "国际劳动节", "solar", 5, 1, "关爱困难职工，文明交通、文明旅游", "区总工会"),
    _Definition("youth_day", "青年节", "solar", 5, 4, "青年志愿者进社区，邻里守望", "团区委"),
    _Definition("disability_day", "全国助残日", "nth_weekday", 5, 3, "助残志愿服务", "区残联"),
    _Definition("childrens_day", "国际儿童节", "solar", 6, 1, "关爱留守儿童、困境儿童", "团区委"),
    _Definition("dragon_boat", "端午节", "lunar", 5, 5, "邻里守望，为困难群众包粽子、送温暖", _CULTURE),
    _Definition("party_day", "建党纪念日", "solar", 7, 1, "党员进社区志愿服务", "区委组织部"),
    _Definition("victory_day", "抗战胜利纪念日", "solar", 9, 3, "慰问抗战老战士、老同志及其家属", _VETERANS),
    _Definition("teachers_day", "教师节", "solar", 9, 10, "感谢师恩主题志愿服务", "区教育局"),
    _Definition("mid_autumn", "中秋节", "lunar", 8, 15, "关爱空巢老人、农民工，欢度佳节", _CULTURE),
    _Definition("civic_morality_day", "公民道德宣传日", "solar", 9, 20, "践行文明公约，学习道德模范", _LEAD_DEFAULT),
    _Definition("national_day", "国庆节", "solar", 10, 1, "公共场所文明引导志愿服务", _LEAD_DEFAULT),
    _Definition("double_ninth", "重阳节·老人节", "lunar", 9, 9, "关爱老人，低龄老人关爱高龄老人", _HEALTH),
    _Definition("poverty_day", "扶贫日", "solar", 10, 17, "扶贫募捐，走访慰问困难群众", "区民政局"),
    _Definition("fire_safety_day", "全国消防宣传日", "solar", 11, 9, "消防安全宣传教育", _FIRE),
    _Definition("disabled_persons_day", "世界残疾人日", "solar", 12, 3, "助残志愿服务", "区残联"),
    _Definition("constitution_day", "国家宪法日", "solar", 12, 4, "知法学法、遵法守法主题宣传", "区司法局"),
    _Definition("volunteer_day", "国际志愿者日", "solar", 12, 5, "志愿者进社区，表彰优秀志愿者和项目", _LEAD_DEFAULT),
    _Definition("memorial_day", "国家公祭日", "solar", 12, 13, "公祭活动，网上祭奠", "区民政局"),
)
BUILT_IN_KEYS = frozenset(definition.key for definition in BUILT_IN)


class CalendarError(DomainError):
    pass


def require_year(year: int) -> int:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise CalendarError("year_out_of_range", f"只能查询 {FIRST_YEAR} 至 {LAST_YEAR} 年的节庆日", 422,
                            fields={"year": f"应在 {FIRST_YEAR}–{LAST_YEAR} 之间"})
    return year


def built_in_days(year: int) -> list[FestivalDay]:
    """The built-in festival days of a year, in date order."""
    return list(_built_in_days(require_year(year)))


@lru_cache(maxsize=16)
def _built_in_days(year: int) -> tuple[FestivalDay, ...]:
    # The lunar arithmetic is pure; the draft job asks for the same year once per organisation.
    days = [FestivalDay(d.key, d.name, _date_of(d, year), d.rule, d.theme, d.lead) for d in BUILT_IN]
    return tuple(sorted(days, key=lambda festival: (festival.day, festival.key)))


def festival_days(year: int, *, region_id: int | None = None) -> list[FestivalDay]:
    """Built-in days and the local days of the region and the regions above it, in date order.

    Without a region, only the built-in days: local days belong to where they were added.
    """
    days = built_in_days(year)
    if region_id is not None:
        scope = regions.lineage_ids(regions.get_region(region_id))
        rows = db.session.scalars(select(LocalFestivalDay).where(LocalFestivalDay.region_id.in_(scope))).all()
        days += [_local(row, year) for row in rows if row.year in (None, year) and _valid_in(row, year)]
    return sorted(days, key=lambda festival: (festival.day, festival.key))


def find(key: str, year: int, *, region_id: int | None = None) -> FestivalDay:
    for festival in festival_days(year, region_id=region_id):
        if festival.key == key:
            return festival
    raise NotFound("festival_not_found", "找不到该节庆日")


def add_local_day(account_id: int, *, region_id: int, name: str, month: int, day: int, year: int | None,
                  theme: str, lead: str, now: datetime) -> LocalFestivalDay:
    """An admin adds a local festival day for their region (every year, or only `year`)."""
    _require_admin_over(account_id, region_id, "添加")
    if year is not None:
        require_year(year)
    try:
        date(year or 2000, month, day)  # 2000 is a leap year: 2-29 is a valid yearly day
    except ValueError:
        raise CalendarError("invalid_date", f"{month} 月 {day} 日不是有效日期", 422,
                            fields={"day": "日期无效"}) from None
    row = LocalFestivalDay(region_id=region_id, name=name, month=month, day=day, year=year, theme=theme, lead=lead,
                           created_by_account_id=account_id, created_at=now)
    db.session.add(row)
    db.session.flush()
    audit.record(account_id, "calendar.local_day_added", "local_festival_day", row.id, now=now, name=name)
    return row


def remove_local_day(account_id: int, local_day_id: int, *, now: datetime) -> LocalFestivalDay:
    row = db.session.get(LocalFestivalDay, local_day_id)
    if row is None:
        raise NotFound("festival_not_found", "找不到该地方节庆日")
    _require_admin_over(account_id, row.region_id, "删除")
    db.session.delete(row)
    audit.record(account_id, "calendar.local_day_removed", "local_festival_day", local_day_id, now=now)
    return row


def _require_admin_over(account_id: int, region_id: int, doing: str) -> None:
    access.require_admin_over(account_id, regions.get_region(region_id), doing=f"{doing}地方节庆日")


def _date_of(definition: _Definition, year: int) -> date:
    if definition.rule == "solar":
        return date(year, definition.month, definition.day)
    if definition.rule == "lunar":
        solar = Lunar.fromYmd(year, definition.month, definition.day).getSolar()
        return date(solar.getYear(), solar.getMonth(), solar.getDay())
    if definition.rule == "solar_term":
        # The lunar year that contains mid-April of `year` holds that year's 清明 (early April).
        term = Solar.fromYmd(year, 4, 15).getLunar().getJieQiTable()[definition.name.removesuffix("节")]
        return date(term.getYear(), term.getMonth(), term.getDay())
    first = date(year, definition.month, 1)
    first_sunday = first + timedelta(days=(6 - first.weekday()) % 7)
    return first_sunday + timedelta(weeks=definition.day - 1)


def _local(row: LocalFestivalDay, year: int) -> FestivalDay:
    return FestivalDay(f"local_{row.id}", row.name, date(year, row.month, row.day), "local", row.theme, row.lead,
                       local_day_id=row.id, region_id=row.region_id)


def _valid_in(row: LocalFestivalDay, year: int) -> bool:
    try:
        date(year, row.month, row.day)  # a yearly 2-29 is skipped in common years
    except ValueError:
        return False
    return True
