"""How long a certificate is publicised (公示) before it is issued: a region's rule, in calendar or working days.

The 2015 意见 asks for publicity inside the unit of generally at least 7 days. The rule of the
issuing organisation's region applies, or of the nearest region above it that set one
(`certificate_policies`), else `[certificates] publicity_days` / `publicity_working_days`.
Counting starts the day after approval (Shanghai days) and publicity ends at the midnight after the
last counted day. Working days follow China's official holidays and make-up working days
(`chinesecalendar`, whose data is updated each year when the State Council publishes the next
year's schedule). A year the package does not cover yet can be given in `[working_days]` (holidays and
make-up working days as published); for a year neither knows, Monday to Friday are counted, and a
warning is logged.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import chinese_calendar
from sqlalchemy import select

from app.extensions import db, settings
from app.services import regions
from app.timeutil import local_day_bounds, to_local
from models import CertificatePolicy, Region

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    publicity_days: int
    working_days: bool
    region_id: int | None  # the region whose rule this is; None for the configured default


def policy_for(region: Region) -> Policy:
    """The rule of the region or the nearest region above it that has one; else the configured default."""
    lineage = regions.lineage_ids(region)
    rows = {row.region_id: row for row in db.session.scalars(
        select(CertificatePolicy).where(CertificatePolicy.region_id.in_(lineage)))}
    for region_id in reversed(lineage):
        if region_id in rows:
            return Policy(rows[region_id].publicity_days, rows[region_id].working_days, region_id)
    conf = settings()["certificates"]
    return Policy(conf["publicity_days"], conf["publicity_working_days"], None)


def is_working_day(day: date) -> bool:
    """China's official working days (make-up Saturdays included, holidays excluded); Monday–Friday beyond the data."""
    conf = settings()["working_days"]
    holidays, make_up_days = _configured_days(conf["holidays"], conf["make_up_days"])
    if day in holidays:
        return False
    if day in make_up_days:
        return True
    if day.year in {other.year for other in holidays | make_up_days}:
        return day.weekday() < 5
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        logger.warning("chinesecalendar has no data for %s and [working_days] names no day of it: "
                       "counting Monday to Friday", day.year)
        return day.weekday() < 5


@functools.lru_cache(maxsize=4)
def _configured_days(holidays: tuple[str, ...], make_up_days: tuple[str, ...]) -> tuple[frozenset[date], frozenset[date]]:
    return (frozenset(map(date.fromisoformat, holidays)), frozenset(map(date.fromisoformat, make_up_days)))


def last_day(approved_on: date, policy: Policy) -> date:
    """The last Shanghai day of publicity for a certificate approved on `approved_on`."""
    day, counted = approved_on, 0
    while counted < policy.publicity_days:
        day += timedelta(days=1)
        if not policy.working_days or is_working_day(day):
            counted += 1
    return day


def ends_at(approved_at: datetime, policy: Policy) -> datetime:
    """The moment publicity ends: the midnight after its last day (UTC)."""
    return local_day_bounds(last_day(to_local(approved_at).date(), policy))[1]


def through(ends: datetime) -> date:
    """The last Shanghai day of a publicity that ends at `ends` (the midnight after it)."""
    return (to_local(ends) - timedelta(microseconds=1)).date()
