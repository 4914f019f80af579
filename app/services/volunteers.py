"""Volunteer registration, self-service changes, and review by organisers and admins."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app import pii
from app.errors import Conflict, DomainError, Forbidden, NotFound
from app.extensions import db
from app.resident_id import age_on, parse_resident_id
from app.services import access, audit, notifications, regions, volunteer_numbers
from app.timeutil import to_local
from models import Account, Gender, Volunteer, VolunteerStatus

ADULT_AGE = 18


class Category(enum.StrEnum):
    """Volunteer categories of the archive (志愿者类别)."""

    PARTY_MEMBER = "party_member"  # 党员
    YOUTH = "youth"                # 青年
    WOMEN = "women"                # 巾帼
    WORKER = "worker"              # 职工
    COMMUNITY = "community"        # 社区
    STUDENT = "student"            # 学生
    RETIREE = "retiree"            # 退休
    PROFESSIONAL = "professional"  # 专业人士
    OTHER = "other"                # 其他


CATEGORY_LABELS = {
    Category.PARTY_MEMBER: "党员", Category.YOUTH: "青年", Category.WOMEN: "巾帼", Category.WORKER: "职工",
    Category.COMMUNITY: "社区", Category.STUDENT: "学生", Category.RETIREE: "退休", Category.PROFESSIONAL: "专业人士",
    Category.OTHER: "其他",
}

# What a volunteer may change about themselves; identity (name, ID number) needs a new review.
SELF_EDITABLE = frozenset({"mobile", "categories", "skills", "region_id", "guardian_name", "guardian_mobile"})


@dataclass(frozen=True)
class Registration:
    real_name: str
    mobile: str
    region_id: int
    id_number: str | None = None
    birth_date: date | None = None
    categories: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    guardian_name: str | None = None
    guardian_mobile: str | None = None


def register(account: Account, form: Registration, *, now: datetime, pii_key: str) -> Volunteer:
    """Create the caller's archive in state pending; a rejected archive may be submitted again."""
    existing = db.session.scalar(select(Volunteer).where(Volunteer.account_id == account.id))
    if existing is not None and existing.status is not VolunteerStatus.REJECTED:
        raise Conflict("already_registered", "您已提交过注册，请勿重复提交")
    regions.require_community(form.region_id)
    today = to_local(now).date()
    birth_date, gender, id_fields = _identity(form, today, pii_key)
    _require_guardian_if_minor(birth_date, today, form.guardian_name, form.guardian_mobile)

    volunteer = existing or Volunteer(account_id=account.id, created_at=now)
    volunteer.real_name = form.real_name
    volunteer.mobile = form.mobile
    volunteer.birth_date = birth_date
    volunteer.gender = gender
    volunteer.id_number_encrypted, volunteer.id_number_digest = id_fields
    volunteer.categories = list(dict.fromkeys(form.categories))
    volunteer.skills = list(dict.fromkeys(form.skills))
    volunteer.region_id = form.region_id
    volunteer.guardian_name = form.guardian_name
    volunteer.guardian_mobile = form.guardian_mobile
    volunteer.status = VolunteerStatus.PENDING
    volunteer.rejection_reason = None
    volunteer.reviewed_at = None
    volunteer.reviewed_by_account_id = None
    volunteer.updated_at = now
    try:
        with db.session.begin_nested():
            db.session.add(volunteer)
    except IntegrityError:
        # Two unique keys can clash: the account (a double submit) and the ID number's digest.
        if db.session.scalar(select(Volunteer.id).where(Volunteer.account_id == account.id)):
            raise Conflict("already_registered", "您已提交过注册，请勿重复提交") from None
        raise Conflict("id_number_taken", "该身份证号已被注册，如有疑问请联系所在社区") from None
    audit.record(account.id, "volunteer.registered", "volunteer", volunteer.id, now=now)
    return volunteer


def own_volunteer(account: Account) -> Volunteer:
    """Return the caller's archive or raise not_registered."""
    volunteer = db.session.scalar(select(Volunteer).where(Volunteer.account_id == account.id))
    if volunteer is None:
        raise NotFound("not_registered", "您还没有注册为志愿者")
    return volunteer


def own_archive(account: Account, *, lock: bool = False, approved_for: str | None = None) -> Volunteer:
    """The caller's own archive (403 not_approved_volunteer without one); approved, if `approved_for` says for what.

    `lock` takes the row (PostgreSQL), so one person's concurrent requests run one after another.
    """
    query = select(Volunteer).where(Volunteer.account_id == account.id)
    volunteer = db.session.scalar(query.with_for_update() if lock else query)
    if volunteer is None:
        raise Forbidden("not_approved_volunteer", "请先注册成为志愿者")
    if approved_for and volunteer.status is not VolunteerStatus.APPROVED:
        raise Forbidden("not_approved_volunteer", f"志愿者注册通过审核后才能{approved_for}")
    return volunteer


def update_own(account: Account, changes: Mapping[str, Any], *, now: datetime) -> Volunteer:
    """Apply the fields a volunteer may change about themselves; anything else is refused."""
    refused = sorted(set(changes) - SELF_EDITABLE)
    if refused:
        raise DomainError("field_not_editable", "这些信息不能自行修改，如需更正请联系审核人员", 422,
                          fields={name: "不可自行修改" for name in refused})
    volunteer = own_volunteer(account)
    if "region_id" in changes:
        regions.require_community(changes["region_id"])
    guardian_name = changes.get("guardian_name", volunteer.guardian_name)
    guardian_mobile = changes.get("guardian_mobile", volunteer.guardian_mobile)
    if volunteer.birth_date:
        _require_guardian_if_minor(volunteer.birth_date, to_local(now).date(), guardian_name, guardian_mobile)
    for name, value in changes.items():
        if name in ("categories", "skills"):
            value = list(dict.fromkeys(value))
        setattr(volunteer, name, value)
    volunteer.updated_at = now
    db.session.flush()
    audit.record(account.id, "volunteer.updated", "volunteer", volunteer.id, now=now, fields=sorted(changes))
    return volunteer


def review(reviewer: Account, volunteer_id: int, *, approve: bool, reason: str | None, now: datetime) -> Volunteer:
    """Approve or reject a pending registration in the reviewer's scope and notify the volunteer."""
    paths = access.require_reviewer(reviewer.id)
    volunteer = db.session.get(Volunteer, volunteer_id)
    if volunteer is None:
        raise NotFound("volunteer_not_found", "找不到该志愿者")
    if not any(regions.is_within(volunteer.region, path) for path in paths):
        raise Forbidden("out_of_scope", "该志愿者不在您管理的地区范围内")
    if not approve and not (reason and reason.strip()):
        raise DomainError("reason_required", "驳回注册时请填写原因，方便志愿者修改后重新提交", 422,
                          fields={"reason": "必填"})
    new_status = VolunteerStatus.APPROVED if approve else VolunteerStatus.REJECTED
    # Conditional update: of two reviewers deciding at once, exactly one decision lands.
    changed = db.session.execute(
        update(Volunteer).where(Volunteer.id == volunteer_id, Volunteer.status == VolunteerStatus.PENDING).values(
            status=new_status, rejection_reason=None if approve else reason.strip(),
            reviewed_by_account_id=reviewer.id, reviewed_at=now, updated_at=now,
        ).execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        raise Conflict("not_pending", "该注册已审核，无需重复操作")
    db.session.refresh(volunteer)
    if approve:
        # In the approval's transaction: a rolled-back approval gives its number back.
        volunteer_numbers.assign_number(volunteer)
    audit.record(reviewer.id, "volunteer.approved" if approve else "volunteer.rejected", "volunteer", volunteer.id,
                 now=now, reason=volunteer.rejection_reason)
    _notify_decision(volunteer, now=now)
    return volunteer


def suspend(account: Account, volunteer_id: int, *, reason: str, now: datetime) -> tuple[Volunteer, int]:
    """Suspend an approved volunteer in the caller's regions (no sign-ups, no check-ins); audited, they are told.

    Their sign-ups for activities not yet started are cancelled (seats go to the waitlist, as on a
    cancel), so a suspended volunteer holds no seat; the answer says how many.
    """
    return _move_status(account, volunteer_id, VolunteerStatus.APPROVED, VolunteerStatus.SUSPENDED, reason=reason,
                        now=now, refusal=Conflict("not_suspendable", "只有已通过审核的志愿者可以暂停"))


def reinstate(account: Account, volunteer_id: int, *, reason: str, now: datetime) -> Volunteer:
    """Lift a suspension: the volunteer is approved again (cancelled sign-ups stay cancelled); audited, they are told."""
    volunteer, _ = _move_status(account, volunteer_id, VolunteerStatus.SUSPENDED, VolunteerStatus.APPROVED,
                                reason=reason, now=now, refusal=Conflict("not_suspended", "该志愿者未被暂停"))
    return volunteer


def _move_status(account: Account, volunteer_id: int, was: VolunteerStatus, to: VolunteerStatus, *, reason: str,
                 now: datetime, refusal: Conflict) -> tuple[Volunteer, int]:
    from app.services import directory, signups

    volunteer = directory.in_scope(account.id, volunteer_id)
    reason = reason.strip()
    if not reason:
        raise DomainError("reason_required", "请填写原因", 422, fields={"reason": "必填"})
    suspending = to is VolunteerStatus.SUSPENDED
    # Conditional update: of two decisions at once, exactly one lands.
    changed = db.session.execute(
        update(Volunteer).where(Volunteer.id == volunteer.id, Volunteer.status == was).values(
            status=to, suspension_reason=reason if suspending else None, suspended_at=now if suspending else None,
            updated_at=now,
        ).execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        raise refusal
    db.session.refresh(volunteer)
    # A suspended volunteer may not come: their seats go to the waitlists now, not at the door.
    cancelled = signups.withdraw_all(volunteer.id, now=now) if suspending else 0
    if suspending:
        audit.record(account.id, "volunteer.suspended", "volunteer", volunteer.id, now=now, reason=reason,
                     signups_cancelled=cancelled)
    else:
        audit.record(account.id, "volunteer.reinstated", "volunteer", volunteer.id, now=now, reason=reason)
    result = "已暂停" if suspending else "已恢复"
    text = (f"{volunteer.real_name}，您的志愿者资格{result}。原因：{reason}。"
            + (f"已为您取消 {cancelled} 个尚未开始的活动报名。" if cancelled else "")
            + ("暂停期间不能报名和签到，如有疑问请联系所在社区。" if suspending else "现在可以继续报名参加活动。"))
    notifications.notify(volunteer.account_id, (("v", volunteer.id), to.value, int(now.timestamp())),
                         notifications.Message(
                             kind=notifications.NotificationKind.ACCOUNT_STATUS, template="registration_result",
                             title="志愿者资格" + result, text=text,
                             fields={"thing1": volunteer.real_name, "phrase2": result, "thing3": reason, "time4": now},
                             page="pages/me/index"), now=now)
    return volunteer, cancelled


def reveal_mobile(account: Account, volunteer_id: int, *, reason: str, now: datetime) -> str:
    """The full mobile number, for an organiser or admin over the volunteer who states why; every read audited."""
    from app.services import directory

    volunteer = directory.in_scope(account.id, volunteer_id)
    reason = reason.strip()
    if not reason:
        raise DomainError("reason_required", "请填写查看完整手机号的原因", 422, fields={"reason": "必填"})
    if not volunteer.mobile:
        raise NotFound("volunteer_not_found", "找不到该志愿者")
    # The audit row says who read whose number and why, never the number itself.
    audit.record(account.id, "volunteer.mobile_revealed", "volunteer", volunteer.id, now=now, reason=reason)
    return volunteer.mobile


def erase(volunteer: Volunteer, *, now: datetime) -> None:
    """Anonymise the archive for good (account deletion); what statistics count stays.

    Erased: name (→ 已注销志愿者), mobile, ID number and its digest (so the number may register
    again), birth date, guardian, skills, rejection reason, check-in secret. Kept: gender,
    categories, community and the service totals, none of which names a person.
    """
    volunteer.real_name = pii.ERASED_NAME
    volunteer.mobile = None
    volunteer.id_number_encrypted = None
    volunteer.id_number_digest = None
    volunteer.birth_date = None
    volunteer.guardian_name = None
    volunteer.guardian_mobile = None
    volunteer.skills = []
    volunteer.rejection_reason = None
    volunteer.checkin_secret = None
    volunteer.status = VolunteerStatus.DELETED
    volunteer.updated_at = now
    db.session.flush()


def decrypted_id_number(volunteer: Volunteer, pii_key: str) -> str | None:
    """Return the volunteer's ID number in clear, for the volunteer's own view only."""
    if volunteer.id_number_encrypted is None:
        return None
    return pii.decrypt(volunteer.id_number_encrypted, pii_key)


def _notify_decision(volunteer: Volunteer, *, now: datetime) -> None:
    approved = volunteer.status is VolunteerStatus.APPROVED
    reason = "欢迎加入志愿服务队伍" if approved else (volunteer.rejection_reason or "")
    text = (f"{volunteer.real_name}，您的志愿者注册{'已通过审核' if approved else '未通过审核'}。"
            + (f"您的志愿者编号为 {volunteer.volunteer_number}。" if approved and volunteer.volunteer_number
               else "" if approved else f"原因：{reason}。请修改后重新提交。"))
    notifications.notify(volunteer.account_id, f"v{volunteer.id}:{int(now.timestamp())}", notifications.Message(
        kind="registration_result", template="registration_result",
        title="注册审核" + ("已通过" if approved else "未通过"), text=text,
        fields={"thing1": volunteer.real_name, "phrase2": "已通过" if approved else "未通过", "thing3": reason,
                "time4": now},
        page="pages/me/index",
    ), now=now)


def _identity(form: Registration, today: date, pii_key: str) -> tuple[date, Gender | None, tuple[bytes | None, str | None]]:
    if form.id_number:
        try:
            resident = parse_resident_id(form.id_number, today=today)
        except ValueError as exc:
            raise DomainError("invalid_id_number", str(exc), 422, fields={"id_number": str(exc)}) from None
        if form.birth_date and form.birth_date != resident.birth_date:
            raise DomainError("birth_date_mismatch", "出生日期与身份证号不一致", 422, fields={"birth_date": "与身份证号不一致"})
        gender = Gender.MALE if resident.is_male else Gender.FEMALE
        encrypted = (pii.encrypt(resident.number, pii_key), pii.digest(resident.number, pii_key))
        return resident.birth_date, gender, encrypted
    if form.birth_date is None:
        raise DomainError("birth_date_required", "请填写身份证号或出生日期", 422, fields={"birth_date": "必填"})
    if form.birth_date > today:
        raise DomainError("invalid_birth_date", "出生日期不能晚于今天", 422, fields={"birth_date": "无效"})
    return form.birth_date, None, (None, None)


def _require_guardian_if_minor(birth_date: date, today: date, guardian_name: str | None, guardian_mobile: str | None) -> None:
    if age_on(birth_date, today) >= ADULT_AGE:
        return
    missing = {name: "未满18周岁需填写" for name, value in
               (("guardian_name", guardian_name), ("guardian_mobile", guardian_mobile)) if not value}
    if missing:
        raise DomainError("guardian_required", "未满18周岁的志愿者需填写监护人姓名和手机号", 422, fields=missing)
