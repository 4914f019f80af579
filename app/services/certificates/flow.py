"""The certificate's life: request → review by the issuer's handler → publicity with objections → issued → revoked.

- A volunteer requests certificates for a period; one is made for each organisation that recorded
  hours in it (谁记录谁证明). A request repeated while one for the same issuer and period is still
  under review or in publicity answers that one again.
- The issuer's handler is an organiser of the organisation. An organisation that is gone (no
  longer approved, or without any organiser) is handled by the admins of its region or a region
  above (the 意见: 由其上级单位出具); the certificate then says so.
- Approval builds the four parts, gives the serial and starts publicity, whose end follows the
  region's rule (`publicity`). Anyone logged in may object during publicity; an upheld objection
  rejects the certificate, a dismissed one lets publicity go on.
- Issue (the job `certificates_issue_due`, or the handler's button) happens once publicity is over
  with no objection open: a conditional UPDATE freezes the snapshot and its SHA-256. The PDF is
  rendered afterwards by a task. An issued certificate never changes; it can only be revoked, with a reason.
Every decision is audited with who and why.
"""

from __future__ import annotations

import logging
import secrets
from datetime import date, datetime

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError

from app.errors import Conflict, DomainError, Forbidden, NotFound
from app.extensions import db
from app.services import access, audit, notifications, regions
from app.services.certificates import content as contents, publicity
from app.services.volunteers import own_volunteer
from app.texts import clause, day_text
from app.timeutil import to_local
from models import (Account, Certificate, CertificateObjection, CertificatePolicy, CertificateStatus,
                    ObjectionStatus, Organization, OrganizationStatus, Region, Role, RoleGrant, Volunteer)
from models.certificates import OPEN_CERTIFICATE_STATUSES

logger = logging.getLogger(__name__)

# Base32 without padding: 16 characters, 80 random bits, easy to read aloud and type.
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
MAX_PERIOD_DAYS = 366 * 20


def certificate_not_found() -> NotFound:
    return NotFound("certificate_not_found", "找不到该志愿服务记录证明")


def new_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(16))


# --- who handles an issuer's certificates -----------------------------------------------------------

def is_dissolved(organization: Organization) -> bool:
    """Whether nobody can act for the organisation any more: no longer approved, or without an organiser."""
    if organization.status is not OrganizationStatus.APPROVED:
        return True
    return not db.session.scalar(select(exists().where(
        RoleGrant.organization_id == organization.id, RoleGrant.role == Role.ORGANIZER)))


def is_handler(account_id: int, organization: Organization) -> bool:
    """Organisers of the issuer; for a dissolved issuer, the admins of its region or one above."""
    if access.is_organizer(account_id, organization.id):
        return True
    return is_dissolved(organization) and access.is_admin_over(account_id, regions.get_region(organization.region_id))


def require_handler(account_id: int, organization: Organization, *, doing: str) -> Organization:
    if not is_handler(account_id, organization):
        raise Forbidden("not_certificate_handler",
                        f"只有出具组织的组织者可以{doing}（组织已注销的，由所在地区或上级地区管理员办理）")
    return organization


def may_read(account_id: int, row: Certificate) -> bool:
    """The holder, and the issuer's overseers (its organisers, admins of its region or above)."""
    holder = db.session.scalar(select(Volunteer.account_id).where(Volunteer.id == row.volunteer_id))
    return holder == account_id or access.oversees(account_id, db.session.get(Organization, row.organization_id))


def get_for(account_id: int, certificate_id: int, *, lock: bool = False) -> Certificate:
    """A certificate the account may read (404 otherwise: its existence is nobody else's business)."""
    query = select(Certificate).where(Certificate.id == certificate_id)
    row = db.session.scalar(query.with_for_update() if lock else query)
    if row is None or not may_read(account_id, row):
        raise certificate_not_found()
    return row


def _for_handler(account_id: int, certificate_id: int, *, doing: str) -> Certificate:
    row = get_for(account_id, certificate_id, lock=True)
    require_handler(account_id, db.session.get(Organization, row.organization_id), doing=doing)
    return row


# --- request --------------------------------------------------------------------------------------

def request(account: Account, start: date, end: date, *, note: str | None, now: datetime) -> list[Certificate]:
    """Certificates for the caller's hours in [start, end], one per organisation that recorded some."""
    volunteer = own_volunteer(account)
    today = to_local(now).date()
    if start > end or end > today or (end - start).days > MAX_PERIOD_DAYS:
        raise DomainError("invalid_certificate_period", "证明期间不正确：开始日期不能晚于结束日期，结束日期不能晚于今天", 422)
    minutes = contents.issuer_minutes(volunteer.id, start, end)
    if not minutes:
        raise DomainError("no_hours_in_period", "该期间没有可证明的志愿服务时长", 422)
    made = []
    for organization_id in sorted(minutes):
        existing = db.session.scalar(select(Certificate).where(
            Certificate.volunteer_id == volunteer.id, Certificate.organization_id == organization_id,
            Certificate.period_start == start, Certificate.period_end == end,
            Certificate.status.in_(OPEN_CERTIFICATE_STATUSES)))
        if existing is not None:
            made.append(existing)
            continue
        row = Certificate(volunteer_id=volunteer.id, organization_id=organization_id, period_start=start,
                          period_end=end, status=CertificateStatus.REQUESTED, note=note or None,
                          verification_code=new_code(), requested_by_account_id=account.id, requested_at=now,
                          created_at=now)
        db.session.add(row)
        db.session.flush()
        made.append(row)
    return made


# --- review ---------------------------------------------------------------------------------------

def review(account_id: int, certificate_id: int, *, approve: bool, reason: str | None, now: datetime) -> Certificate:
    """Approve (build the content, give the serial, start publicity) or reject (with a reason) a request."""
    row = _for_handler(account_id, certificate_id, doing="审核证明申请")
    if row.status is not CertificateStatus.REQUESTED:
        raise Conflict("certificate_not_requested", "该证明已审核过")
    organization = db.session.get(Organization, row.organization_id)
    if not approve:
        if not reason:
            raise DomainError("rejection_reason_required", "驳回时请填写原因", 422)
        row.status, row.rejection_reason = CertificateStatus.REJECTED, reason
        row.reviewed_by_account_id, row.reviewed_at = account_id, now
        audit.record(account_id, "certificate.rejected", "organization", organization.id, now=now,
                     certificate_id=row.id, reason=reason)
        db.session.flush()
        tell_holder(row, now)
        return row
    volunteer = db.session.get(Volunteer, row.volunteer_id)
    region = regions.get_region(organization.region_id)
    issuing_region = _issuing_region(account_id, organization)
    built = contents.build(volunteer, organization, row.period_start, row.period_end, handler_account_id=account_id,
                           issuing_region=issuing_region, note=row.note)
    if built["service"]["minutes"] <= 0:
        raise DomainError("no_hours_in_period", "该期间没有可证明的志愿服务时长", 422)
    _give_serial(row, organization, now)
    policy = publicity.policy_for(region)
    row.content = contents.with_serial(built, row.serial)
    row.status = CertificateStatus.PUBLICITY
    row.reviewed_by_account_id, row.reviewed_at = account_id, now
    row.publicity_ends_at = publicity.ends_at(now, policy)
    audit.record(account_id, "certificate.approved", "organization", organization.id, now=now, certificate_id=row.id,
                 serial=row.serial, publicity_days=policy.publicity_days, working_days=policy.working_days)
    db.session.flush()
    tell_holder(row, now)
    return row


def _issuing_region(account_id: int, organization: Organization) -> Region | None:
    """The region whose admin acts for a dissolved issuer (the admin's own region over it), else None."""
    if access.is_organizer(account_id, organization.id):
        return None
    region = regions.get_region(organization.region_id)
    paths = [path for path in access.admin_region_paths(account_id) if regions.is_within(region, path)]
    deepest = max(paths, key=len)
    return regions.get_region(int(deepest.strip("/").split("/")[-1]))


def _give_serial(row: Certificate, organization: Organization, now: datetime) -> None:
    """ZM{organisation}-{year}-{sequence}: the next number of the issuer's year, unique by constraint."""
    year = to_local(now).year
    for _ in range(10):
        db.session.flush()
        last = db.session.scalar(select(func.max(Certificate.serial_seq)).where(
            Certificate.organization_id == organization.id, Certificate.serial_year == year)) or 0
        try:
            # Two approvals racing for one number: on PostgreSQL the second waits on the unique index
            # until the first commits, fails, and (its savepoint rolled back) reads the new maximum.
            with db.session.begin_nested():
                row.serial_year, row.serial_seq = year, last + 1
                row.serial = f"ZM{organization.id:06d}-{year}-{last + 1:05d}"
                db.session.flush()
            return
        except IntegrityError:
            continue
    raise Conflict("serial_busy", "证明编号分配繁忙，请稍后重试")


# --- objections -----------------------------------------------------------------------------------

def object_to(account_id: int, certificate_id: int, *, reason: str, now: datetime) -> CertificateObjection:
    """Raise an objection to a certificate in publicity (anyone logged in who knows its id)."""
    row = db.session.scalar(select(Certificate).where(Certificate.id == certificate_id))
    # A certificate in publicity is public by design; any other only to those who may read it.
    if row is None or (row.status is not CertificateStatus.PUBLICITY and not may_read(account_id, row)):
        raise certificate_not_found()
    if row.status is not CertificateStatus.PUBLICITY or now >= row.publicity_ends_at:
        raise Conflict("not_in_publicity", "该证明不在公示期内，不能提出异议")
    objection = CertificateObjection(certificate_id=row.id, account_id=account_id, reason=reason,
                                     status=ObjectionStatus.OPEN, created_at=now)
    db.session.add(objection)
    db.session.flush()
    return objection


def decide_objection(account_id: int, certificate_id: int, objection_id: int, *, upheld: bool, note: str,
                     now: datetime) -> CertificateObjection:
    """Uphold (the certificate is rejected) or dismiss (publicity goes on) an open objection."""
    row = _for_handler(account_id, certificate_id, doing="处理异议")
    objection = db.session.scalar(select(CertificateObjection).where(
        CertificateObjection.id == objection_id, CertificateObjection.certificate_id == row.id).with_for_update())
    if objection is None:
        raise NotFound("objection_not_found", "找不到该异议")
    if objection.status is not ObjectionStatus.OPEN:
        raise Conflict("objection_decided", "该异议已处理")
    objection.status = ObjectionStatus.UPHELD if upheld else ObjectionStatus.DISMISSED
    objection.decided_by_account_id, objection.decided_at, objection.decision_note = account_id, now, note
    rejected = upheld and row.status is CertificateStatus.PUBLICITY
    if rejected:
        row.status, row.rejection_reason = CertificateStatus.REJECTED, f"公示期异议成立：{note}"
    audit.record(account_id, "certificate.objection_" + objection.status.value, "organization", row.organization_id,
                 now=now, certificate_id=row.id, objection_id=objection.id, note=note)
    db.session.flush()
    if rejected:
        tell_holder(row, now)
    return objection


def objections_of(row: Certificate) -> list[CertificateObjection]:
    return list(db.session.scalars(select(CertificateObjection).where(CertificateObjection.certificate_id == row.id)
                                   .order_by(CertificateObjection.id)))


# --- issue and revoke -----------------------------------------------------------------------------

def _open_objection(certificate_id: int):
    return exists().where(CertificateObjection.certificate_id == certificate_id,
                          CertificateObjection.status == ObjectionStatus.OPEN)


def issue(certificate_id: int, *, now: datetime, account_id: int | None = None) -> bool:
    """Freeze and issue a certificate whose publicity is over with no objection open; whether this call issued it.

    The conditional UPDATE is the guarantee: the job and the handler's button racing issue it once,
    and the snapshot is written only from the publicised content.
    """
    row = db.session.get(Certificate, certificate_id)
    if row is None or row.status is not CertificateStatus.PUBLICITY:
        return False
    if now < row.publicity_ends_at or db.session.scalar(select(_open_objection(row.id))):
        return False
    snapshot = contents.frozen(row.content, issue_day=to_local(now).date())
    issued_by = account_id if account_id is not None else row.reviewed_by_account_id
    done = db.session.execute(
        update(Certificate).where(Certificate.id == row.id, Certificate.status == CertificateStatus.PUBLICITY,
                                  ~_open_objection(row.id))
        .values(status=CertificateStatus.ISSUED, snapshot=snapshot, snapshot_sha256=contents.snapshot_hash(snapshot),
                issued_at=now, issued_by_account_id=issued_by)
        .execution_options(synchronize_session=False)).rowcount == 1
    db.session.expire(row)
    if done:
        audit.record(account_id, "certificate.issued", "organization", row.organization_id, now=now,
                     certificate_id=row.id, serial=row.serial)
        tell_holder(row, now)
    return done


def issue_by_handler(account_id: int, certificate_id: int, *, now: datetime) -> Certificate:
    """The handler's button: issue now if publicity is over and no objection is open (409 otherwise)."""
    row = _for_handler(account_id, certificate_id, doing="出具证明")
    if row.status is CertificateStatus.ISSUED:
        return row
    if row.status is not CertificateStatus.PUBLICITY:
        raise Conflict("not_in_publicity", "该证明不在公示期内")
    if now < row.publicity_ends_at:
        raise Conflict("publicity_not_over", "公示期尚未结束")
    if not issue(row.id, now=now, account_id=account_id):
        raise Conflict("objections_open", "还有未处理的异议")
    return db.session.get(Certificate, row.id)


def due_for_issue(now: datetime) -> list[int]:
    """Certificates whose publicity is over with no objection open."""
    return list(db.session.scalars(select(Certificate.id).where(
        Certificate.status == CertificateStatus.PUBLICITY, Certificate.publicity_ends_at <= now,
        ~_open_objection(Certificate.id)).order_by(Certificate.id)))


def revoke(account_id: int, certificate_id: int, *, reason: str, now: datetime) -> Certificate:
    """Revoke an issued certificate; the verification page then answers 410 with the reason and date."""
    row = _for_handler(account_id, certificate_id, doing="撤销证明")
    if row.status is not CertificateStatus.ISSUED:
        raise Conflict("certificate_not_issued", "只有已出具的证明可以撤销")
    row.status, row.revocation_reason = CertificateStatus.REVOKED, reason
    row.revoked_by_account_id, row.revoked_at = account_id, now
    audit.record(account_id, "certificate.revoked", "organization", row.organization_id, now=now,
                 certificate_id=row.id, serial=row.serial, reason=reason)
    db.session.flush()
    tell_holder(row, now)
    return row


# --- telling the holder ---------------------------------------------------------------------------

_PROGRESS_RESULTS = {CertificateStatus.PUBLICITY: "公示中", CertificateStatus.ISSUED: "已出具",
                     CertificateStatus.REJECTED: "未通过", CertificateStatus.REVOKED: "已撤销"}


def tell_holder(row: Certificate, now: datetime) -> None:
    """The volunteer hears of each step of their certificate: publicity, issue (with its link), refusal, revocation.

    Keyed by certificate and step, so a step told twice (the job and the handler's button) is one notice.
    """
    from app.services.certificates import verification

    result = _PROGRESS_RESULTS[row.status]
    organization = db.session.get(Organization, row.organization_id)
    what = (f"您申请的{day_text(row.period_start, with_year=True)}至{day_text(row.period_end, with_year=True)}"
            f"志愿服务记录证明（{organization.name}）")
    if row.status is CertificateStatus.PUBLICITY:
        note = f"公示至{day_text(row.publicity_ends_at)}"
        text = f"{what}已通过审核，正在公示，{note}。公示期满无异议即正式出具。"
    elif row.status is CertificateStatus.ISSUED:
        note = "可在小程序中查看和下载"
        text = (f"{what}已出具，证明编号 {row.serial}。可在小程序「我的证明」中查看和下载，"
                f"他人可通过以下链接核验：{verification.link(row.serial, row.verification_code)}")
    elif row.status is CertificateStatus.REJECTED:
        note = clause(row.rejection_reason) or "未通过审核"
        text = f"{what}未通过。原因：{note}。如有疑问，可联系出具组织。"
    else:
        note = clause(row.revocation_reason) or "已撤销"
        text = f"您的志愿服务记录证明（编号 {row.serial}）已被{organization.name}撤销。原因：{note}。该证明此后核验时将显示为已撤销。"
    account_id = db.session.scalar(select(Volunteer.account_id).where(Volunteer.id == row.volunteer_id))
    notifications.notify(account_id, [("c", row.id), row.status.value], notifications.Message(
        kind=notifications.NotificationKind.CERTIFICATE_PROGRESS, template="registration_result",
        title=f"志愿服务记录证明{result}", text=text,
        fields={"thing1": "志愿服务记录证明", "phrase2": result, "thing3": note, "time4": now},
        page=f"pages/certificates/detail?id={row.id}"), now=now)


# --- lists ----------------------------------------------------------------------------------------

def mine(account: Account) -> list[Certificate]:
    volunteer = own_volunteer(account)
    return list(db.session.scalars(select(Certificate).where(Certificate.volunteer_id == volunteer.id)
                                   .order_by(Certificate.id.desc())))


def of_organization(account_id: int, organization_id: int, *, status: CertificateStatus | None) -> list[Certificate]:
    organization = access.organization(organization_id)
    access.require_overseer(account_id, organization, doing="查看本组织的证明")
    query = select(Certificate).where(Certificate.organization_id == organization.id)
    if status is not None:
        query = query.where(Certificate.status == status)
    return list(db.session.scalars(query.order_by(Certificate.id.desc()).limit(500)))


# --- the region's publicity rule ------------------------------------------------------------------

def set_policy(account_id: int, region_id: int, *, publicity_days: int, working_days: bool,
               now: datetime) -> CertificatePolicy:
    region = regions.get_region(region_id)
    access.require_admin_over(account_id, region, doing="设置证明公示规则")
    row = db.session.scalar(select(CertificatePolicy).where(CertificatePolicy.region_id == region.id))
    if row is None:
        row = CertificatePolicy(region_id=region.id)
        db.session.add(row)
    row.publicity_days, row.working_days = publicity_days, working_days
    row.updated_by_account_id, row.updated_at = account_id, now
    audit.record(account_id, "certificate.policy_set", "region", region.id, now=now, region_path=region.path,
                 publicity_days=publicity_days, working_days=working_days)
    db.session.flush()
    return row
