"""Exports of lists as XLSX, built in the background with constant memory, downloaded through expiring links.

An export is a row (`exports`): what was asked (kind, scope, filters, whether personal numbers are
revealed and why), its state (queued → running → done | failed), progress, and the file's key.
The Huey task `run_export(export_id)` only carries the id; everything else is read from the row, so:
- **Safe to run twice.** The task claims the row with a conditional UPDATE (queued, or running with
  a heartbeat older than `stale_minutes`: a worker that died); a second run finds it claimed or done
  and does nothing. Finishing is conditional on the claim (status running, same attempt), so a
  run overtaken by a re-claim throws its file away.
- **Nothing lost with Redis.** A queued or stalled export whose message vanished is enqueued again
  by `requeue_stalled`, a scheduler entry (jobs/exports.py).
- **Constant memory.** Rows stream as plain tuples from a server-side cursor (`yield_per`, a
  connection of its own, a consistent snapshot on PostgreSQL) into `xlsx_stream.SheetWriter`, which
  writes each row's XML into the file's zip as it goes (inline strings: no shared-strings table);
  progress is written every `progress_every` rows in a short transaction. Nothing accumulates:
  the session holds only the export row, masking is cached per region, joined lists per distinct value.
- **Scope is the lists'.** Each kind checks access with the rule of its console list
  (`directory.conditions` for volunteers, `console_lists.viewer` for an organisation's activities
  and records, `access.require_admin_over` for a region's activities, `kpi.scope.region` for the KPI
  table, `access.require_activity_manager` for an attendance sheet), when requested and again when
  the task runs, as the requester.
- **Personal numbers** (mobile, ID number) are masked unless the requester may read them, per
  volunteer (an organiser or admin over the volunteer's region, the directory's reveal rule), and
  gave a reason; asking to reveal is audited with the reason.
- **Formula injection.** Every text cell goes through `spreadsheets._safe`.

Kinds are a registry: one more kind is one `register(ExportKind(...))` with a `prepare` (check
access, return a Plan: the query, or `items` computed when the task runs) and a `formatter`
(built once per export, returning the function that turns a row into cells).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, Text, and_, cast, func, or_, select, update

from app import pii
from app.db import unit_of_work
from app.errors import DomainError, Forbidden, NotFound
from app.extensions import db, settings
from app.services import access, audit, console_lists, directory, files, regions, xlsx_stream
from app.services.kpi import figures as kpi_figures
from app.services.kpi import scope as kpi_scope
from app.services.kpi.catalogue import COUNT, HOURS, INDICATORS, PERCENT
from app.services.kpi.periods import MONTH, Period
from app.services.spreadsheets import GENDER_LABELS, STATUS_LABELS, XLSX_MIMETYPE, _safe  # noqa: F401

KPI_STATUS_LABELS = {"green": "达标", "yellow": "接近", "red": "未达标", "none": "不适用"}  # as in the bulletin
from app.tasks import task
from app.timeutil import now_utc, to_local
from models import (Account, Activity, Checkin, Export, ExportStatus, Gender, Organization, Region, ServiceRecord,
                    Signup, Team, Volunteer, VolunteerStatus)

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


# --- the registry of kinds -------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """What one export reads: the SELECT of its rows (streamed) or a short list built at run time, and what masks them."""

    query: Select | None
    count: Select | None
    # Region paths whose volunteers' numbers the requester may read (empty: none).
    reveal_paths: tuple[str, ...] = ()
    region_path: str | None = None  # where the export's audit entries are filed
    # Instead of a query: the rows, computed when the task runs, inside its transaction (a few hundred at most).
    items: Callable[[], list[Any]] | None = None


@dataclass(frozen=True)
class ExportKind:
    key: str
    label: str                                   # Chinese, in the file name
    scope_types: tuple[str, ...]                 # region, organization, activity
    columns: tuple[tuple[str, int], ...]         # (title, width)
    # prepare(account_id, scope_type, scope_id, filters, now) -> Plan; raises when not allowed.
    prepare: Callable[[int, str, int, dict[str, Any], datetime], Plan]
    # formatter(reveal, plan, now) -> cells(row) -> the row's values (str cells are escaped on write). Called
    # once per export: what does not change from row to row (keys, masking per region) is settled there.
    formatter: Callable[[bool, Plan, datetime], Callable[[Any], Sequence[Any]]]
    has_personal_numbers: bool = False


KINDS: dict[str, ExportKind] = {}


def register(kind: ExportKind) -> ExportKind:
    KINDS[kind.key] = kind
    return kind


def _unknown_scope() -> DomainError:
    return DomainError("invalid_export_scope", "导出范围不适用于这类列表", 422, fields={"scope": "不支持"})


def _reveal_paths(account_id: int) -> tuple[str, ...]:
    return tuple(access.review_scope_paths(account_id))


def _may_reveal(region_path: str | None, plan: Plan) -> bool:
    return region_path is not None and any(region_path.startswith(p) for p in plan.reveal_paths)


def _revealer(reveal: bool, plan: Plan) -> Callable[[str | None], bool]:
    """Whether a volunteer living at a region path is shown in full: decided once per region, not per row."""
    if not reveal or not plan.reveal_paths:
        return lambda path: False
    known: dict[str | None, bool] = {}

    def revealed(path: str | None) -> bool:
        answer = known.get(path)
        if answer is None:
            answer = known[path] = _may_reveal(path, plan)
        return answer
    return revealed


def _mobile(value: str | None, revealed: bool) -> str:
    return (value if revealed else pii.mask_mobile(value)) or ""


def _id_number(encrypted: bytes | None, revealed: bool, key: str) -> str:
    if encrypted is None:
        return ""
    number = pii.decrypt(encrypted, key)
    return number if revealed else pii.mask_id_number(number) or ""


def _name(name: str | None, revealed: bool) -> str:
    return (name if revealed else pii.mask_name(name)) or ""


def _local(moment: datetime | None) -> datetime | None:
    """A moment as Shanghai wall time: a date-time cell (yyyy-mm-dd hh:mm)."""
    return to_local(moment).replace(tzinfo=None) if moment else None


# volunteers: the directory (scope: a region the caller reviews; filters as GET /volunteers)

_VOLUNTEER_FILTERS = ("status", "q", "category", "skill", "team_id")


def _volunteer_plan(account_id: int, scope_type: str, scope_id: int, filters: dict[str, Any], now: datetime) -> Plan:
    if scope_type != "region":
        raise _unknown_scope()
    status = filters.get("status")
    try:
        wanted = directory.Filters(status=VolunteerStatus(status) if status else None, q=filters.get("q"),
                                   category=filters.get("category"), skill=filters.get("skill"),
                                   team_id=filters.get("team_id"), region_id=scope_id)
    except ValueError:
        raise DomainError("validation_failed", "筛选条件有误", 422, fields={"filters.status": "取值无效"}) from None
    where = directory.conditions(account_id, wanted)
    # Categories and skills as their JSON text: a few distinct lists repeat over millions of rows (see _joiner).
    query = (select(Volunteer.id, Volunteer.real_name, Volunteer.mobile, Volunteer.id_number_encrypted,
                    Volunteer.gender, Volunteer.birth_date, cast(Volunteer.categories, Text).label("categories"),
                    cast(Volunteer.skills, Text).label("skills"), Region.name,
                    Region.path, Volunteer.status, Volunteer.total_service_minutes, Volunteer.service_record_count,
                    Volunteer.created_at, Volunteer.volunteer_number)
             .join(Region, Region.id == Volunteer.region_id).where(*where).order_by(Volunteer.id))
    region = db.session.get(Region, scope_id)
    return Plan(query=query, count=select(func.count()).select_from(Volunteer).where(*where),
                reveal_paths=_reveal_paths(account_id), region_path=region.path if region else None)


def _joiner(limit: int = 10_000) -> Callable[[str | None], str]:
    """A JSON list's text → its items joined with 、, remembered (up to `limit` distinct lists: memory stays bounded)."""
    known: dict[str | None, str] = {}

    def joined(text: str | None) -> str:
        answer = known.get(text)
        if answer is None:
            answer = "、".join(json.loads(text) or ()) if text else ""
            if len(known) < limit:
                known[text] = answer
        return answer
    return joined


def _volunteer_formatter(reveal: bool, plan: Plan, now: datetime) -> Callable[[Any], Sequence[Any]]:
    revealed_at, key, joined = _revealer(reveal, plan), settings()["app"]["pii_key"], _joiner()
    genders = {None: "", **{g: GENDER_LABELS.get(g.value, "") for g in Gender}}
    statuses = {s: STATUS_LABELS.get(s.value, s.value) for s in VolunteerStatus}

    def cells(row: Any) -> Sequence[Any]:
        revealed = revealed_at(row.path)
        return (row.id, _name(row.real_name, revealed), _mobile(row.mobile, revealed),
                _id_number(row.id_number_encrypted, revealed, key), genders[row.gender],
                row.birth_date.year if row.birth_date else None, joined(row.categories), joined(row.skills),
                row.name, statuses[row.status],
                round(row.total_service_minutes / 60, 1), row.service_record_count, _local(row.created_at),
                row.volunteer_number or "")
    return cells


register(ExportKind(
    key="volunteers", label="志愿者名录", scope_types=("region",), has_personal_numbers=True,
    columns=(("编号", 8), ("姓名", 10), ("手机号", 14), ("身份证号", 20), ("性别", 6), ("出生年份", 8), ("类别", 18),
             ("特长技能", 24), ("所在社区", 16), ("状态", 8), ("服务时长（小时）", 14), ("服务次数", 10), ("注册时间", 18),
             ("志愿者编号", 22)),
    prepare=_volunteer_plan, formatter=_volunteer_formatter))


# activities of an organisation (as GET /organizations/{id}/activities) or of a region (its admins: the activities
# held in its subtree, drafts excepted, as the workbench and the KPIs count them)

def _organization_view(account_id: int, scope_type: str, scope_id: int) -> console_lists.Viewer:
    if scope_type != "organization":
        raise _unknown_scope()
    return console_lists.viewer(account_id, scope_id)


def _activity_where(seen: console_lists.Viewer) -> list[Any]:
    where: list[Any] = [Activity.organization_id == seen.organization.id]
    if not seen.drafts:
        where.append(Activity.status != "draft")
    if seen.team_ids is not None:
        where.append(Activity.team_id.in_(seen.team_ids))
    return where


def _organization_path(organization: Organization) -> str | None:
    region = db.session.get(Region, organization.region_id)
    return region.path if region else None


def _activity_scope(account_id: int, scope_type: str, scope_id: int) -> tuple[list[Any], str | None]:
    """The activities the caller may list in the scope (a WHERE) and where the export's audit entry is filed."""
    if scope_type == "region":
        region = access.require_admin_over(account_id, regions.get_region(scope_id), doing="导出本地区的活动")
        subtree = select(Region.id).where(Region.path.startswith(region.path, autoescape=True))
        return [Activity.region_id.in_(subtree), Activity.status != "draft"], region.path
    seen = _organization_view(account_id, scope_type, scope_id)
    return _activity_where(seen), _organization_path(seen.organization)


def _activity_plan(account_id: int, scope_type: str, scope_id: int, filters: dict[str, Any], now: datetime) -> Plan:
    where, region_path = _activity_scope(account_id, scope_type, scope_id)
    if filters.get("starts_from"):
        where.append(Activity.starts_at >= datetime.fromisoformat(filters["starts_from"]))
    if filters.get("starts_until"):
        where.append(Activity.starts_at < datetime.fromisoformat(filters["starts_until"]))
    if filters.get("team_id"):
        where.append(Activity.team_id == filters["team_id"])
    status = console_lists.effective_status(now)
    if filters.get("status"):
        where.append(status == filters["status"])
    query = (select(Activity.id, Activity.title, status.label("state"), Activity.starts_at, Activity.ends_at,
                    Team.name.label("team"), Activity.address, Activity.capacity, Activity.seats_taken,
                    Organization.name.label("organization"), Region.name.label("region"))
             .join(Organization, Organization.id == Activity.organization_id)
             .join(Region, Region.id == Activity.region_id)
             .outerjoin(Team, Team.id == Activity.team_id).where(*where).order_by(Activity.starts_at, Activity.id))
    return Plan(query=query, count=select(func.count()).select_from(Activity).where(*where), region_path=region_path)


ACTIVITY_STATUS_LABELS = {"draft": "草稿", "published": "已发布", "ongoing": "进行中", "finished": "已结束",
                          "evaluated": "已评价", "withdrawn": "已撤回", "cancelled": "已取消"}

register(ExportKind(
    key="activities", label="活动列表", scope_types=("organization", "region"),
    columns=(("编号", 8), ("标题", 30), ("状态", 8), ("开始时间", 18), ("结束时间", 18), ("队伍", 16), ("地点", 30),
             ("名额", 8), ("已报名", 8), ("举办组织", 24), ("所在地区", 16)),
    prepare=_activity_plan,
    formatter=lambda reveal, plan, now: lambda row: (
        row.id, row.title, ACTIVITY_STATUS_LABELS.get(str(row.state), str(row.state)), _local(row.starts_at),
        _local(row.ends_at), row.team or "", row.address, row.capacity, row.seats_taken, row.organization, row.region)))


# attendance of one activity (scope: activity, as GET /activities/{id}/attendance)

def _attendance_plan(account_id: int, scope_type: str, scope_id: int, filters: dict[str, Any], now: datetime) -> Plan:
    if scope_type != "activity":
        raise _unknown_scope()
    activity = access.activity(scope_id, drafts_seen_by=account_id)
    access.require_activity_manager(account_id, activity, doing="导出签到表")
    query = (select(Signup.id, Volunteer.real_name, Volunteer.mobile, Region.path, Signup.status, Signup.created_at,
                    Checkin.checked_in_at, Checkin.checked_out_at, Signup.service_minutes)
             .join(Volunteer, Volunteer.id == Signup.volunteer_id).join(Region, Region.id == Volunteer.region_id)
             .outerjoin(Checkin, and_(Checkin.activity_id == Signup.activity_id,
                                      Checkin.volunteer_id == Signup.volunteer_id))
             .where(Signup.activity_id == activity.id).order_by(Signup.created_at, Signup.id))
    region = db.session.get(Region, activity.region_id)
    return Plan(query=query, count=select(func.count()).select_from(Signup).where(Signup.activity_id == activity.id),
                reveal_paths=_reveal_paths(account_id), region_path=region.path if region else None)


SIGNUP_STATUS_LABELS = {"pending": "待审核", "approved": "已通过", "waitlisted": "候补", "rejected": "未通过",
                        "cancelled": "已取消"}


def _attendance_formatter(reveal: bool, plan: Plan, now: datetime) -> Callable[[Any], Sequence[Any]]:
    revealed_at = _revealer(reveal, plan)

    def cells(row: Any) -> Sequence[Any]:
        revealed = revealed_at(row.path)
        return (row.id, _name(row.real_name, revealed), _mobile(row.mobile, revealed),
                SIGNUP_STATUS_LABELS.get(row.status.value, row.status.value), _local(row.created_at),
                _local(row.checked_in_at), _local(row.checked_out_at), round((row.service_minutes or 0) / 60, 2))
    return cells


register(ExportKind(
    key="attendance", label="签到表", scope_types=("activity",), has_personal_numbers=True,
    columns=(("报名编号", 10), ("姓名", 10), ("手机号", 14), ("报名状态", 10), ("报名时间", 18), ("签到时间", 18),
             ("签退时间", 18), ("服务时长（小时）", 14)),
    prepare=_attendance_plan, formatter=_attendance_formatter))


# service records of an organisation's activities (scope: organisation)

def _records_plan(account_id: int, scope_type: str, scope_id: int, filters: dict[str, Any], now: datetime) -> Plan:
    seen = _organization_view(account_id, scope_type, scope_id)
    where = [*_activity_where(seen)]
    if filters.get("starts_from"):
        where.append(Activity.starts_at >= datetime.fromisoformat(filters["starts_from"]))
    if filters.get("starts_until"):
        where.append(Activity.starts_at < datetime.fromisoformat(filters["starts_until"]))
    query = (select(ServiceRecord.id, Activity.title, Activity.starts_at, Volunteer.real_name, Volunteer.mobile,
                    Region.path, ServiceRecord.kind, ServiceRecord.minutes, ServiceRecord.reason,
                    ServiceRecord.created_at)
             .join(Activity, Activity.id == ServiceRecord.activity_id)
             .join(Volunteer, Volunteer.id == ServiceRecord.volunteer_id).join(Region, Region.id == Volunteer.region_id)
             .where(*where).order_by(ServiceRecord.id))
    count = (select(func.count()).select_from(ServiceRecord).join(Activity, Activity.id == ServiceRecord.activity_id)
             .where(*where))
    return Plan(query=query, count=count, reveal_paths=_reveal_paths(account_id),
                region_path=_organization_path(seen.organization))


def _record_formatter(reveal: bool, plan: Plan, now: datetime) -> Callable[[Any], Sequence[Any]]:
    revealed_at = _revealer(reveal, plan)

    def cells(row: Any) -> Sequence[Any]:
        revealed = revealed_at(row.path)
        return (row.id, row.title, _local(row.starts_at), _name(row.real_name, revealed), _mobile(row.mobile, revealed),
                "考勤" if row.kind.value == "attendance" else "更正", row.minutes, row.reason or "",
                _local(row.created_at))
    return cells


register(ExportKind(
    key="service_records", label="服务记录", scope_types=("organization",), has_personal_numbers=True,
    columns=(("记录编号", 10), ("活动", 30), ("活动开始", 18), ("姓名", 10), ("手机号", 14), ("类型", 8),
             ("时长（分钟）", 12), ("说明", 24), ("记录时间", 18)),
    prepare=_records_plan, formatter=_record_formatter))


# the KPI table (scope: a region, as GET /kpis?children=true: its admins, their subtree): the node, then its
# children ranked, each indicator's value and status for the period (filter `period`, default this month)

_UNITS = {PERCENT: "%", HOURS: "小时", COUNT: "个"}
_LEVEL_NAMES = {"city": "市", "district": "区（县）", "street": "街道（镇）", "community": "社区（村）"}


def _kpi_plan(account_id: int, scope_type: str, scope_id: int, filters: dict[str, Any], now: datetime) -> Plan:
    if scope_type != "region":
        raise _unknown_scope()
    region = kpi_scope.region(account_id, scope_id)
    period = Period.parse(filters["period"]) if filters.get("period") else Period.current(MONTH, now)

    def items() -> list[dict[str, Any]]:
        # A period never refreshed is computed and stored here, as on the KPI page's first read.
        own = {"region": {"name": region.name, "level": region.level.value}, "rank": None, "score": None,
               "figures": kpi_figures.figures_for(region, period, now=now, trend=0)}
        return [{**row, "period": period.key} for row in [own, *kpi_figures.children_ranked(region, period, now=now)]]
    return Plan(query=None, count=None, items=items, region_path=region.path)


def _kpi_formatter(reveal: bool, plan: Plan, now: datetime) -> Callable[[Any], Sequence[Any]]:
    def cells(row: dict[str, Any]) -> Sequence[Any]:
        by_key = {figure["key"]: figure for figure in row["figures"]}
        values: list[Any] = [row["period"], row["region"]["name"], _LEVEL_NAMES.get(row["region"]["level"], ""),
                             row["rank"], round(100 * row["score"], 1) if row["score"] is not None else None]
        for indicator in INDICATORS:
            figure = by_key[indicator.key]
            values += [figure["value"], KPI_STATUS_LABELS[figure["status"]]]
        values.append("是" if row.get("bottom_three") else "")
        return values
    return cells


register(ExportKind(
    key="kpi_table", label="指标统计表", scope_types=("region",),
    columns=(("统计期", 10), ("地区", 16), ("层级", 10), ("排名", 6), ("得分", 8),
             *[column for i in INDICATORS for column in ((f"{i.label}（{_UNITS[i.unit]}）", 12), (f"{i.label}状态", 10))],
             ("后三名", 8)),
    prepare=_kpi_plan, formatter=_kpi_formatter))


# --- requests and reads ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    kind: str
    scope_type: str
    scope_id: int
    filters: dict[str, Any] = field(default_factory=dict)
    reveal_personal: bool = False
    reason: str | None = None
    nonce: str = ""


def export_not_found() -> NotFound:
    return NotFound("export_not_found", "找不到该导出任务")


def request(account: Account, wanted: Request, *, now: datetime) -> tuple[Export, bool]:
    """Record an export (checked now as the lists check it) and whether it is new; the same nonce finds the first."""
    kind = KINDS.get(wanted.kind)
    if kind is None:
        raise DomainError("validation_failed", "不支持的导出类型", 422, fields={"kind": "取值无效"})
    earlier = db.session.scalar(select(Export).where(Export.requested_by_account_id == account.id,
                                                     Export.nonce == wanted.nonce))
    if earlier is not None:
        if (earlier.kind, earlier.scope_type, earlier.scope_id, earlier.filters, earlier.reveal_personal) != (
                wanted.kind, wanted.scope_type, wanted.scope_id, wanted.filters, wanted.reveal_personal):
            raise DomainError("nonce_reused", "该 nonce 已用于另一个请求，请为每个新请求生成新的 nonce", 422,
                              fields={"nonce": "已用于内容不同的请求"})
        return earlier, False
    if wanted.scope_type not in kind.scope_types:
        raise _unknown_scope()
    plan = kind.prepare(account.id, wanted.scope_type, wanted.scope_id, wanted.filters, now)
    reason = (wanted.reason or "").strip() or None
    if wanted.reveal_personal:
        if not kind.has_personal_numbers or not plan.reveal_paths:
            raise Forbidden("reveal_not_allowed", "您无权导出完整的手机号和身份证号")
        if reason is None:
            raise DomainError("reason_required", "请填写导出完整手机号和身份证号的原因", 422, fields={"reason": "必填"})
    export = Export(kind=kind.key, requested_by_account_id=account.id, scope_type=wanted.scope_type,
                    scope_id=wanted.scope_id, filters=wanted.filters, reveal_personal=wanted.reveal_personal,
                    reveal_reason=reason if wanted.reveal_personal else None, nonce=wanted.nonce,
                    status=ExportStatus.QUEUED, rows_done=0, attempts=0, created_at=now)
    db.session.add(export)
    db.session.flush()
    detail = {"kind": kind.key, "scope": f"{wanted.scope_type}:{wanted.scope_id}", "reveal_personal": wanted.reveal_personal}
    if wanted.reveal_personal:
        detail["reason"] = reason
    audit.record(account.id, "export.requested", "export", export.id, now=now, region_path=plan.region_path, **detail)
    return export, True


def enqueue(export_id: int) -> None:
    """Hand the export to a worker (after the row committed). A lost message is re-sent by `requeue_stalled`."""
    try:
        run_export(export_id)
    except Exception:
        logger.exception("export %s: could not enqueue; the sweeper will", export_id)


def mine(account_id: int, *, limit: int = 50) -> list[Export]:
    return list(db.session.scalars(select(Export).where(Export.requested_by_account_id == account_id)
                                   .order_by(Export.created_at.desc(), Export.id.desc()).limit(limit)))


def get(account_id: int, export_id: int) -> Export:
    export = db.session.get(Export, export_id)
    if export is None or export.requested_by_account_id != account_id:
        raise export_not_found()
    return export


def filename(export: Export) -> str:
    return f"{KINDS[export.kind].label}-{to_local(export.created_at).strftime('%Y%m%d-%H%M')}.xlsx"


def download_url(export: Export, *, now: datetime) -> tuple[str, datetime] | None:
    """A signed link to the file while the export is done and not expired; None otherwise."""
    if export.status is not ExportStatus.DONE or export.file_key is None or (export.expires_at and export.expires_at <= now):
        return None
    ttl = settings()["exports"]["link_ttl_seconds"]
    if export.expires_at:
        ttl = max(1, min(ttl, int((export.expires_at - now).total_seconds())))
    return files.signed_url(export.file_key, filename=filename(export), ttl_seconds=ttl, now=now), now + timedelta(seconds=ttl)


# --- the task ----------------------------------------------------------------------------------------

@task(retries=MAX_ATTEMPTS - 1, retry_delay=10)
def run_export(export_id: int) -> str:
    """Build the export's file once: claim, stream, finish (the Huey task; safe to run twice)."""
    return build(export_id, now=now_utc())


def _stale_before(now: datetime) -> datetime:
    return now - timedelta(minutes=settings()["exports"]["stale_minutes"])


def claim(export_id: int, *, now: datetime) -> int | None:
    """Take the export for this run: its attempt number, or None when it is done or another run holds it."""
    with unit_of_work():
        claimed = db.session.execute(
            update(Export).where(Export.id == export_id, or_(
                Export.status == ExportStatus.QUEUED,
                and_(Export.status == ExportStatus.RUNNING, Export.heartbeat_at < _stale_before(now))))
            .values(status=ExportStatus.RUNNING, started_at=now, heartbeat_at=now, rows_done=0,
                    attempts=Export.attempts + 1)
            .execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            return None
        return db.session.scalar(select(Export.attempts).where(Export.id == export_id))


def _mine(export_id: int, attempt: int) -> list[Any]:
    return [Export.id == export_id, Export.status == ExportStatus.RUNNING, Export.attempts == attempt]


def build(export_id: int, *, now: datetime) -> str:
    """One run of the export: 'done', 'skipped' (claimed elsewhere or finished) or raise (Huey retries)."""
    attempt = claim(export_id, now=now)
    if attempt is None:
        return "skipped"
    try:
        return _build(export_id, attempt, now=now)
    except Exception as exc:
        db.session.rollback()
        final = attempt >= MAX_ATTEMPTS
        with unit_of_work():
            db.session.execute(update(Export).where(*_mine(export_id, attempt)).values(
                status=ExportStatus.FAILED if final else ExportStatus.QUEUED, error=f"{type(exc).__name__}: {exc}"[:500],
                finished_at=now_utc() if final else None).execution_options(synchronize_session=False))
        logger.exception("export %s attempt %s failed%s", export_id, attempt, "" if final else "; it will be retried")
        if final:
            return "failed"
        raise


def _build(export_id: int, attempt: int, *, now: datetime) -> str:
    conf = settings()["exports"]
    with unit_of_work():
        export = db.session.get(Export, export_id)
        kind = KINDS[export.kind]
        plan = kind.prepare(export.requested_by_account_id, export.scope_type, export.scope_id, export.filters, now)
        items = plan.items() if plan.items is not None else None
        total = len(items) if items is not None else db.session.scalar(plan.count) or 0
        reveal, created_at = export.reveal_personal, export.created_at
        db.session.execute(update(Export).where(*_mine(export_id, attempt)).values(rows_total=total)
                           .execution_options(synchronize_session=False))
    path = files.scratch_path("exports", ".xlsx")
    done = 0
    try:
        with xlsx_stream.SheetWriter(path, kind.label, [width for _, width in kind.columns], frozen_rows=2,
                                     text=_safe) as sheet:
            masked = "完整信息（已说明原因并记录）" if reveal else "姓名、手机号和身份证号已脱敏"
            if not kind.has_personal_numbers:
                masked = "不含个人敏感信息"
            sheet.row([f"{kind.label}（{to_local(created_at).strftime('%Y-%m-%d %H:%M')} 导出；{masked}）"])
            sheet.row([title for title, _ in kind.columns], style=xlsx_stream.BOLD)
            every, cells, write = conf["progress_every"], kind.formatter(reveal, plan, now), sheet.row
            for row in (items if items is not None else _stream(plan.query, conf["yield_per"])):
                write(cells(row))
                done += 1
                if done % every == 0:
                    _progress(export_id, attempt, done)
        key = files.save("exports", "export.xlsx", path)
    finally:
        path.unlink(missing_ok=True)
    finished = now_utc()
    with unit_of_work():
        won = db.session.execute(update(Export).where(*_mine(export_id, attempt)).values(
            status=ExportStatus.DONE, file_key=key, row_count=done, rows_done=done, finished_at=finished, error=None,
            expires_at=finished + timedelta(hours=conf["keep_hours"])).execution_options(synchronize_session=False))
    if won.rowcount != 1:
        files.delete(key)  # re-claimed meanwhile (this run stalled): the other run's file is the one
        return "skipped"
    return "done"


def _stream(query: Select, yield_per: int) -> Iterator[Any]:
    """The query's rows from a connection of their own: a server-side cursor on PostgreSQL, a read snapshot.

    Progress commits on the session's connection meanwhile. On PostgreSQL the read is one REPEATABLE READ
    snapshot, so the file is consistent; on SQLite the connection reads without the write lock
    (`sqlite_read_only`, see app.extensions), a WAL snapshot.
    """
    options: dict[str, Any] = {"stream_results": True, "yield_per": yield_per, "sqlite_read_only": True}
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            options["isolation_level"] = "REPEATABLE READ"
        connection = connection.execution_options(**options)
        with connection.begin():
            yield from connection.execute(query)


def _progress(export_id: int, attempt: int, done: int) -> None:
    with unit_of_work():
        db.session.execute(update(Export).where(*_mine(export_id, attempt)).values(rows_done=done, heartbeat_at=now_utc())
                           .execution_options(synchronize_session=False))


# --- sweeps (the scheduler calls these through jobs/exports.py) --------------------------------------

def stalled(*, now: datetime) -> list[int]:
    """Exports queued or running without a heartbeat for `stale_minutes`: their message or worker is gone."""
    before = _stale_before(now)
    return list(db.session.scalars(select(Export.id).where(or_(
        and_(Export.status == ExportStatus.QUEUED, Export.created_at < before),
        and_(Export.status == ExportStatus.RUNNING, Export.heartbeat_at < before))).order_by(Export.id).limit(500)))


def expired(*, now: datetime) -> list[tuple[int, str]]:
    return list(db.session.execute(select(Export.id, Export.file_key).where(
        Export.file_key.is_not(None), Export.expires_at <= now).order_by(Export.id).limit(1000)).tuples())


def forget_file(export_id: int, key: str) -> None:
    """Delete an expired export's file; the row stays, without its key."""
    files.delete(key)
    db.session.execute(update(Export).where(Export.id == export_id, Export.file_key == key).values(file_key=None)
                       .execution_options(synchronize_session=False))
