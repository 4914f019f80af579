"""Record transfers (记录转移和接续): a volunteer moves to another organisation or community.

The volunteer applies (`apply`); the receiving side decides (`decide`): the receiving
organisation's organisers for an organisation transfer, the admins over the receiving community for
a community transfer. On approval the membership moves, and nothing else:

- organisation: the volunteer's memberships in the releasing organisation's teams end (`removed`,
  with the reason; a captain role there goes with them) and they become an active member of a
  team of the receiving organisation;
- community: the volunteer's home region (`volunteers.region_id`) becomes the new community.

Service records never move and are never copied: each stays with the organisation whose activity
recorded it, which keeps certifying it (谁记录谁证明) and keeps reading it
(`access.recorder_ids_overseen`, used by the volunteer directory), wherever the volunteer goes.
The releasing side is told through the outbox. The transfer receipt, which lists the volunteer's
hours by the organisation that recorded them, is frozen into the row at approval with its SHA-256,
so later corrections never change a receipt already handed out.

Races: one pending application per volunteer is a partial unique index (two applications at once:
one lands, the other is `transfer_pending`); a decision is a conditional UPDATE from `pending`
(two approvers at once: one decides, the other is `already_decided`), so memberships move once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app import pii
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.services import access, audit, notifications, regions, roles, volunteers
from app.texts import hours_text
from app.timeutil import format_local
from models import (Account, Activity, MembershipStatus, Organization, OrganizationStatus, RecordKind, Region, Role,
                    RoleGrant, ServiceRecord, Team, TeamMembership, Transfer, TransferKind, TransferStatus, Volunteer,
                    VolunteerStatus)

logger = logging.getLogger(__name__)

RECEIPT_NOTE = ("转移后，上述服务时长仍由原记录组织（谁记录谁证明）出具志愿服务记录证明，"
                "原记录组织继续可查阅其记录的服务记录。")
KIND_LABELS = {TransferKind.ORGANIZATION: "转组织", TransferKind.COMMUNITY: "转社区"}
STATUS_LABELS = {TransferStatus.PENDING: "待审核", TransferStatus.APPROVED: "已通过",
                 TransferStatus.REFUSED: "未通过", TransferStatus.WITHDRAWN: "已撤回"}


def transfer_not_found() -> NotFound:
    """The one refusal for a transfer that does not exist or that the caller may not see."""
    return NotFound("transfer_not_found", "找不到该转移申请")


# --- applying --------------------------------------------------------------------------------------

def apply(account: Account, *, kind: TransferKind, organization_id: int | None, team_id: int | None,
          from_organization_id: int | None, region_id: int | None, reason: str | None, now: datetime) -> Transfer:
    """A volunteer applies to move to another organisation (and a team of it) or another community."""
    volunteer = volunteers.own_archive(account, lock=True, approved_for="申请转移")
    values: dict[str, Any] = {}
    if kind is TransferKind.ORGANIZATION:
        if organization_id is None:
            raise DomainError("organization_required", "请选择要转入的组织", 422, fields={"organization_id": "必填"})
        target = db.session.get(Organization, organization_id)
        if target is None or target.status is not OrganizationStatus.APPROVED:
            raise access.organization_not_found()
        if team_id is not None:
            team = db.session.get(Team, team_id)
            if team is None or team.organization_id != target.id:
                raise DomainError("team_not_in_organization", "所选队伍不属于要转入的组织", 422,
                                  fields={"team_id": "不属于该组织"})
        releasing = _releasing_organization(volunteer.id, from_organization_id)
        if releasing == target.id:
            raise DomainError("same_organization", "您已是该组织的成员，无需转移", 422,
                              fields={"organization_id": "与转出组织相同"})
        values.update(to_organization_id=target.id, to_team_id=team_id, from_organization_id=releasing)
    else:
        if region_id is None:
            raise DomainError("region_required", "请选择要转入的社区", 422, fields={"region_id": "必填"})
        community = regions.require_community(region_id)
        if community.id == volunteer.region_id:
            raise DomainError("same_community", "您已登记在该社区，无需转移", 422, fields={"region_id": "与现所在社区相同"})
        values.update(to_region_id=community.id)
    row = Transfer(volunteer_id=volunteer.id, kind=kind, status=TransferStatus.PENDING,
                   from_region_id=volunteer.region_id, reason=(reason or "").strip() or None, created_at=now, **values)
    try:
        # The partial unique index is the guarantee: a second pending application cannot commit.
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        raise Conflict("transfer_pending", "您已有一份待审核的转移申请，请等待审核结果或先撤回") from None
    audit.record(account.id, "transfer.applied", "volunteer", volunteer.id, now=now, transfer_id=row.id,
                 kind=kind.value, to_organization_id=row.to_organization_id, to_region_id=row.to_region_id)
    _tell_receivers(row, volunteer, now)
    return row


def _releasing_organization(volunteer_id: int, given: int | None) -> int | None:
    """The organisation the volunteer leaves: the one given, or the only one they are an active member of."""
    member_of = sorted(set(db.session.scalars(
        select(Team.organization_id).join(TeamMembership, TeamMembership.team_id == Team.id).where(
            TeamMembership.volunteer_id == volunteer_id, TeamMembership.status == MembershipStatus.ACTIVE))))
    if given is not None:
        if given not in member_of:
            raise DomainError("not_a_member", "您不是所选转出组织的成员", 422, fields={"from_organization_id": "不是其成员"})
        return given
    if len(member_of) > 1:
        raise DomainError("from_organization_required", "您是多个组织的成员，请选择从哪个组织转出", 422,
                          fields={"from_organization_id": "必填"}, context={"organization_ids": member_of})
    return member_of[0] if member_of else None


def withdraw(account: Account, transfer_id: int, *, now: datetime) -> Transfer:
    """The volunteer withdraws their own pending application."""
    volunteer = volunteers.own_archive(account, lock=True)
    row = db.session.get(Transfer, transfer_id)
    if row is None or row.volunteer_id != volunteer.id:
        raise transfer_not_found()
    if not _conditionally(row, status=TransferStatus.WITHDRAWN, decided_by_account_id=account.id, decided_at=now):
        raise Conflict("already_decided", "该转移申请已处理")
    audit.record(account.id, "transfer.withdrawn", "volunteer", volunteer.id, now=now, transfer_id=row.id)
    return row


# --- deciding --------------------------------------------------------------------------------------

def require_receiver(account_id: int, row: Transfer, *, doing: str) -> None:
    """Refuse a caller who is not on the receiving side of the transfer."""
    if row.kind is TransferKind.ORGANIZATION:
        access.require_organizer(account_id, row.to_organization_id, doing=doing)
    else:
        access.require_admin_over(account_id, regions.get_region(row.to_region_id), doing=doing)


def decide(account: Account, transfer_id: int, *, approve: bool, reason: str | None, team_id: int | None,
           now: datetime) -> Transfer:
    """The receiving side approves (the membership moves, the receipt is frozen) or refuses with a reason."""
    row = db.session.get(Transfer, transfer_id)
    if row is None:
        raise transfer_not_found()
    require_receiver(account.id, row, doing="审核转移申请")
    reason = (reason or "").strip() or None
    if not approve and reason is None:
        raise DomainError("reason_required", "拒绝转移申请时请填写原因", 422, fields={"reason": "必填"})
    team = _receiving_team(row, team_id) if approve and row.kind is TransferKind.ORGANIZATION else None
    target = TransferStatus.APPROVED if approve else TransferStatus.REFUSED
    # The volunteer's row first, as `apply` and `withdraw` take it: one lock order, no deadlock.
    volunteer = _locked_volunteer(row.volunteer_id)
    # Conditional: two approvers at once land exactly one decision, so memberships move once.
    if not _conditionally(row, status=target, decided_by_account_id=account.id, decided_at=now,
                          decision_reason=reason, joined_team_id=team.id if team else None):
        raise Conflict("already_decided", "该转移申请已处理")
    if approve:
        if volunteer.status is not VolunteerStatus.APPROVED:
            raise Conflict("volunteer_not_active", "该志愿者当前不可转移（已暂停或已注销）")
        moved = _move_membership(account, row, volunteer, team, now) if team else _move_community(row, volunteer)
        receipt = build_receipt(row, volunteer, now=now)
        digest = hashlib.sha256(canonical(receipt).encode()).hexdigest()
        db.session.execute(update(Transfer).where(Transfer.id == row.id).values(receipt=receipt, receipt_sha256=digest)
                           .execution_options(synchronize_session=False))
        db.session.refresh(row)
        audit.record(account.id, "transfer.approved", "volunteer", volunteer.id, now=now, transfer_id=row.id,
                     kind=row.kind.value, **moved)
        _tell_releasers(row, volunteer, now)
    else:
        audit.record(account.id, "transfer.refused", "volunteer", volunteer.id, now=now, transfer_id=row.id,
                     reason=reason)
    _tell_volunteer(row, volunteer, now)
    logger.info("transfer %s %s (%s) by account %s", row.id, row.status.value, row.kind.value, account.id)
    return row


def _locked_volunteer(volunteer_id: int) -> Volunteer:
    return db.session.scalar(select(Volunteer).where(Volunteer.id == volunteer_id).with_for_update()
                             .execution_options(populate_existing=True))


def _conditionally(row: Transfer, **values: Any) -> bool:
    """Move the transfer out of `pending` only if it still is; refresh it either way."""
    changed = db.session.execute(
        update(Transfer).where(Transfer.id == row.id, Transfer.status == TransferStatus.PENDING).values(**values)
        .execution_options(synchronize_session=False)).rowcount
    db.session.refresh(row)
    return bool(changed)


def _receiving_team(row: Transfer, team_id: int | None) -> Team:
    """The team the volunteer joins: the approver's choice, else the applicant's, else the organisation's only team."""
    chosen = team_id if team_id is not None else row.to_team_id
    if chosen is not None:
        team = db.session.get(Team, chosen)
        if team is None or team.organization_id != row.to_organization_id:
            raise DomainError("team_not_in_organization", "所选队伍不属于本组织", 422, fields={"team_id": "不属于本组织"})
        return team
    teams = list(db.session.scalars(select(Team).where(Team.organization_id == row.to_organization_id)
                                    .order_by(Team.id).limit(2)))
    if len(teams) != 1:
        raise DomainError("team_required", "请选择该志愿者加入的队伍", 422, fields={"team_id": "必填"})
    return teams[0]


def _move_membership(account: Account, row: Transfer, volunteer: Volunteer, team: Team, now: datetime) -> dict:
    """End the memberships in the releasing organisation's teams; make the volunteer a member of `team`."""
    from app.services import teams as team_service

    left: list[int] = []
    if row.from_organization_id is not None:
        leaving = list(db.session.scalars(
            select(TeamMembership).join(Team, Team.id == TeamMembership.team_id).where(
                TeamMembership.volunteer_id == volunteer.id, Team.organization_id == row.from_organization_id,
                TeamMembership.status.in_((MembershipStatus.ACTIVE, MembershipStatus.REQUESTED,
                                           MembershipStatus.INVITED)))
            .order_by(TeamMembership.id).execution_options(populate_existing=True)))
        for membership in leaving:
            if team_service._move(membership, membership.status, status=MembershipStatus.REMOVED,
                                  reason=f"转移至{row_organization_name(row.to_organization_id)}",
                                  decided_by_account_id=account.id, decided_at=now):
                roles.revoke_captain(volunteer.account_id, membership.team_id)
                left.append(membership.team_id)
    membership, inserted = team_service._insert(team.id, volunteer.id, MembershipStatus.ACTIVE, now,
                                                reason="转移转入", decided_by_account_id=account.id, decided_at=now)
    if not inserted and membership.status is not MembershipStatus.ACTIVE:
        team_service._move(membership, membership.status, status=MembershipStatus.ACTIVE, reason="转移转入",
                           decided_by_account_id=account.id, decided_at=now)
    return {"left_team_ids": left, "joined_team_id": team.id}


def _move_community(row: Transfer, volunteer: Volunteer) -> dict:
    """The volunteer's home community becomes the receiving one (its region scope moves with it)."""
    community = regions.require_community(row.to_region_id)
    db.session.execute(update(Volunteer).where(Volunteer.id == volunteer.id).values(region_id=community.id)
                       .execution_options(synchronize_session=False))
    db.session.refresh(volunteer)
    return {"from_region_id": row.from_region_id, "to_region_id": community.id}


def row_organization_name(organization_id: int | None) -> str:
    if organization_id is None:
        return ""
    return db.session.scalar(select(Organization.name).where(Organization.id == organization_id)) or ""


def _region_name(region_id: int | None) -> str:
    if region_id is None:
        return ""
    return db.session.scalar(select(Region.name).where(Region.id == region_id)) or ""


# --- the receipt --------------------------------------------------------------------------------------

def canonical(receipt: dict) -> str:
    """The receipt as canonical JSON: what its SHA-256 is taken of."""
    return json.dumps(receipt, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def receipt_number(row: Transfer) -> str:
    """ZY + the approval day (Shanghai) + the transfer id: unique and printed on the receipt."""
    return f"ZY{format_local(row.decided_at, '%Y%m%d')}{row.id:06d}"


def hours_by_recorder(volunteer_id: int) -> list[dict[str, Any]]:
    """The volunteer's minutes by the organisation whose activities recorded them, largest recorder first."""
    rows = db.session.execute(
        select(Organization.id, Organization.name, func.coalesce(func.sum(ServiceRecord.minutes), 0),
               func.count(ServiceRecord.id).filter(ServiceRecord.kind == RecordKind.ATTENDANCE),
               func.count(func.distinct(ServiceRecord.activity_id)),
               func.min(Activity.starts_at), func.max(Activity.starts_at))
        .select_from(ServiceRecord).join(Activity, Activity.id == ServiceRecord.activity_id)
        .join(Organization, Organization.id == Activity.organization_id)
        .where(ServiceRecord.volunteer_id == volunteer_id)
        .group_by(Organization.id, Organization.name)).all()
    lines = [{"organization_id": org_id, "organization_name": name, "minutes": int(minutes),
              "hours": round(int(minutes) / 60, 2), "records": int(records), "activities": int(activities),
              "first_service_on": format_local(first, "%Y-%m-%d") if first else None,
              "last_service_on": format_local(last, "%Y-%m-%d") if last else None,
              "certified_by": name}
             for org_id, name, minutes, records, activities, first, last in rows]
    return sorted(lines, key=lambda line: (-line["minutes"], line["organization_id"]))


def build_receipt(row: Transfer, volunteer: Volunteer, *, now: datetime) -> dict[str, Any]:
    """The transfer receipt's content: who moved from where to where, and their hours by recorder."""
    from app.extensions import settings

    id_number = volunteers.decrypted_id_number(volunteer, settings()["app"]["pii_key"])
    lines = hours_by_recorder(volunteer.id)
    total = sum(line["minutes"] for line in lines)
    if row.kind is TransferKind.ORGANIZATION:
        origin, destination = row_organization_name(row.from_organization_id) or "（无）", \
            row_organization_name(row.to_organization_id)
    else:
        origin, destination = _region_name(row.from_region_id), _region_name(row.to_region_id)
    return {
        "number": receipt_number(row),
        "transfer_id": row.id,
        "kind": row.kind.value,
        "volunteer": {"id": volunteer.id, "name": volunteer.real_name, "volunteer_number": volunteer.volunteer_number,
                      "id_type": "居民身份证" if id_number else None, "id_number": pii.mask_id_number(id_number)},
        "origin": {"organization_id": row.from_organization_id, "region_id": row.from_region_id, "name": origin},
        "destination": {"organization_id": row.to_organization_id, "team_id": row.joined_team_id,
               "region_id": row.to_region_id, "name": destination},
        "approved_at": row.decided_at.isoformat(),
        "approved_by": destination,
        "hours_by_recorder": lines,
        "total_minutes": total,
        "total_hours": round(total / 60, 2),
        "note": RECEIPT_NOTE,
        "issued_at": now.isoformat(),
    }


def receipt(account: Account, transfer_id: int) -> Transfer:
    """An approved transfer with its frozen receipt, for the volunteer and both sides."""
    row = visible(account, transfer_id)
    if row.status is not TransferStatus.APPROVED or row.receipt is None:
        raise Conflict("transfer_not_approved", "转移申请通过后才有转移凭证")
    return row


# --- reading ---------------------------------------------------------------------------------------

def _is_releaser(account_id: int, row: Transfer) -> bool:
    if row.kind is TransferKind.ORGANIZATION:
        return row.from_organization_id is not None and access.oversees(
            account_id, access.organization(row.from_organization_id))
    return access.is_admin_over(account_id, regions.get_region(row.from_region_id))


def _is_receiver(account_id: int, row: Transfer) -> bool:
    if row.kind is TransferKind.ORGANIZATION:
        return access.oversees(account_id, access.organization(row.to_organization_id))
    return access.is_admin_over(account_id, regions.get_region(row.to_region_id))


def visible(account: Account, transfer_id: int) -> Transfer:
    """The transfer if the caller is its volunteer, on its receiving side or on its releasing side."""
    row = db.session.get(Transfer, transfer_id)
    if row is None:
        raise transfer_not_found()
    owner = db.session.scalar(select(Volunteer.account_id).where(Volunteer.id == row.volunteer_id))
    if owner == account.id or _is_receiver(account.id, row) or _is_releaser(account.id, row):
        return row
    raise transfer_not_found()


def mine(account: Account) -> list[Transfer]:
    """The caller's own applications, newest first."""
    volunteer = volunteers.own_archive(account)
    return list(db.session.scalars(select(Transfer).where(Transfer.volunteer_id == volunteer.id)
                                   .order_by(Transfer.created_at.desc(), Transfer.id.desc())))


def of_organization(account: Account, organization_id: int, *, direction: str | None,
                    status: TransferStatus | None) -> list[Transfer]:
    """An organisation's incoming and outgoing transfers, for its organisers and the admins above; oldest first."""
    access.require_overseer(account.id, access.organization(organization_id), doing="查看转移申请")
    sides = {"incoming": Transfer.to_organization_id == organization_id,
             "outgoing": Transfer.from_organization_id == organization_id}
    query = select(Transfer).where(sides[direction] if direction else or_(*sides.values()))
    if status is not None:
        query = query.where(Transfer.status == status)
    return list(db.session.scalars(query.order_by(Transfer.created_at, Transfer.id)))


def of_region(account: Account, region_id: int, *, direction: str | None,
              status: TransferStatus | None) -> list[Transfer]:
    """Community transfers into or out of the region's subtree, for its admins; oldest first."""
    region = access.require_admin_over(account.id, regions.get_region(region_id), doing="查看转社区申请")
    inside = select(Region.id).where(Region.path.startswith(region.path))
    sides = {"incoming": Transfer.to_region_id.in_(inside), "outgoing": Transfer.from_region_id.in_(inside)}
    query = select(Transfer).where(Transfer.kind == TransferKind.COMMUNITY,
                                   sides[direction] if direction else or_(*sides.values()))
    if status is not None:
        query = query.where(Transfer.status == status)
    return list(db.session.scalars(query.order_by(Transfer.created_at, Transfer.id)))


@dataclass(frozen=True)
class Names:
    """Display names for a list of transfers: volunteers (masked), organisations, teams, regions."""

    volunteers: dict[int, str]
    organizations: dict[int, str]
    teams: dict[int, str]
    regions: dict[int, str]


def names(rows: list[Transfer]) -> Names:
    volunteer_ids = {r.volunteer_id for r in rows}
    org_ids = {i for r in rows for i in (r.from_organization_id, r.to_organization_id) if i}
    team_ids = {i for r in rows for i in (r.to_team_id, r.joined_team_id) if i}
    region_ids = {i for r in rows for i in (r.from_region_id, r.to_region_id) if i}

    def lookup(model: Any, column: Any, ids: set[int]) -> dict[int, str]:
        if not ids:
            return {}
        return dict(db.session.execute(select(model.id, column).where(model.id.in_(ids))).tuples().all())

    return Names(
        volunteers={k: pii.mask_name(v) or "" for k, v in lookup(Volunteer, Volunteer.real_name, volunteer_ids).items()},
        organizations=lookup(Organization, Organization.name, org_ids), teams=lookup(Team, Team.name, team_ids),
        regions=lookup(Region, Region.name, region_ids))


# --- telling people --------------------------------------------------------------------------------

def _receiver_accounts(row: Transfer) -> list[int]:
    if row.kind is TransferKind.ORGANIZATION:
        return access.organizer_account_ids(row.to_organization_id)
    return access.nearest_admin_account_ids(row.to_region_id)


def _releaser_accounts(row: Transfer) -> list[int]:
    if row.kind is TransferKind.ORGANIZATION:
        return access.organizer_account_ids(row.from_organization_id) if row.from_organization_id else []
    return access.nearest_admin_account_ids(row.from_region_id)


def _destination(row: Transfer) -> str:
    return row_organization_name(row.to_organization_id) if row.kind is TransferKind.ORGANIZATION \
        else _region_name(row.to_region_id)


def _tell_receivers(row: Transfer, volunteer: Volunteer, now: datetime) -> None:
    name = pii.mask_name(volunteer.real_name) or "志愿者"
    where = _destination(row)
    text = f"{name}申请{KIND_LABELS[row.kind]}至{where}" + (f"，说明：{row.reason}" if row.reason else "") + "。请及时审核。"
    _tell_side(_receiver_accounts(row), row, notifications.NotificationKind.TRANSFER_REQUEST, "新的转移申请", text,
               where, now)


def _tell_releasers(row: Transfer, volunteer: Volunteer, now: datetime) -> None:
    """The releasing side learns the volunteer left, and that the hours it recorded stay its own."""
    name = pii.mask_name(volunteer.real_name) or "志愿者"
    recorded = 0
    if row.kind is TransferKind.ORGANIZATION and row.from_organization_id is not None:
        recorded = next((line["minutes"] for line in row.receipt["hours_by_recorder"]
                         if line["organization_id"] == row.from_organization_id), 0)
    origin = row.receipt["origin"]["name"]
    text = (f"{name}已{KIND_LABELS[row.kind]}至{_destination(row)}（{format_local(now)}）。"
            + (f"本组织为其记录的{hours_text(recorded)}服务时长仍由本组织证明，可继续查阅。" if recorded else
               "其服务记录仍由原记录组织证明，原记录组织可继续查阅。"))
    _tell_side(_releaser_accounts(row), row, notifications.NotificationKind.TRANSFER_RELEASED, "志愿者已转出", text,
               origin, now)


def _tell_side(account_ids: list[int], row: Transfer, kind: notifications.NotificationKind, title: str, text: str,
               place: str, now: datetime) -> None:
    """One notice to the organisers or admins of one side, one outbox row each, keyed by transfer and person."""
    notifications.notify_many([(account_id, [("t", row.id), ("a", account_id)]) for account_id in account_ids],
                              notifications.Message(kind=kind, template="announcement", title=title, text=text,
                                                    fields={"thing1": title, "thing2": place, "time3": now},
                                                    page=f"pages/transfers/detail?id={row.id}"), now=now)


def _tell_volunteer(row: Transfer, volunteer: Volunteer, now: datetime) -> None:
    approved = row.status is TransferStatus.APPROVED
    result = STATUS_LABELS[row.status]
    note = (f"已转入{_destination(row)}，转移凭证编号 {row.receipt['number']}" if approved
            else f"原因：{row.decision_reason}")
    notifications.notify(volunteer.account_id, [("t", row.id)], notifications.Message(
        kind=notifications.NotificationKind.TRANSFER_RESULT, template="registration_result",
        title=f"转移申请{result}", text=f"您{KIND_LABELS[row.kind]}至{_destination(row)}的申请{result}。{note}。",
        fields={"thing1": volunteer.real_name, "phrase2": result, "thing3": note, "time4": now},
        page=f"pages/transfers/detail?id={row.id}"), now=now)

