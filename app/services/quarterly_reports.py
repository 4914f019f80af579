"""Quarterly reports (季度报告): each district and street reports to the node above by the 25th of the quarter's last month.

A unit's admins submit once per quarter (`submit`): the unit's figures for the quarter are
snapshotted with the report, unique (unit, quarter), so a retry or a double click makes one report.
The node above sees its children's state (`overview`): submitted, not yet, or late (the due day
passed without a report), with their red indicators and the units below them that have not trained.
From `[bulletins] quarterly_reminder_day` of the quarter's last month, `remind` tells the admins of
units without a report whose indicators are red or whose trainings are missing, once a day
(keyed by quarter, unit, admin and day).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from app.db import insert_unless_present
from app.errors import DomainError, Forbidden
from app.extensions import db, settings
from app.services import access, notifications, regions, trainings
from app.services.bulletins import scoring
from app.services.bulletins.freeze import parse_kind
from app.services.kpi.catalogue import effective_targets_many
from app.services.kpi.compute import compute_period
from app.services.kpi.periods import QUARTER, Period
from app.timeutil import SHANGHAI, to_local
from models import QuarterlyReport, Region, RegionLevel, Role, RoleGrant

UNIT_LEVELS = (RegionLevel.DISTRICT, RegionLevel.STREET)
SUBMITTED, NOT_YET, LATE = "submitted", "not_yet", "late"
UNTRAINED_NAMES = 5


def parse_quarter(text: str) -> Period:
    return parse_kind(text, QUARTER, field="quarter", example="2026-Q4", what="季度")


def due_day(quarter: Period) -> date:
    """The 25th (`quarterly_due_day`) of the quarter's last month."""
    return date(quarter.year, quarter.first_month + 2, settings()["bulletins"]["quarterly_due_day"])


def due_at(quarter: Period) -> datetime:
    """The end of the due day: Shanghai midnight after it, in UTC."""
    return datetime.combine(due_day(quarter) + timedelta(days=1), time.min, tzinfo=SHANGHAI)


def quarter_label(quarter: Period) -> str:
    return f"{quarter.year}年第{quarter.index}季度"


def is_unit_admin(account_id: int, unit: Region) -> bool:
    """Whether the account is an admin of this very unit (a report is the unit's own, not its superiors')."""
    return db.session.scalar(select(RoleGrant.id).where(
        RoleGrant.account_id == account_id, RoleGrant.role == Role.ADMIN, RoleGrant.region_id == unit.id)
        .limit(1)) is not None


def _figures(units: list[Region], quarter: Period, now: datetime) -> dict[int, list[dict[str, Any]]]:
    computed = compute_period(quarter, now=now, region_ids=[unit.id for unit in units])
    targets = effective_targets_many(units)
    return {unit.id: scoring.evaluate(unit.level, computed.get(unit.id, {}), targets[unit.id], quarter, now)
            for unit in units}


def submit(account_id: int, region_id: int, quarter_text: str, note: str, *, now: datetime) -> QuarterlyReport:
    """Submit the unit's report for the quarter, with its figures as they stand; 409 when it was submitted."""
    unit = regions.get_region(region_id)
    if unit.level not in UNIT_LEVELS:
        raise DomainError("not_a_reporting_unit", "季度报告由区（县）和街道（镇）报送", 422,
                          fields={"region_id": "应为区（县）或街道（镇）"})
    if not is_unit_admin(account_id, unit):
        raise Forbidden("not_unit_admin", "只有本单位的管理员可以报送季度报告")
    quarter = parse_quarter(quarter_text)
    if quarter.start > now:
        raise DomainError("quarter_not_started", "该季度尚未开始，不能报送", 422, fields={"quarter": "尚未开始"})
    rows = _figures([unit], quarter, now)[unit.id]
    figures = {"computed_at": now.isoformat(), "score": scoring.score(rows), "figures": rows}
    new_id = insert_unless_present(QuarterlyReport, {
        "region_id": unit.id, "quarter": quarter.key, "submitted_by_account_id": account_id, "submitted_at": now,
        "note": note, "figures": figures})
    if new_id is None:
        raise DomainError("report_already_submitted", f"{unit.name}{quarter_label(quarter)}的报告已经报送过了", 409)
    return db.session.get(QuarterlyReport, new_id)


def units_below(node: Region) -> list[Region]:
    """The units that report to a node: its children that are districts or streets (not retired)."""
    return [child for child in regions.children_of(node.id) if child.level in UNIT_LEVELS]


def _untrained(node: Region, units: list[Region], quarter: Period, now: datetime) -> dict[int, list[str]]:
    report = trainings.report(trainings.Quarter(quarter.year, quarter.index), region=node)
    cap = quarter.cap(now)
    result: dict[int, list[str]] = defaultdict(list)
    for item in [*report["streets"], *report["teams"]]:
        if any(training["starts_at"] < cap for training in item["trainings"]):
            continue
        unit = next((u.id for u in units if item["region_path"].startswith(u.path)), None)
        if unit is not None:
            result[unit].append(item["name"])
    return result


def overview(account_id: int, region_id: int, quarter_text: str, *, now: datetime) -> dict[str, Any]:
    """The node's units for the quarter: state, submission, red indicators and missing trainings."""
    node = access.require_admin_over(account_id, regions.get_region(region_id), doing="查看季度报告")
    quarter = parse_quarter(quarter_text)
    return _overview(node, quarter, now)


def _overview(node: Region, quarter: Period, now: datetime) -> dict[str, Any]:
    units = units_below(node)
    reports = {row.region_id: row for row in db.session.scalars(select(QuarterlyReport).where(
        QuarterlyReport.quarter == quarter.key, QuarterlyReport.region_id.in_([u.id for u in units])))}
    figures = _figures(units, quarter, now) if units else {}
    untrained = _untrained(node, units, quarter, now) if units else {}
    deadline = due_at(quarter)
    items = []
    for unit in units:
        report = reports.get(unit.id)
        state = SUBMITTED if report is not None else LATE if now >= deadline else NOT_YET
        names = untrained.get(unit.id, [])
        items.append({
            "region_id": unit.id, "name": unit.name, "level": unit.level.value, "state": state,
            "report_id": report.id if report else None, "submitted_at": report.submitted_at if report else None,
            "submitted_late": bool(report and report.submitted_at >= deadline), "note": report.note if report else None,
            "red": [{"key": row["key"], "label": row["label"], "value": row["value"]}
                    for row in figures[unit.id] if row["status"] == scoring.RED],
            "untrained": names[:UNTRAINED_NAMES], "untrained_count": len(names),
        })
    return {"region_id": node.id, "region_name": node.name, "quarter": quarter.key, "label": quarter_label(quarter),
            "due_on": due_day(quarter), "units": items,
            "summary": {state: sum(item["state"] == state for item in items) for state in (SUBMITTED, NOT_YET, LATE)}}


def remind(*, now: datetime) -> int:
    """Remind the admins of units without a report whose indicators are red or trainings missing; messages written.

    Runs daily; does nothing before `quarterly_reminder_day` of the quarter's last month. Keyed by
    (quarter, unit, admin, day): a second run the same day writes nothing.
    """
    local = to_local(now).date()
    quarter = Period.current(QUARTER, now)
    if local.month != quarter.first_month + 2 or local.day < settings()["bulletins"]["quarterly_reminder_day"]:
        return 0
    parents = db.session.scalars(select(Region).where(
        Region.level.in_((RegionLevel.CITY, RegionLevel.DISTRICT)), Region.retired_at.is_(None)).order_by(Region.id))
    admins: dict[int, list[int]] = defaultdict(list)
    for account_id, unit_id in db.session.execute(select(RoleGrant.account_id, RoleGrant.region_id).where(
            RoleGrant.role == Role.ADMIN, RoleGrant.region_id.is_not(None)).order_by(RoleGrant.id)):
        admins[unit_id].append(account_id)
    written = 0
    for parent in parents:
        if not any(admins.get(unit.id) for unit in units_below(parent)):
            continue
        for item in _overview(parent, quarter, now)["units"]:
            if item["state"] == SUBMITTED or not (item["red"] or item["untrained_count"]):
                continue
            for account_id in admins.get(item["region_id"], []):
                written += _remind_one(account_id, item, quarter, local, now)
    return written


def _remind_one(account_id: int, item: dict[str, Any], quarter: Period, day: date, now: datetime) -> int:
    due = due_day(quarter)
    problems = []
    if item["red"]:
        problems.append(f"{len(item['red'])} 项指标未达标（{'、'.join(red['label'] for red in item['red'])}）")
    if item["untrained_count"]:
        more = "等" if item["untrained_count"] > len(item["untrained"]) else ""
        problems.append(f"{item['untrained_count']} 个单位本季度尚未培训（{'、'.join(item['untrained'])}{more}）")
    when = f"已超过报送期限（{due.month}月{due.day}日）" if item["state"] == LATE else f"请于{due.month}月{due.day}日前报送"
    text = f"{item['name']}{quarter_label(quarter)}的季度报告尚未报送，{when}。目前{'；'.join(problems)}，请抓紧整改并在报告中说明。"
    return notifications.notify(account_id, (quarter.key, ("r", item["region_id"]), ("a", account_id), day.isoformat()),
                                notifications.Message(
        kind=notifications.NotificationKind.QUARTERLY_REPORT_REMINDER, template="training_reminder",
        title=f"{quarter_label(quarter)}季度报告提醒", text=text,
        fields={"thing1": item["name"], "thing2": quarter_label(quarter), "date3": due},
        page=f"pages/report/quarterly?region_id={item['region_id']}&quarter={quarter.key}"), now=now) is not None
