"""GET /api/v1/regions: browse the region tree to pick a community."""

from __future__ import annotations

from flask import Blueprint
from pydantic import BaseModel, Field

from app.extensions import api_spec
from app.services import regions
from handlers._schemas import Id, QueryArgs, answers

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
    """The children of a region, to choose a community step by step."""
    if query.parent_id is not None:
        regions.get_region(query.parent_id)
    return RegionList(items=[
        RegionItem(id=r.id, code=r.code, name=r.name, level=r.level.value, parent_id=r.parent_id)
        for r in regions.children_of(query.parent_id)
    ])
