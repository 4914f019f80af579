"""The festival calendar: GET /api/v1/calendar?year=, and the local days admins add."""

from __future__ import annotations

from datetime import date

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from app.db import unit_of_work
from app.extensions import api_spec
from app.services import calendar
from app.timeutil import current_time, to_local
from handlers._auth import BEARER_SECURITY, current_account_id, login_required
from handlers._schemas import Id, QueryArgs, StrictBody, answers, id_path

blueprint = Blueprint("calendar", __name__, url_prefix="/api/v1")


class CalendarQuery(QueryArgs):
    model_config = ConfigDict(extra="forbid")
    year: int | None = Field(default=None, ge=calendar.FIRST_YEAR, le=calendar.LAST_YEAR,
                             description="公历年份（1950–2100），默认今年")
    region_id: Id | None = Field(default=None, description="地区 id：同时列出该地区及上级地区的地方节庆日")


class FestivalView(BaseModel):
    key: str = Field(description="节庆日代码，跨年份不变；地方节庆日为 local_<id>")
    name: str
    date: date
    rule: str = Field(description="solar 公历 / lunar 农历 / solar_term 节气 / nth_weekday 第几个星期日 / local 地方")
    theme: str = Field(description="主题")
    lead: str = Field(description="牵头单位")
    local_day_id: int | None = None
    region_id: int | None = None


class CalendarView(BaseModel):
    year: int
    days: list[FestivalView]


class LocalDayBody(StrictBody):
    region_id: Id
    name: str = Field(min_length=2, max_length=40, description="节庆日名称")
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)
    year: int | None = Field(default=None, ge=calendar.FIRST_YEAR, le=calendar.LAST_YEAR,
                             description="只在这一年；不填则每年")
    theme: str = Field(min_length=2, max_length=100)
    lead: str = Field(min_length=2, max_length=40, description="牵头单位")


class LocalDayView(BaseModel):
    id: int
    region_id: int
    name: str
    month: int
    day: int
    year: int | None
    theme: str
    lead: str


@blueprint.get("/calendar")
@api_spec.validate(query=CalendarQuery, resp=answers(200, CalendarView, 404, 422), tags=["calendar"])
def get_calendar(query: CalendarQuery):
    """The festival days of a year, in date order, with themes and lead departments."""
    year = query.year or to_local(current_time()).year
    days = calendar.festival_days(year, region_id=query.region_id)
    return CalendarView(year=year, days=[
        FestivalView(key=d.key, name=d.name, date=d.day, rule=d.rule, theme=d.theme, lead=d.lead,
                     local_day_id=d.local_day_id, region_id=d.region_id) for d in days])


@blueprint.post("/calendar/local-days")
@login_required
@api_spec.validate(json=LocalDayBody, resp=answers(201, LocalDayView, 401, 403, 404, json_body=True),
                   tags=["calendar"], security=BEARER_SECURITY)
def add_local_day(json: LocalDayBody):
    """An admin adds a local festival day for a region in their subtree."""
    with unit_of_work():
        row = calendar.add_local_day(current_account_id(), now=current_time(), **json.model_dump())
        view = LocalDayView.model_validate(row, from_attributes=True)
    return view, 201


@blueprint.delete(f"/calendar/local-days/{id_path('local_day_id')}")
@login_required
@api_spec.validate(resp=answers(200, LocalDayView, 401, 403, 404), tags=["calendar"], security=BEARER_SECURITY)
def remove_local_day(local_day_id: int):
    """An admin removes a local festival day of a region in their subtree; the answer is what was removed."""
    with unit_of_work():
        row = calendar.remove_local_day(current_account_id(), local_day_id, now=current_time())
        view = LocalDayView.model_validate(row, from_attributes=True)
    return view
