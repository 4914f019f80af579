"""What a certificate says: the four parts of the 2015 意见 (民发〔2015〕149号), built from the ledger.

1. identity: name, ID type and masked number, volunteer number, the star held when the content was made;
2. service: service hours and content (each activity with its date and hours), trainings, awards;
3. issuer: the organisation's name, person in charge, handler, contact;
4. other: certificate number, issue date, notes.

Hours are service time only (the 2012 办法): training activities are listed apart and not counted
in the service total. Scanned minutes (信用时长) are told from minutes entered by people. The
content is a plain JSON-able dict: it is publicised as built and frozen, with its hash, on issue.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from app import pii
from app.extensions import db, settings
from app.services.stars import flow as star_flow
from app.timeutil import local_day_bounds, to_local
from models import (Activity, ActivityKind, ArchiveEntry, ArchiveEntryKind, Checkin, Organization, Region, RecordSource,
                    ServiceRecord, Volunteer)

ID_TYPE = "居民身份证"
# Activity descriptions are cut to this many characters in the service list (the content column).
CONTENT_CHARS = 60


def awards_for_certificate(volunteer_id: int, organization_id: int, start: date, end: date) -> list[dict[str, Any]]:
    """The volunteer's awards (表彰) given by the organisation within the period, oldest first.

    Each item: {"date": "YYYY-MM-DD", "title": str, "granted_by": str}: the archive's award entries
    recorded in the organisation's name (谁记录谁证明), less those retracted by a later entry.
    """
    retracted = select(ArchiveEntry.retracts_entry_id).where(ArchiveEntry.retracts_entry_id.is_not(None))
    rows = db.session.execute(
        select(ArchiveEntry.occurred_on, ArchiveEntry.title, ArchiveEntry.issuer, Organization.name)
        .join(Organization, Organization.id == ArchiveEntry.organization_id)
        .where(ArchiveEntry.volunteer_id == volunteer_id, ArchiveEntry.organization_id == organization_id,
               ArchiveEntry.kind == ArchiveEntryKind.AWARD, ArchiveEntry.retracts_entry_id.is_(None),
               ArchiveEntry.id.not_in(retracted), ArchiveEntry.occurred_on >= start, ArchiveEntry.occurred_on <= end)
        .order_by(ArchiveEntry.occurred_on, ArchiveEntry.id))
    return [{"date": day.isoformat(), "title": title, "granted_by": issuer or organization_name}
            for day, title, issuer, organization_name in rows]


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The period's first and last Shanghai days as a half-open UTC range."""
    return local_day_bounds(start)[0], local_day_bounds(end)[1]


def issuer_minutes(volunteer_id: int, start: date, end: date) -> dict[int, int]:
    """Net recorded minutes by the organisation whose activities (starting in the period) recorded them; positive only."""
    since, until = period_bounds(start, end)
    rows = db.session.execute(
        select(Activity.organization_id, func.sum(ServiceRecord.minutes))
        .join(Activity, Activity.id == ServiceRecord.activity_id)
        .where(ServiceRecord.volunteer_id == volunteer_id, Activity.starts_at >= since, Activity.starts_at < until)
        .group_by(Activity.organization_id))
    return {organization_id: int(minutes) for organization_id, minutes in rows if minutes and minutes > 0}


def hours(minutes: int) -> float:
    """Minutes as hours with two decimals, as the ledger's API shows them."""
    return round(minutes / 60, 2)


def masked_id_number(volunteer: Volunteer) -> str | None:
    if volunteer.id_number_encrypted is None:
        return None
    return pii.mask_id_number(pii.decrypt(volunteer.id_number_encrypted, settings()["app"]["pii_key"]))


def person_name(account_id: int | None) -> str | None:
    """The real name on an account's volunteer archive (handlers are people with one), else None."""
    if account_id is None:
        return None
    return db.session.scalar(select(Volunteer.real_name).where(Volunteer.account_id == account_id))


def build(volunteer: Volunteer, organization: Organization, start: date, end: date, *,
          handler_account_id: int | None, issuing_region: Region | None, note: str | None) -> dict[str, Any]:
    """The four parts for one issuer; `issuing_region` is set when a region's admin issues for a dissolved organisation."""
    since, until = period_bounds(start, end)
    per_activity: dict[int, dict[str, int]] = defaultdict(lambda: {"minutes": 0, "scanned": 0})
    for activity_id, source, minutes in db.session.execute(
            select(ServiceRecord.activity_id, ServiceRecord.source, func.sum(ServiceRecord.minutes))
            .join(Activity, Activity.id == ServiceRecord.activity_id)
            .where(ServiceRecord.volunteer_id == volunteer.id, Activity.organization_id == organization.id,
                   Activity.starts_at >= since, Activity.starts_at < until)
            .group_by(ServiceRecord.activity_id, ServiceRecord.source)):
        per_activity[activity_id]["minutes"] += int(minutes or 0)
        if source is RecordSource.SCAN:
            per_activity[activity_id]["scanned"] += int(minutes or 0)
    attended_trainings = set(db.session.scalars(
        select(Checkin.activity_id).join(Activity, Activity.id == Checkin.activity_id)
        .where(Checkin.volunteer_id == volunteer.id, Activity.organization_id == organization.id,
               Activity.kind == ActivityKind.TRAINING, Activity.starts_at >= since, Activity.starts_at < until)))
    ids = set(per_activity) | attended_trainings
    activities = {row.id: row for row in db.session.scalars(select(Activity).where(Activity.id.in_(ids)))} if ids else {}
    services, trainings = [], []
    service_minutes = scanned_minutes = 0
    for activity in sorted(activities.values(), key=lambda row: (row.starts_at, row.id)):
        figures = per_activity.get(activity.id, {"minutes": 0, "scanned": 0})
        item = {"activity_id": activity.id, "date": to_local(activity.starts_at).date().isoformat(),
                "title": activity.title, "place": activity.address,
                "content": _cut(activity.description), "hours": hours(max(figures["minutes"], 0))}
        if activity.kind is ActivityKind.TRAINING:
            trainings.append(item)
        elif figures["minutes"] > 0:
            services.append(item)
            service_minutes += figures["minutes"]
            scanned_minutes += max(figures["scanned"], 0)
    awards = awards_for_certificate(volunteer.id, organization.id, start, end)
    region = db.session.get(Region, organization.region_id)
    issuer = {"organization_id": organization.id, "name": organization.name,
              "person_in_charge": organization.contact_name, "handler": person_name(handler_account_id),
              "contact": organization.contact_mobile, "region": region.name if region else None,
              "issued_for_dissolved": issuing_region is not None,
              "issuing_region": issuing_region.name if issuing_region is not None else None}
    entered_minutes = max(service_minutes - scanned_minutes, 0)
    notes = [f"本证明所载服务时长为 {start.isoformat()} 至 {end.isoformat()} 期间由本组织记录的志愿服务时间，不含培训时间。",
             f"其中扫码签到记录 {hours(scanned_minutes)} 小时，组织录入 {hours(entered_minutes)} 小时。"]
    if issuing_region is not None:
        notes.append(f"原记录组织已注销，由{issuing_region.name}管理员出具。")
    if note:
        notes.append(f"申请人备注：{note}")
    return {
        "identity": {"name": volunteer.real_name, "masked_name": pii.mask_name(volunteer.real_name),
                     "id_type": ID_TYPE, "id_number_masked": masked_id_number(volunteer),
                     "volunteer_number": volunteer.volunteer_number,
                     "star_level": star_flow.current_level(volunteer.id)},
        "service": {"period_start": start.isoformat(), "period_end": end.isoformat(),
                    "hours": hours(service_minutes), "minutes": service_minutes,
                    "scanned_hours": hours(scanned_minutes), "entered_hours": hours(entered_minutes),
                    "activity_count": len(services), "activities": services, "trainings": trainings,
                    "awards": awards},
        "issuer": issuer,
        "other": {"serial": None, "issue_date": None, "notes": notes},
    }


def _cut(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= CONTENT_CHARS else text[:CONTENT_CHARS - 1] + "…"


def with_serial(content: dict[str, Any], serial: str) -> dict[str, Any]:
    other = {**content["other"], "serial": serial}
    return {**content, "other": other}


def frozen(content: dict[str, Any], *, issue_day: date) -> dict[str, Any]:
    """The snapshot: the publicised content with its issue date."""
    other = {**content["other"], "issue_date": issue_day.isoformat()}
    return {**content, "other": other}


def snapshot_hash(snapshot: dict[str, Any]) -> str:
    """SHA-256 of the snapshot's canonical JSON (sorted keys, no spaces, UTF-8): anyone can recompute it."""
    canonical = json.dumps(snapshot, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
