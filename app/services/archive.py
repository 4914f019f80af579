"""A volunteer's archive (志愿服务档案) as the 2012 记录办法 lists it, and its award and complaint entries.

Sections: service records (one line per activity: name, date, place, beneficiary 服务对象, content,
hours — service time only —, quality evaluation, activity lead, recorder, and the ledger entries
behind the hours), trainings, awards (表彰), evaluations (志愿者评价) and complaints received.
Everything is read from append-only rows: the ledger (`service_records`), `attendee_evaluations`,
`archive_entries`. Awards and complaints are entered by organisers and admins over the volunteer
and never changed: a retraction is a new entry naming the one it takes back, with who and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import pii
from app.errors import Conflict, DomainError, NotFound, ValidationFailed
from app.extensions import db
from app.services import access, audit, directory, regions
from app.services.attendee_evaluations import evaluations_of
from app.services.stars import flow as star_flow
from app.timeutil import to_local
from models import (Account, Activity, ActivityKind, ActivityReport, ArchiveEntry, ArchiveEntryKind, Organization,
                    ServiceRecord, StarApplication, StarStatus, Volunteer)


@dataclass(frozen=True)
class Period:
    """Shanghai calendar days [since, until], either end open."""

    since: date | None = None
    until: date | None = None

    def holds_day(self, day: date) -> bool:
        return (self.since is None or day >= self.since) and (self.until is None or day <= self.until)

    def holds(self, moment: datetime) -> bool:
        return self.holds_day(to_local(moment).date())


def for_organizer(account: Account, volunteer_id: int) -> Volunteer:
    """The volunteer whose archive the caller may write to: organisers and admins over the volunteer's region."""
    return directory.in_scope(account.id, volunteer_id)


def readable_by(account: Account, volunteer_id: int) -> tuple[Volunteer, list[int] | None]:
    """The volunteer and the organisations whose part of the archive the caller reads (None: all of it).

    Organisers and admins over the volunteer's region read everything; an organisation that recorded
    the volunteer's hours (and admins above it) keeps reading its own part after the volunteer moved
    away (谁记录谁证明): see `directory.record_scope`.
    """
    return directory.record_scope(account.id, volunteer_id)


def names_of(account_ids: set[int | None]) -> dict[int, str]:
    """Masked names of accounts that have a volunteer archive (captains, organisers and admins mostly do)."""
    wanted = {i for i in account_ids if i is not None}
    if not wanted:
        return {}
    return {account_id: pii.mask_name(name) or "" for account_id, name in db.session.execute(
        select(Volunteer.account_id, Volunteer.real_name).where(Volunteer.account_id.in_(wanted)))}


def stars_of(volunteer_id: int) -> list[dict[str, Any]]:
    """The stars awarded (and those later revoked), newest first: the archive keeps the history of each."""
    rows = db.session.scalars(select(StarApplication).where(
        StarApplication.volunteer_id == volunteer_id,
        StarApplication.status.in_((StarStatus.AWARDED, StarStatus.REVOKED))).order_by(StarApplication.awarded_at.desc()))
    return [{"level": row.level, "status": row.status.value, "awarded_at": row.awarded_at, "revoked_at": row.revoked_at,
             "revocation_reason": row.revocation_reason} for row in rows]


def archive(volunteer: Volunteer, *, period: Period = Period(), organizations: list[int] | None = None) -> dict[str, Any]:
    """Every section of the volunteer's archive within the period (by activity start, or by the day an entry names).

    `organizations`, when given, keeps only what those organisations recorded: their activities'
    lines and evaluations, and the entries made in their name.
    """
    if period.since and period.until and period.since > period.until:
        raise ValidationFailed({"to": "不能早于 from"})
    activity_lines = _activity_lines(volunteer, period)
    evaluations = [e for e in evaluations_of(volunteer.id) if period.holds(e["activity"]["starts_at"])]
    entries = _entries(volunteer.id, period)
    if organizations is not None:
        activity_lines = [line for line in activity_lines if line["organization"]["id"] in organizations]
        shown = {line["activity_id"] for line in activity_lines}
        evaluations = [e for e in evaluations if e["activity"]["id"] in shown]
        entries = [e for e in entries if e["organization"] and e["organization"]["id"] in organizations]
    records = [line for line in activity_lines if line["kind"] == ActivityKind.SERVICE.value]
    trainings = [line for line in activity_lines if line["kind"] == ActivityKind.TRAINING.value]
    awards = [e for e in entries if e["kind"] == ArchiveEntryKind.AWARD.value]
    complaints = [e for e in entries if e["kind"] == ArchiveEntryKind.COMPLAINT.value]
    return {
        "volunteer": volunteer,
        "period": period,
        "records": records,
        "trainings": trainings,
        "awards": awards,
        "evaluations": evaluations,
        "complaints": complaints,
        "star_level": star_flow.current_level(volunteer.id),
        "stars": stars_of(volunteer.id),
        "totals": {
            "service_minutes": sum(line["minutes"] for line in records),
            "service_activities": len(records),
            "training_minutes": sum(line["minutes"] for line in trainings),
            "trainings": len(trainings),
            "awards": sum(1 for e in awards if e["retraction"] is None),
            "complaints": sum(1 for e in complaints if e["retraction"] is None),
        },
    }


def _activity_lines(volunteer: Volunteer, period: Period) -> list[dict[str, Any]]:
    """One line per activity the volunteer has ledger entries at, newest activity first."""
    rows = db.session.execute(
        select(ServiceRecord, Activity, Organization)
        .join(Activity, Activity.id == ServiceRecord.activity_id)
        .join(Organization, Organization.id == Activity.organization_id)
        .where(ServiceRecord.volunteer_id == volunteer.id)
        .order_by(Activity.starts_at.desc(), Activity.id.desc(), ServiceRecord.id)).all()
    by_activity: dict[int, dict[str, Any]] = {}
    recorders: set[int | None] = set()
    for record, activity, organization in rows:
        if not period.holds(activity.starts_at):
            continue
        line = by_activity.get(activity.id)
        if line is None:
            line = by_activity[activity.id] = {"activity": activity, "organization": organization, "entries": []}
        line["entries"].append(record)
        recorders.add(record.created_by_account_id)
        recorders.add(record.confirmed_by_account_id)
    names = names_of(recorders)
    current = {e["activity"]["id"]: e for e in evaluations_of(volunteer.id)}
    reports = _latest_summaries(list(by_activity))
    lines = []
    for activity_id, found in by_activity.items():
        activity, organization, entries = found["activity"], found["organization"], found["entries"]
        minutes = sum(r.minutes for r in entries)
        # The recorder: who wrote the first entry (the captain who scanned, the organiser who entered it).
        first = entries[0]
        recorder_id = first.created_by_account_id or first.confirmed_by_account_id
        evaluation = current.get(activity_id)
        lines.append({
            "activity_id": activity_id,
            "kind": activity.kind.value,
            "name": activity.title,
            "activity_date": to_local(activity.starts_at).date(),
            "starts_at": activity.starts_at,
            "ends_at": activity.ends_at,
            "place": activity.address,
            "beneficiary": activity.beneficiary,
            "content": activity.description,
            "summary": reports.get(activity_id),
            "minutes": minutes,
            "hours": round(minutes / 60, 2),
            "evaluation": evaluation["rating"] if evaluation else None,
            "evaluation_note": evaluation["note"] if evaluation else None,
            "lead": activity.lead_name or organization.contact_name,
            "organization": {"id": organization.id, "name": organization.name},
            "recorder": {"organization_id": organization.id, "organization_name": organization.name,
                         "name": names.get(recorder_id) if recorder_id else None},
            "sources": sorted({r.source.value for r in entries}),
            "confirmed": all(r.confirmed_at is not None for r in entries),
            "entries": [{"id": r.id, "kind": r.kind.value, "source": r.source.value, "minutes": r.minutes,
                         "reason": r.reason, "corrects_record_id": r.corrects_record_id,
                         "created_at": r.created_at, "recorded_by": names.get(r.created_by_account_id)}
                        for r in entries],
        })
    return lines


def _latest_summaries(activity_ids: list[int]) -> dict[int, str]:
    if not activity_ids:
        return {}
    latest: dict[int, tuple[int, str]] = {}
    for activity_id, revision, summary in db.session.execute(
            select(ActivityReport.activity_id, ActivityReport.revision, ActivityReport.summary)
            .where(ActivityReport.activity_id.in_(activity_ids))):
        if activity_id not in latest or revision > latest[activity_id][0]:
            latest[activity_id] = (revision, summary)
    return {activity_id: summary for activity_id, (_, summary) in latest.items()}


def _entries(volunteer_id: int, period: Period) -> list[dict[str, Any]]:
    """Awards and complaints, newest first, each with its retraction if it was taken back."""
    rows = db.session.execute(
        select(ArchiveEntry, Organization.name).outerjoin(Organization, Organization.id == ArchiveEntry.organization_id)
        .where(ArchiveEntry.volunteer_id == volunteer_id)
        .order_by(ArchiveEntry.occurred_on.desc(), ArchiveEntry.id.desc())).all()
    names = names_of({entry.created_by_account_id for entry, _ in rows})
    retractions = {entry.retracts_entry_id: (entry, org) for entry, org in rows if entry.retracts_entry_id}
    shown = []
    for entry, organization_name in rows:
        if entry.retracts_entry_id is not None or not period.holds_day(entry.occurred_on):
            continue
        retraction = retractions.get(entry.id)
        shown.append({**entry_view(entry, organization_name, names),
                      "retraction": entry_view(*retraction, names) if retraction else None})
    return shown


def entry_view(entry: ArchiveEntry, organization_name: str | None, names: dict[int, str]) -> dict[str, Any]:
    """The JSON of one archive entry (an award, a complaint, or a retraction of one)."""
    return {"id": entry.id, "kind": entry.kind.value, "title": entry.title, "detail": entry.detail,
            "issuer": entry.issuer, "occurred_on": entry.occurred_on, "reason": entry.reason,
            "organization": ({"id": entry.organization_id, "name": organization_name}
                             if entry.organization_id else None),
            "recorded_by": names.get(entry.created_by_account_id), "created_at": entry.created_at}


# --- awards and complaints -------------------------------------------------------------------------------

_DOING = {ArchiveEntryKind.AWARD: "记录表彰", ArchiveEntryKind.COMPLAINT: "记录投诉"}


def _acting_organization(account: Account, volunteer: Volunteer, organization_id: int | None,
                         doing: str) -> Organization | None:
    """The organisation the caller writes for; None for an admin over the volunteer's region writing as such."""
    if organization_id is not None:
        return access.require_organizer(account.id, organization_id, doing=doing)
    if access.is_admin_over(account.id, regions.get_region(volunteer.region_id)):
        return None
    raise DomainError("organization_required", "请选择以哪个组织的名义记录", 422,
                      fields={"organization_id": "组织者记录时必填"})


def add_entry(account: Account, volunteer_id: int, *, kind: ArchiveEntryKind, title: str, detail: str,
              issuer: str | None, occurred_on: date, organization_id: int | None, reason: str,
              now: datetime) -> ArchiveEntry:
    """Append an award or a complaint to a volunteer's archive (organisers and admins over them); audited."""
    volunteer = for_organizer(account, volunteer_id)
    organization = _acting_organization(account, volunteer, organization_id, _DOING[kind])
    if occurred_on > to_local(now).date():
        raise ValidationFailed({"occurred_on": "不能晚于今天"})
    entry = ArchiveEntry(volunteer_id=volunteer.id, kind=kind, title=title, detail=detail, issuer=issuer,
                         occurred_on=occurred_on, organization_id=organization.id if organization else None,
                         reason=reason, created_by_account_id=account.id, created_at=now)
    db.session.add(entry)
    db.session.flush()
    audit.record(account.id, f"archive.{kind.value}_added", "volunteer", volunteer.id, now=now, entry_id=entry.id,
                 organization_id=entry.organization_id)
    return entry


def retract_entry(account: Account, volunteer_id: int, entry_id: int, *, reason: str, organization_id: int | None,
                  now: datetime) -> ArchiveEntry:
    """Take an award or complaint back by appending a retraction that names it and says why; audited.

    Once only: the retraction's `retracts_entry_id` is unique, so of two at once one lands and the
    other is told `already_retracted`.
    """
    volunteer = for_organizer(account, volunteer_id)
    entry = db.session.get(ArchiveEntry, entry_id)
    if entry is None or entry.volunteer_id != volunteer.id or entry.retracts_entry_id is not None:
        raise NotFound("archive_entry_not_found", "找不到该档案记录")
    organization = _acting_organization(account, volunteer, organization_id, "撤销档案记录")
    if db.session.scalar(select(ArchiveEntry.id).where(ArchiveEntry.retracts_entry_id == entry.id)) is not None:
        raise _already_retracted()
    retraction = ArchiveEntry(volunteer_id=volunteer.id, kind=entry.kind, title=entry.title, detail="",
                              issuer=entry.issuer, occurred_on=to_local(now).date(),
                              organization_id=organization.id if organization else None, retracts_entry_id=entry.id,
                              reason=reason, created_by_account_id=account.id, created_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(retraction)
    except IntegrityError:
        raise _already_retracted() from None
    audit.record(account.id, f"archive.{entry.kind.value}_retracted", "volunteer", volunteer.id, now=now,
                 entry_id=entry.id, retraction_id=retraction.id, reason=reason)
    return retraction


def _already_retracted() -> Conflict:
    return Conflict("already_retracted", "该记录已撤销")


def organization_names(ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(db.session.execute(select(Organization.id, Organization.name).where(Organization.id.in_(wanted))).all())

