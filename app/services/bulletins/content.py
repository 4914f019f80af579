"""What a bulletin says: the month's figures of a node and of each child, ranked and compared.

`build(node, children, month, now=…)` computes everything afresh from the raw tables
(`compute_period`), never from the live rollup, for three periods: the month, the month before
(month on month, the improvers, and the corrections below) and the same month last year (year on
year). The result is plain JSON, frozen as it is: numbers are rounded here, once, so the stored
content and its hash are what every download shows.

What a bulletin reads from the raw tables is gathered in `Inputs`: the three periods' figures, the
late records by home region and the quarter's training list. `compute_period` reads the whole
tree's tables whatever regions are asked for, so the month's freeze computes one `Inputs` for the
whole tree (`Inputs.gather(month, now=…)`) and builds every node's bulletin from it
(`build(…, inputs=…)`); one node's freeze alone gathers for its subtree. The figures are plain
numbers (about 1,111 regions × 9 indicators × 3 periods for a city), never rows of the raw tables.

Corrections (「上期数据更正」): the previous month's bulletin of the node, if frozen, is compared
figure by figure with the recomputation of that month made here; every child figure whose value or
parts changed since is listed (late records, corrections, deleted or moved volunteers).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.services import trainings
from app.services.bulletins import scoring
from app.services.kpi.catalogue import BY_KEY, INDICATORS, effective_targets_many
from app.services.kpi.compute import NOT_HELD, Figure, compute_period
from app.services.kpi.periods import Period
from app.timeutil import to_local
from models import Activity, Bulletin, BulletinStatus, Region, ServiceRecord, Volunteer

VERSION = 1
LEVEL_NAMES = {"city": "市", "district": "区（县）", "street": "街道（镇）", "community": "社区（村）"}
# Flags after the 红黄旗 practice: the bottom three get a yellow flag (后三名), the top three a red one (表扬).
FLAGS = 3
IMPROVERS = 3
# Names of untrained units listed per child; the rest are counted.
UNTRAINED_NAMES = 5


def month_label(period: Period) -> str:
    return f"{period.year}年{period.index}月"


def periods_of(month: Period) -> dict[str, Period]:
    return {"current": month, "previous": month.previous(), "last_year": month.same_last_year()}


@dataclass(frozen=True)
class Inputs:
    """What the bulletins of one month read from the raw tables, gathered once for a subtree (or the whole tree).

    `figures[name][region_id]` are the figures of the periods of `periods_of(month)`; `late` gives,
    per home region path, the month's records written after the month closed (count, net minutes);
    `untrained` lists (name, region path) of the teams and streets without a training in the
    month's quarter up to the month's end. All of it is as the tables said at `now`.
    """

    month: Period
    now: datetime
    scope_path: str | None
    figures: dict[str, dict[int, dict[str, Figure]]]
    late: dict[str, tuple[int, int]]
    untrained: list[tuple[str, str]]

    @classmethod
    def gather(cls, month: Period, *, now: datetime, scope: Region | None = None) -> Inputs:
        """Compute the inputs for the nodes in `scope`'s subtree (every node when None)."""
        figures = {name: compute_period(period, now=now) for name, period in periods_of(month).items()}
        return cls(month=month, now=now, scope_path=scope.path if scope is not None else None, figures=figures,
                   late=_late_by_path(scope, month, now), untrained=_untrained_units(scope, month, now))

    def covers(self, node: Region, month: Period, now: datetime) -> bool:
        return (self.month == month and self.now == now
                and (self.scope_path is None or node.path.startswith(self.scope_path)))


def build(node: Region, children: list[Region], month: Period, *, now: datetime,
          inputs: Inputs | None = None) -> dict[str, Any]:
    """The content of the node's bulletin for `month`, as of `now`, from `inputs` (gathered for the node if none)."""
    if inputs is None:
        inputs = Inputs.gather(month, now=now, scope=node)
    elif not inputs.covers(node, month, now):
        raise ValueError(f"inputs of {inputs.month.key} at {inputs.now} do not cover region {node.id} for {month.key}")
    regions = [node, *children]
    targets = effective_targets_many(regions)
    rows: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for name, period in periods_of(month).items():
        figures = inputs.figures[name]
        rows[name] = {region.id: scoring.evaluate(region.level, figures.get(region.id, {}), targets[region.id],
                                                  period, now) for region in regions}

    late = _late_records(children, inputs.late)
    untrained = _untrained(children, inputs.untrained)
    tables = [_child_table(child, rows, late.get(child.id), untrained.get(child.id, [])) for child in children]
    ranking, flags, improvers = _rank(tables, {child.id: child.code for child in children})
    node_rows = _with_changes(rows, node.id)
    content = {
        "version": VERSION,
        "region": {"id": node.id, "name": node.name, "level": node.level.value},
        "month": month.key, "label": month_label(month),
        "title": f"{node.name}志愿服务工作月月通报（{month_label(month)}）",
        "generated_at": now.isoformat(), "generated_on": to_local(now).strftime("%Y-%m-%d %H:%M"),
        "child_level": children[0].level.value if children else None,
        "indicators": [{"key": i.key, "label": i.label, "unit": i.unit, "definition": i.definition}
                       for i in INDICATORS],
        "total": {"figures": node_rows, "score": scoring.score(rows["current"][node.id])},
        "children": tables, "ranking": ranking, "flags": flags, "improvers": improvers,
        "notes": _notes(node, month, tables, late),
        "corrections": _corrections(node, month, {child.id: child.name for child in children}, rows["previous"]),
    }
    content["summary"] = _summary(node, month, content)
    return content


def _with_changes(rows: dict[str, dict[int, list[dict[str, Any]]]], region_id: int) -> list[dict[str, Any]]:
    """The month's rows of a region, each with last month's and last year's value and the changes."""
    result = []
    for current, previous, last_year in zip(rows["current"][region_id], rows["previous"][region_id],
                                            rows["last_year"][region_id]):
        row = dict(current)
        row["previous"], row["last_year"] = previous["value"], last_year["value"]
        row["mom"] = _change(current["value"], previous["value"])
        row["yoy"] = _change(current["value"], last_year["value"])
        result.append(row)
    return result


def _change(value: float | None, before: float | None) -> float | None:
    return None if value is None or before is None else round(value - before, 2)


def _child_table(child: Region, rows, late: dict[str, int] | None, untrained: list[str]) -> dict[str, Any]:
    figures = _with_changes(rows, child.id)
    score = scoring.score(rows["current"][child.id])
    previous_score = scoring.score(rows["previous"][child.id])
    by_key = {row["key"]: row for row in figures}
    training, campaigns = by_key["quarterly_training"], by_key["festival_campaigns"]
    return {
        "region_id": child.id, "name": child.name, "level": child.level.value,
        "score": score, "previous_score": previous_score,
        "score_change": None if score is None or previous_score is None else round(score - previous_score, 4),
        "rank": None, "flag": None,
        "figures": figures,
        "red": [row["label"] for row in figures if row["status"] == scoring.RED],
        "training": {"trained": training["numerator"], "units": training["denominator"],
                     "status": training["status"], "untrained": untrained[:UNTRAINED_NAMES],
                     "untrained_count": len(untrained)},
        "campaigns": {"held": campaigns["numerator"], "target": campaigns["target"], "status": campaigns["status"]},
        "late_records": late or {"records": 0, "minutes": 0},
    }


def _rank(tables: list[dict[str, Any]], codes: dict[int, str]) -> tuple[list[dict], dict[str, list[dict]], list[dict]]:
    """Rank as the KPI page does, flag the bottom three (and the top three), pick the biggest improvers.

    Score, ties by registration rate, then region code (`kpi.figures.children_ranked`). With three
    children or fewer nobody is flagged (the last three would be everyone); red flags never take a
    child that has a yellow one, so four children give one red and three yellow flags.
    """
    scored = [t for t in tables if t["score"] is not None]
    scored.sort(key=lambda t: (-t["score"], -(scoring.value_of(t["figures"], "registration_rate") or 0),
                               codes[t["region_id"]]))
    for position, table in enumerate(scored, start=1):
        table["rank"] = position
    flagged = len(scored) > FLAGS
    bottom = scored[-FLAGS:] if flagged else []
    top = scored[:min(FLAGS, len(scored) - FLAGS)] if flagged else []
    for table in top:
        table["flag"] = "red"
    for table in bottom:
        table["flag"] = "yellow"
    brief = [{"region_id": t["region_id"], "name": t["name"], "rank": t["rank"], "score": t["score"],
              "score_change": t["score_change"], "flag": t["flag"]} for t in scored]
    improving = sorted((t for t in scored if t["score_change"] is not None and t["score_change"] > 0),
                       key=lambda t: (-t["score_change"], codes[t["region_id"]]))[:IMPROVERS]
    improvers = [{"region_id": t["region_id"], "name": t["name"], "score": t["score"],
                  "previous_score": t["previous_score"], "score_change": t["score_change"]} for t in improving]
    flags = {"red": [{"region_id": t["region_id"], "name": t["name"], "rank": t["rank"]} for t in top],
             "yellow": [{"region_id": t["region_id"], "name": t["name"], "rank": t["rank"]} for t in bottom]}
    return brief, flags, improvers


def _late_by_path(scope: Region | None, month: Period, now: datetime) -> dict[str, tuple[int, int]]:
    """Per home region path (in `scope`, or everywhere): records of the month's held activities written after
    the month closed, and their net minutes. Counted where the volunteer lives, like the hours themselves."""
    query = (select(Region.path, func.count(ServiceRecord.id), func.coalesce(func.sum(ServiceRecord.minutes), 0))
             .join(Activity, Activity.id == ServiceRecord.activity_id)
             .join(Volunteer, Volunteer.id == ServiceRecord.volunteer_id)
             .join(Region, Region.id == Volunteer.region_id)
             .where(Activity.status.not_in(NOT_HELD), Activity.starts_at >= month.start, Activity.starts_at < month.end,
                    ServiceRecord.created_at >= month.end, ServiceRecord.created_at < now)
             .group_by(Region.path))
    if scope is not None:
        query = query.where(Region.path.startswith(scope.path, autoescape=True))
    return {path: (count, int(minutes)) for path, count, minutes in db.session.execute(query)}


def _late_records(children: list[Region], late: dict[str, tuple[int, int]]) -> dict[int, dict[str, int]]:
    """Per child: the late records and minutes of the home regions in its subtree."""
    result: dict[int, dict[str, int]] = defaultdict(lambda: {"records": 0, "minutes": 0})
    for path, (count, minutes) in late.items():
        child = _child_of(path, children)
        if child is not None:
            result[child]["records"] += count
            result[child]["minutes"] += minutes
    return dict(result)


def _child_of(path: str, children: list[Region]) -> int | None:
    return next((child.id for child in children if path.startswith(child.path)), None)


def _untrained_units(scope: Region | None, month: Period, now: datetime) -> list[tuple[str, str]]:
    """(name, region path) of the professional teams and streets (in `scope`) without a training in the month's
    quarter up to the month's end (as app/services/trainings.py decides it)."""
    quarter = trainings.Quarter(month.year, (month.index - 1) // 3 + 1)
    cap = month.cap(now)
    report = trainings.report(quarter, region=scope)
    return [(item["name"], item["region_path"]) for item in [*report["streets"], *report["teams"]]
            if not any(training["starts_at"] < cap for training in item["trainings"])]


def _untrained(children: list[Region], units: list[tuple[str, str]]) -> dict[int, list[str]]:
    """Per child: the names of its untrained units, in the report's order (streets, then teams)."""
    result: dict[int, list[str]] = defaultdict(list)
    for name, path in units:
        child = _child_of(path, children)
        if child is not None:
            result[child].append(name)
    return dict(result)


def _notes(node: Region, month: Period, tables: list[dict[str, Any]], late: dict[int, dict[str, int]]) -> list[str]:
    notes = ["统计口径：活动以开始时间（北京时间）所在月份计；志愿者及其服务时长计入其所在社区；"
             "有记录率、人均服务时长、关爱主题、专业队伍和节日主题为年初至本月末累计。"]
    records = sum(item["records"] for item in late.values())
    if records:
        minutes = sum(item["minutes"] for item in late.values())
        who = "、".join(t["name"] for t in tables if t["late_records"]["records"])
        notes.append(f"本月活动有 {records} 条服务记录（合计 {_hours(minutes)} 小时）在月末之后补录或更正，"
                     f"已计入本期数据，涉及{who}。")
    missing = [t["name"] for t in tables
               if next(row for row in t["figures"] if row["key"] == "registration_rate")["status"] == scoring.NONE]
    if missing:
        notes.append(f"{'、'.join(missing)}未登记常住人口，注册率暂不计，排名按其余指标计算。")
    unranked = [t["name"] for t in tables if t["score"] is None]
    if unranked:
        notes.append(f"{'、'.join(unranked)}本月没有可评价的指标，未参加排名。")
    return notes


def _hours(minutes: int) -> str:
    return f"{minutes / 60:.1f}"


def _corrections(node: Region, month: Period, names: dict[int, str],
                 recomputed: dict[int, list[dict[str, Any]]]) -> dict[str, Any] | None:
    """The previous bulletin's child figures that differ from their recomputation now."""
    previous = db.session.scalar(select(Bulletin).where(
        Bulletin.region_id == node.id, Bulletin.month == month.previous().key, Bulletin.status == BulletinStatus.FROZEN))
    if previous is None or not previous.content:
        return None
    items = []
    for table in previous.content["children"]:
        now_rows = {row["key"]: row for row in recomputed.get(table["region_id"], [])}
        for was in table["figures"]:
            row = now_rows.get(was["key"])
            if row is None:
                continue
            if _parts(was) != _parts(row):
                items.append({"region_id": table["region_id"], "name": names.get(table["region_id"], table["name"]),
                              "key": was["key"], "label": BY_KEY[was["key"]].label, "unit": was["unit"],
                              "was": was["value"], "was_numerator": was["numerator"],
                              "was_denominator": was["denominator"], "now": row["value"],
                              "now_numerator": row["numerator"], "now_denominator": row["denominator"]})
    return {"bulletin_id": previous.id, "month": previous.month, "label": month_label(month.previous()),
            "items": items}


def _parts(row: dict[str, Any]) -> tuple:
    """What a correction compares: the value, its parts, and the exact minutes behind an hours figure."""
    return row["value"], row["numerator"], row["denominator"], (row.get("details") or {}).get("minutes")


def format_value(value: float | None, unit: str) -> str:
    """A value as a report prints it: 13.5%, 12.3 小时, 7 个; a dash when there is none."""
    if value is None:
        return "—"
    if unit == "percent":
        return f"{value:.1f}%"
    if unit == "hours":
        return f"{value:.1f}"
    return f"{value:.0f}"


def format_change(change: float | None, unit: str) -> str:
    if change is None:
        return "—"
    digits = 0 if unit == "count" else 1
    # A change that rounds to zero prints +0, never "-0.0" (a fall of 0.04 points is no fall on paper).
    shown = round(change, digits) or 0.0
    return f"{shown:+.{digits}f}" + ("个百分点" if unit == "percent" else "")


def _summary(node: Region, month: Period, content: dict[str, Any]) -> str:
    rows = {row["key"]: row for row in content["total"]["figures"]}
    registration, hours = rows["registration_rate"], rows["hours_per_volunteer"]
    parts = [f"{month_label(month)}，{node.name}"]
    if registration["numerator"] is not None:
        parts.append(f"共有注册志愿者 {registration['numerator']} 人")
        if registration["value"] is not None:
            parts.append(f"，注册率 {format_value(registration['value'], 'percent')}"
                         f"（目标 {registration['target']:.0f}%，较上月 {format_change(registration['mom'], 'percent')}，"
                         f"较去年同期 {format_change(registration['yoy'], 'percent')}）")
    if hours["value"] is not None:
        parts.append(f"；年初至今人均服务时长 {format_value(hours['value'], 'hours')} 小时"
                     f"（较上月 {format_change(hours['mom'], 'hours')}，较去年同期 {format_change(hours['yoy'], 'hours')}）")
    text = "".join(parts) + "。"
    red = [row["label"] for row in content["total"]["figures"] if row["status"] == scoring.RED]
    green = sum(row["status"] == scoring.GREEN for row in content["total"]["figures"])
    text += f"{len([r for r in content['total']['figures'] if r['status'] != scoring.NONE])} 项指标中 {green} 项达标"
    text += f"，{('、'.join(red))}未达标。" if red else "。"
    flags = content["flags"] if content["ranking"] else {"red": [], "yellow": []}
    ranked = []
    if flags["red"]:
        ranked.append(f"综合得分前列的是{'、'.join(item['name'] for item in flags['red'])}")
    if flags["yellow"]:
        ranked.append(f"后三名为{'、'.join(item['name'] for item in flags['yellow'])}，请对照指标抓紧整改")
    if ranked:
        text += "；".join(ranked) + "。"
    if content["improvers"]:
        text += f"较上月进步最大的是{'、'.join(item['name'] for item in content['improvers'])}。"
    corrections = content["corrections"]
    if corrections and corrections["items"]:
        text += f"{corrections['label']}通报中有 {len(corrections['items'])} 项数据已更正，详见「上期数据更正」。"
    return text
