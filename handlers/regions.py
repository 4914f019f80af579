"""The region tree: anyone browses it to pick a community; admins manage the nodes below them."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint
from pydantic import BaseModel, Field

from app.db import unit_of_work
from app.extensions import api_spec
from app.services import region_management, regions
from app.timeutil import current_time, to_local
from handlers._auth import BEARER_SECURITY, current_account_id, login_required
from handlers._schemas import Id, QueryArgs, StrictBody, answers, id_path
from models import Region, RegionPopulation

blueprint = Blueprint("regions", __name__, url_prefix="/api/v1")


class RegionQuery(QueryArgs):
    parent_id: Id | None = Field(default=None, description="上级地区 id；不填则列出城市")


class RegionItem(BaseModel):
    id: int
    code: str
    name: str
    level: str = Field(description="city 市 / district 区县 / street 镇街 / community 社区（村）")
    parent_id: int | None


class RegionList(BaseModel):
    items: list[RegionItem]


@blueprint.get("/regions")
@api_spec.validate(query=RegionQuery, resp=answers(200, RegionList, 404, 422), tags=["regions"])
def list_regions(query: RegionQuery):
    """The children of a region that are not retired, to choose a community step by step."""
    if query.parent_id is not None:
        regions.get_region(query.parent_id)
    return RegionList(items=[
        RegionItem(id=r.id, code=r.code, name=r.name, level=r.level.value, parent_id=r.parent_id)
        for r in regions.children_of(query.parent_id)
    ])


# --- managing the tree (admins of a region or of one above it) -------------------------------------

YEAR_MIN, YEAR_MAX = 1949, 2100


class TreeQuery(QueryArgs):
    year: int | None = Field(default=None, ge=YEAR_MIN, le=YEAR_MAX, description="常住人口的年份；不填为今年")


class RegionNode(BaseModel):
    id: int
    code: str
    name: str
    level: str = Field(description="city 市 / district 区县 / street 镇街 / community 社区（村）")
    parent_id: int | None
    retired: bool = Field(description="已撤销")
    population: int | None = Field(description="该年份的常住人口；未设置为 null")
    children: list[RegionNode]


class RegionTree(BaseModel):
    year: int
    root: RegionNode


class AddRegionBody(StrictBody):
    parent_id: Id = Field(description="上级地区 id（须在调用者管辖范围内）")
    name: str = Field(min_length=1, max_length=64, description="地区名称")
    code: str | None = Field(default=None, min_length=1, max_length=29, pattern=r"^[0-9A-Za-z]+$",
                             description="地区代码；不填则由上级代码加三位序号生成")


class RenameBody(StrictBody):
    name: str = Field(min_length=1, max_length=64, description="新名称")


class RetireBody(StrictBody):
    reason: str = Field(min_length=1, max_length=200, description="撤销原因")


class PopulationBody(StrictBody):
    population: int = Field(ge=0, le=100_000_000, description="常住人口")


class RegionView(BaseModel):
    id: int
    code: str
    name: str
    level: str = Field(description="city 市 / district 区县 / street 镇街 / community 社区（村）")
    parent_id: int | None
    population: int | None = Field(description="最近一年的常住人口")
    retired: bool
    retired_at: datetime | None
    retired_reason: str | None


class PopulationView(BaseModel):
    year: int
    population: int
    updated_at: datetime


class PopulationList(BaseModel):
    region_id: int
    items: list[PopulationView]


def _node(node: region_management.Node) -> RegionNode:
    r = node.region
    return RegionNode(id=r.id, code=r.code, name=r.name, level=r.level.value, parent_id=r.parent_id,
                      retired=r.retired_at is not None, population=node.population,
                      children=[_node(child) for child in node.children])


def _region_view(r: Region) -> RegionView:
    return RegionView(id=r.id, code=r.code, name=r.name, level=r.level.value, parent_id=r.parent_id,
                      population=r.population, retired=r.retired_at is not None, retired_at=r.retired_at,
                      retired_reason=r.retired_reason)


def _population_view(row: RegionPopulation) -> PopulationView:
    return PopulationView(year=row.year, population=row.population, updated_at=row.updated_at)


@blueprint.get(f"/regions/{id_path('region_id')}/tree")
@login_required
@api_spec.validate(query=TreeQuery, resp=answers(200, RegionTree, 401, 403, 404, 422), tags=["regions"],
                   security=BEARER_SECURITY)
def region_tree(region_id: int, query: TreeQuery):
    """The region and its whole subtree (retired nodes too), each with its resident population in the year."""
    year = query.year or to_local(current_time()).year
    return RegionTree(year=year, root=_node(region_management.tree(current_account_id(), region_id, year=year)))


@blueprint.post("/regions")
@login_required
@api_spec.validate(json=AddRegionBody, resp=answers(201, RegionView, 401, 403, 404, 409, json_body=True),
                   tags=["regions"], security=BEARER_SECURITY)
def add_region(json: AddRegionBody):
    """Add a region one level below a region the caller administers (or one below that)."""
    with unit_of_work():
        region = region_management.add_child(current_account_id(), json.parent_id, name=json.name, code=json.code,
                                             now=current_time())
        view = _region_view(region)
    return view, 201


@blueprint.patch(f"/regions/{id_path('region_id')}")
@login_required
@api_spec.validate(json=RenameBody, resp=answers(200, RegionView, 401, 403, 404, 409, json_body=True),
                   tags=["regions"], security=BEARER_SECURITY)
def rename_region(region_id: int, json: RenameBody):
    """Rename a region below the caller's own."""
    with unit_of_work():
        view = _region_view(region_management.rename(current_account_id(), region_id, name=json.name,
                                                      now=current_time()))
    return view


@blueprint.post(f"/regions/{id_path('region_id')}/retire")
@login_required
@api_spec.validate(json=RetireBody, resp=answers(200, RegionView, 401, 403, 404, 409, json_body=True),
                   tags=["regions"], security=BEARER_SECURITY)
def retire_region(region_id: int, json: RetireBody):
    """Retire a region below the caller's own: it leaves the public tree and takes nobody new."""
    with unit_of_work():
        view = _region_view(region_management.retire(current_account_id(), region_id, reason=json.reason,
                                                     now=current_time()))
    return view


@blueprint.put(f"/regions/{id_path('region_id')}/populations/<int(min={YEAR_MIN}, max={YEAR_MAX}):year>")
@login_required
@api_spec.validate(json=PopulationBody, resp=answers(200, PopulationView, 401, 403, 404, json_body=True),
                   tags=["regions"], security=BEARER_SECURITY)
def set_population(region_id: int, year: int, json: PopulationBody):
    """Set the region's resident population (常住人口) in a year."""
    with unit_of_work():
        view = _population_view(region_management.set_population(current_account_id(), region_id, year=year,
                                                                 population=json.population, now=current_time()))
    return view


@blueprint.get(f"/regions/{id_path('region_id')}/populations")
@login_required
@api_spec.validate(resp=answers(200, PopulationList, 401, 403, 404), tags=["regions"], security=BEARER_SECURITY)
def list_populations(region_id: int):
    """The region's resident population by year, newest first."""
    rows = region_management.populations(current_account_id(), region_id)
    return PopulationList(region_id=region_id, items=[_population_view(r) for r in rows])
