"""The KPI catalogue as data, and the targets in force for a region.

Defaults come from the policy documents; an admin may set another target and yellow band for their
region (`kpi_targets`), which every node below inherits unless a nearer ancestor (or the node itself)
sets its own. Percent indicators keep their target and band in percent and points; the hours target
is a yearly figure, prorated by the elapsed share of the year, with a band in percent of the target.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from app.extensions import db
from models import KpiTarget, Region, RegionLevel

PERCENT, HOURS, COUNT = "percent", "hours", "count"
ALL_LEVELS = (RegionLevel.CITY, RegionLevel.DISTRICT, RegionLevel.STREET, RegionLevel.COMMUNITY)
UPPER_LEVELS = (RegionLevel.CITY, RegionLevel.DISTRICT, RegionLevel.STREET)

# Care themes and the yearly minimum of held activities each must reach (seed 004).
CARE_THEME_MINIMUMS = {"空巢老人": 2, "留守儿童": 2, "困难职工": 2, "残疾人": 2, "党员": 2,
                       "文明旅游": 1, "文明交通": 1, "文明上网": 1}


@dataclass(frozen=True)
class Indicator:
    key: str
    label: str
    unit: str
    levels: tuple[RegionLevel, ...]
    target: float
    yellow_band: float
    definition: str
    # The hours target is yearly and its band a share of it; the others are absolute.
    band_is_relative: bool = False

    def applies_to(self, level: RegionLevel) -> bool:
        return level in self.levels


INDICATORS: tuple[Indicator, ...] = (
    Indicator("registration_rate", "注册率", PERCENT, ALL_LEVELS, 13, 3,
              "在本地区居住的注册志愿者 ÷ 当年常住人口"),
    Indicator("recorded_rate", "有记录率", PERCENT, ALL_LEVELS, 70, 10,
              "年初至今有服务时长的注册志愿者 ÷ 注册志愿者"),
    Indicator("hours_per_volunteer", "人均服务时长", HOURS, ALL_LEVELS, 25, 20,
              "年初至今注册志愿者的服务时长 ÷ 注册志愿者（全年 25 小时，按已过天数折算）", band_is_relative=True),
    Indicator("station_activity", "站点活跃度", PERCENT, ALL_LEVELS, 100, 10,
              "统计期内每月平均开展 2 次以上活动的社区站点 ÷ 全部社区站点"),
    Indicator("care_themes", "关爱主题覆盖", PERCENT, UPPER_LEVELS, 100, 25,
              "年初至今达到最低活动次数的关爱主题 ÷ 8 个主题"),
    Indicator("professional_team_kinds", "专业队伍类别", COUNT, UPPER_LEVELS, 6, 2,
              "年初至今在本地区开展过活动的专业志愿服务队伍类别数"),
    Indicator("festival_campaigns", "节日主题活动", COUNT, UPPER_LEVELS, 10, 3,
              "年初至今在本地区开展过活动的节日主题数"),
    Indicator("quarterly_training", "季度培训", PERCENT, UPPER_LEVELS, 100, 10,
              "已开始的每个季度都开展过培训的专业队伍和街道 ÷ 全部专业队伍和街道"),
    Indicator("self_registration_rate", "自主注册率", PERCENT, ALL_LEVELS, 80, 5,
              "本人在线注册的注册志愿者 ÷ 注册志愿者"),
)
BY_KEY = {indicator.key: indicator for indicator in INDICATORS}


@dataclass(frozen=True)
class Target:
    """The target in force for one indicator at one node, and where it comes from."""

    key: str
    target: float
    yellow_band: float
    # The region whose override is in force; None for the catalogue's default.
    source_region_id: int | None = None

    def at(self, share_of_year: float) -> tuple[float, float]:
        """(target, band) for a period whose cap lies this far into the year."""
        indicator = BY_KEY[self.key]
        if not indicator.band_is_relative:
            return self.target, self.yellow_band
        target = self.target * share_of_year
        return target, target * self.yellow_band / 100


def defaults() -> dict[str, Target]:
    return {i.key: Target(i.key, float(i.target), float(i.yellow_band)) for i in INDICATORS}


def effective_targets(region: Region) -> dict[str, Target]:
    """The targets in force at the region: the nearest override up its path, else the default."""
    return effective_targets_many([region])[region.id]


def effective_targets_many(regions: list[Region]) -> dict[int, dict[str, Target]]:
    """effective_targets for several regions with one query (a children's ranking needs them all)."""
    lineages = {region.id: [int(part) for part in region.path.strip("/").split("/")] for region in regions}
    wanted = {region_id for lineage in lineages.values() for region_id in lineage}
    overrides = {(row.region_id, row.key): row for row in db.session.scalars(
        select(KpiTarget).where(KpiTarget.region_id.in_(wanted)))} if wanted else {}
    result = {}
    for region_id, lineage in lineages.items():
        targets = defaults()
        for ancestor in lineage:  # root first, so a nearer override replaces a farther one
            for key in targets:
                row = overrides.get((ancestor, key))
                if row is not None:
                    targets[key] = Target(key, row.target, row.yellow_band, ancestor)
        result[region_id] = targets
    return result
