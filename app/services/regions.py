"""The region tree: lookups, subtrees and the path used for scope checks."""

from __future__ import annotations

from sqlalchemy import select

from app.errors import DomainError, NotFound
from app.extensions import db
from models import Region, RegionLevel
from models.regions import LEVEL_ORDER


def get_region(region_id: int) -> Region:
    """Return the region or raise region_not_found."""
    region = db.session.get(Region, region_id)
    if region is None:
        raise NotFound("region_not_found", "找不到该地区")
    return region


def region_retired() -> DomainError:
    """The one refusal for a retired region given to a new volunteer, organisation or activity."""
    return DomainError("region_retired", "所选地区已撤销，请重新选择", 422, fields={"region_id": "已撤销"})


def require_open(region_id: int) -> Region:
    """Return the region if it exists and is not retired: where new volunteers, organisations and activities go."""
    region = db.session.get(Region, region_id)
    if region is None:
        raise DomainError("region_not_found", "找不到所选地区，请重新选择", 422, fields={"region_id": "不存在"})
    if region.retired_at is not None:
        raise region_retired()
    return region


def require_community(region_id: int) -> Region:
    """Return the region if it is a community (社区/村), the level volunteers register in, and not retired."""
    region = db.session.get(Region, region_id)
    if region is None:
        raise DomainError("region_not_found", "找不到所选社区，请重新选择", 422, fields={"region_id": "不存在"})
    if region.retired_at is not None:
        raise region_retired()
    if region.level is not RegionLevel.COMMUNITY:
        raise DomainError("region_not_community", "请选择到社区（村）一级", 422, fields={"region_id": "需为社区（村）"})
    return region


def children_of(parent_id: int | None) -> list[Region]:
    """Return the direct children of a region (the cities when parent_id is None) that are not retired, by code."""
    query = select(Region).where(Region.parent_id.is_(None) if parent_id is None else Region.parent_id == parent_id,
                                 Region.retired_at.is_(None))
    return list(db.session.scalars(query.order_by(Region.code)))


def add_region(code: str, name: str, level: RegionLevel, parent: Region | None, population: int | None = None) -> Region:
    """Insert a region under its parent, one level down, and set its materialised path."""
    expected = LEVEL_ORDER[0] if parent is None else LEVEL_ORDER[LEVEL_ORDER.index(parent.level) + 1] \
        if parent.level is not RegionLevel.COMMUNITY else None
    if level is not expected:
        raise DomainError("region_level_mismatch", "地区层级不正确：市 → 区县 → 镇街 → 社区（村）", 422)
    region = Region(code=code, name=name, level=level, parent=parent, population=population, path="")
    db.session.add(region)
    db.session.flush()
    region.path = (parent.path if parent else "/") + f"{region.id}/"
    db.session.flush()
    return region


def is_within(region: Region, ancestor_path: str) -> bool:
    """Tell whether the region lies in the subtree whose root has `ancestor_path`."""
    return region.path.startswith(ancestor_path)


def lineage_ids(region: Region) -> list[int]:
    """The ids from the root down to the region itself, read from its materialised path."""
    return [int(part) for part in region.path.strip("/").split("/")]
