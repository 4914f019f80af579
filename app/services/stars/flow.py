"""A star's life: opened (by the daily job or the volunteer) → review by the approving level → publicity
with objections → awarded → revocable with a reason. Every decision is audited with who and why.

- One open application per volunteer and level (a partial unique index); opening again answers the
  open one. An application is opened for the highest star the volunteer qualifies for, above the one
  held. It keeps the rules in force when it was opened and the region whose admins approve it: the
  home region's ancestor at the rule's level for that star (default 1–2★ street, 3–4★ district, 5★ city).
- Review needs an admin of that region or above (a street's admin cannot approve a 3★).
  Approval starts publicity, counted as the region's rules say with the certificates' calendar
  (`app.services.certificates.publicity`: China's holidays and make-up working days).
- Anyone logged in may object during publicity; an upheld objection rejects the application, a
  dismissed one lets publicity go on. Award (the job `stars_award_due`) is one conditional UPDATE once
  publicity is over with no objection open, so a double fire awards once.
- The volunteer hears of an award, a refusal (at review or by an upheld objection) and a revocation.
  The admins of the approving region (else of the nearest region above it with admins) hear of a new
  application, however it was opened; `pending_review_count` is what waits for one admin (the console's badge).
- The current star is the highest awarded and not revoked; the applications are the history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app import pii
from app.errors import Conflict, DomainError, Forbidden, NotFound
from app.extensions import db
from app.services import access, audit, notifications, regions
from app.services.certificates import publicity
from app.services.stars import hours, rules as star_rules
from app.services.volunteers import own_archive
from app.texts import day_text
from models import (Account, Region, RegionLevel, StarApplication, StarObjection, StarObjectionStatus, StarOrigin,
                    StarStatus, Volunteer)
from models.regions import LEVEL_ORDER
from models.stars import OPEN_STAR_STATUSES

LEVEL_LABELS = {RegionLevel.CITY.value: "市", RegionLevel.DISTRICT.value: "区县", RegionLevel.STREET.value: "镇街"}
STATUS_LABELS = {StarStatus.PENDING: "待审核", StarStatus.PUBLICITY: "公示中", StarStatus.AWARDED: "已评定",
                 StarStatus.REJECTED: "未通过", StarStatus.REVOKED: "已撤销"}
# The title of the volunteer's notice for each outcome.
RESULT_TITLES = {StarStatus.AWARDED: "星级评定通过", StarStatus.REJECTED: "星级评定未通过",
                 StarStatus.REVOKED: "星级称号已撤销"}


def application_not_found() -> NotFound:
    return NotFound("star_application_not_found", "找不到该星级申请")


def stars_text(level: int) -> str:
    return f"{level}星级志愿者"


# --- reading ----------------------------------------------------------------------------------------

def current_level(volunteer_id: int) -> int:
    """The volunteer's star: the highest awarded and not revoked (0 for none)."""
    return db.session.scalar(select(func.coalesce(func.max(StarApplication.level), 0)).where(
        StarApplication.volunteer_id == volunteer_id, StarApplication.status == StarStatus.AWARDED)) or 0


def approval_region(home: Region, level: int, rules: star_rules.Rules) -> Region:
    """The region whose admins approve `level` for a volunteer of `home`: its ancestor at the rule's level.

    Where the tree has no region at that level on the way up, the nearest region above it does.
    """
    wanted = LEVEL_ORDER.index(RegionLevel(rules.approval_levels[level - 1]))
    lineage = [regions.get_region(region_id) for region_id in regions.lineage_ids(home)]
    fitting = [region for region in lineage if LEVEL_ORDER.index(region.level) <= wanted]
    return fitting[-1] if fitting else lineage[0]


def may_review(account_id: int, row: StarApplication) -> bool:
    return access.is_admin_over(account_id, regions.get_region(row.approval_region_id))


def may_read(account_id: int, row: StarApplication) -> bool:
    volunteer = db.session.get(Volunteer, row.volunteer_id)
    return (volunteer.account_id == account_id
            or access.is_admin_over(account_id, regions.get_region(volunteer.region_id)))


def get_for(account_id: int, application_id: int, *, lock: bool = False) -> StarApplication:
    query = select(StarApplication).where(StarApplication.id == application_id)
    row = db.session.scalar(query.with_for_update() if lock else query)
    if row is None or not may_read(account_id, row):
        raise application_not_found()
    return row


def _for_reviewer(account_id: int, application_id: int, *, doing: str) -> StarApplication:
    row = get_for(account_id, application_id, lock=True)
    if not may_review(account_id, row):
        level = LEVEL_LABELS.get(row.rules["approval_levels"][row.level - 1], "上级")
        raise Forbidden("not_star_approver", f"{row.level}星由{level}级（或上级）管理员{doing}")
    return row


# --- opening --------------------------------------------------------------------------------------

def open_application(volunteer: Volunteer, level: int, *, origin: StarOrigin, now: datetime,
                     account_id: int | None = None, minutes: int | None = None,
                     rules: star_rules.Rules | None = None) -> tuple[StarApplication, bool]:
    """Open (or answer the open) application of the volunteer for `level`; whether this call opened it.

    The caller has checked that the volunteer qualifies; the partial unique index settles a race.
    """
    existing = _open_for(volunteer.id, level)
    if existing is not None:
        return existing, False
    home = regions.get_region(volunteer.region_id)
    rules = rules or star_rules.in_force(home)
    if minutes is None:
        minutes = hours.qualifying_minutes(volunteer, rules)
    row = StarApplication(volunteer_id=volunteer.id, level=level, status=StarStatus.PENDING, origin=origin,
                          approval_region_id=approval_region(home, level, rules).id, qualifying_minutes=minutes,
                          months_registered=hours.months_registered(volunteer, now),
                          rules={**rules.values(), "origins": rules.origins}, opened_by_account_id=account_id,
                          opened_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        existing = _open_for(volunteer.id, level)
        if existing is None:
            raise
        return existing, False
    audit.record(account_id, "star.application_opened", "volunteer", volunteer.id, now=now,
                 star_application_id=row.id, level=level, origin=origin.value, minutes=minutes)
    _tell_reviewers(row, volunteer, now)
    return row, True


def _open_for(volunteer_id: int, level: int) -> StarApplication | None:
    return db.session.scalar(select(StarApplication).where(
        StarApplication.volunteer_id == volunteer_id, StarApplication.level == level,
        StarApplication.status.in_(OPEN_STAR_STATUSES)))


def apply(account: Account, level: int, *, now: datetime) -> tuple[StarApplication, bool]:
    """The volunteer applies for a star they qualify for, above the one they hold."""
    volunteer = own_archive(account, lock=True, approved_for="申请星级")
    existing = _open_for(volunteer.id, level)
    if existing is not None:
        return existing, False
    held = current_level(volunteer.id)
    if level <= held:
        raise Conflict("star_already_held", f"您已是{stars_text(held)}")
    rules = star_rules.in_force(regions.get_region(volunteer.region_id))
    minutes = hours.qualifying_minutes(volunteer, rules)
    months = hours.months_registered(volunteer, now)
    if hours.qualified_level(minutes, months, rules) < level:
        needed = rules.thresholds_hours[level - 1]
        raise DomainError("star_not_qualified",
                          f"申请{level}星需累计服务{needed}小时、注册满{rules.min_months}个月；"
                          f"您目前计入{minutes // 60}小时、注册{months}个月", 422)
    return open_application(volunteer, level, origin=StarOrigin.VOLUNTEER, now=now, account_id=account.id,
                            minutes=minutes, rules=rules)


# --- review and publicity ----------------------------------------------------------------------------

def _publicity_policy(row: StarApplication) -> publicity.Policy:
    snapshot = row.rules
    return publicity.Policy(snapshot["publicity_days"], snapshot["publicity_working_days"],
                            snapshot.get("origins", {}).get("publicity_days"))


def review(account_id: int, application_id: int, *, approve: bool, reason: str | None,
           now: datetime) -> StarApplication:
    """Approve (publicity starts) or reject (with a reason) a pending application."""
    row = _for_reviewer(account_id, application_id, doing="审核")
    if row.status is not StarStatus.PENDING:
        raise Conflict("star_application_not_pending", "该星级申请已审核过")
    if not approve and not reason:
        raise DomainError("rejection_reason_required", "驳回时请填写原因", 422)
    row.reviewed_by_account_id, row.reviewed_at = account_id, now
    if not approve:
        row.status, row.rejection_reason = StarStatus.REJECTED, reason
        audit.record(account_id, "star.rejected", "volunteer", row.volunteer_id, now=now,
                     star_application_id=row.id, level=row.level, reason=reason)
        _tell_volunteer(row, now)
    else:
        policy = _publicity_policy(row)
        row.status, row.publicity_ends_at = StarStatus.PUBLICITY, publicity.ends_at(now, policy)
        audit.record(account_id, "star.approved", "volunteer", row.volunteer_id, now=now, star_application_id=row.id,
                     level=row.level, publicity_days=policy.publicity_days, working_days=policy.working_days)
    db.session.flush()
    return row


def object_to(account_id: int, application_id: int, *, reason: str, now: datetime) -> StarObjection:
    """Raise an objection during publicity (anyone logged in: publicity is public by design)."""
    row = db.session.get(StarApplication, application_id)
    if row is None or (row.status is not StarStatus.PUBLICITY and not may_read(account_id, row)):
        raise application_not_found()
    if row.status is not StarStatus.PUBLICITY or now >= row.publicity_ends_at:
        raise Conflict("star_not_in_publicity", "该星级申请不在公示期内，不能提出异议")
    objection = StarObjection(application_id=row.id, account_id=account_id, reason=reason,
                              status=StarObjectionStatus.OPEN, created_at=now)
    db.session.add(objection)
    db.session.flush()
    return objection


def decide_objection(account_id: int, application_id: int, objection_id: int, *, upheld: bool, note: str,
                     now: datetime) -> StarObjection:
    """Uphold (the application is rejected, the volunteer told) or dismiss (publicity goes on) an open objection."""
    row = _for_reviewer(account_id, application_id, doing="处理异议")
    objection = db.session.scalar(select(StarObjection).where(
        StarObjection.id == objection_id, StarObjection.application_id == row.id).with_for_update())
    if objection is None:
        raise NotFound("objection_not_found", "找不到该异议")
    if objection.status is not StarObjectionStatus.OPEN:
        raise Conflict("objection_decided", "该异议已处理")
    objection.status = StarObjectionStatus.UPHELD if upheld else StarObjectionStatus.DISMISSED
    objection.decided_by_account_id, objection.decided_at, objection.decision_note = account_id, now, note
    if upheld and row.status is StarStatus.PUBLICITY:
        row.status, row.rejection_reason = StarStatus.REJECTED, f"公示期异议成立：{note}"
        _tell_volunteer(row, now)
    audit.record(account_id, "star.objection_" + objection.status.value, "volunteer", row.volunteer_id, now=now,
                 star_application_id=row.id, objection_id=objection.id, note=note)
    db.session.flush()
    return objection


def objections_of(row: StarApplication) -> list[StarObjection]:
    return list(db.session.scalars(select(StarObjection).where(StarObjection.application_id == row.id)
                                   .order_by(StarObjection.id)))


def open_objection_counts(application_ids: list[int]) -> dict[int, int]:
    """application id → objections still open, for a page of applications in one query."""
    if not application_ids:
        return {}
    return dict(db.session.execute(select(StarObjection.application_id, func.count()).where(
        StarObjection.application_id.in_(application_ids), StarObjection.status == StarObjectionStatus.OPEN)
        .group_by(StarObjection.application_id)).all())


def _open_objection(application_id: Any):
    return exists().where(StarObjection.application_id == application_id,
                          StarObjection.status == StarObjectionStatus.OPEN)


# --- award and revoke -------------------------------------------------------------------------------

def award(application_id: int, *, now: datetime) -> bool:
    """Award a star whose publicity is over with no objection open; whether this call awarded it."""
    done = db.session.execute(
        update(StarApplication).where(StarApplication.id == application_id,
                                      StarApplication.status == StarStatus.PUBLICITY,
                                      StarApplication.publicity_ends_at <= now, ~_open_objection(application_id))
        .values(status=StarStatus.AWARDED, awarded_at=now)
        .execution_options(synchronize_session=False)).rowcount == 1
    if done:
        row = db.session.get(StarApplication, application_id)
        db.session.refresh(row)
        audit.record(None, "star.awarded", "volunteer", row.volunteer_id, now=now, star_application_id=row.id,
                     level=row.level)
        _tell_volunteer(row, now)
    return done


def due_for_award(now: datetime) -> list[int]:
    return list(db.session.scalars(select(StarApplication.id).where(
        StarApplication.status == StarStatus.PUBLICITY, StarApplication.publicity_ends_at <= now,
        ~_open_objection(StarApplication.id)).order_by(StarApplication.id)))


def revoke(account_id: int, application_id: int, *, reason: str, now: datetime) -> StarApplication:
    """Revoke an awarded star with a reason (an admin of the approving level); the volunteer is told."""
    row = _for_reviewer(account_id, application_id, doing="撤销")
    if row.status is not StarStatus.AWARDED:
        raise Conflict("star_not_awarded", "只有已评定的星级可以撤销")
    row.status, row.revocation_reason = StarStatus.REVOKED, reason
    row.revoked_by_account_id, row.revoked_at = account_id, now
    audit.record(account_id, "star.revoked", "volunteer", row.volunteer_id, now=now, star_application_id=row.id,
                 level=row.level, reason=reason)
    _tell_volunteer(row, now)
    db.session.flush()
    return row


def _tell_volunteer(row: StarApplication, now: datetime) -> None:
    volunteer = db.session.get(Volunteer, row.volunteer_id)
    result = STATUS_LABELS[row.status]
    if row.status is StarStatus.AWARDED:
        note = f"{day_text(now, with_year=True)}起为{stars_text(row.level)}"
        text = f"恭喜！您已评定为{stars_text(row.level)}。感谢您的志愿服务。"
    elif row.status is StarStatus.REJECTED:
        note = f"原因：{row.rejection_reason}"
        text = f"您的{row.level}星级评定申请未通过。{note}。"
    else:
        note = f"原因：{row.revocation_reason}"
        text = f"您的{stars_text(row.level)}称号已撤销。{note}。"
    notifications.notify(volunteer.account_id, [("s", row.id), row.status.value], notifications.Message(
        kind=notifications.NotificationKind.STAR_RESULT, template="registration_result",
        title=RESULT_TITLES[row.status], text=text,
        fields={"thing1": volunteer.real_name, "phrase2": result, "thing3": note, "time4": now},
        page="pages/stars/index"), now=now)


def _tell_reviewers(row: StarApplication, volunteer: Volunteer, now: datetime) -> None:
    """The admins who approve this star learn that an application waits for them (one row each, keyed by both)."""
    place = regions.get_region(row.approval_region_id).name
    name = pii.mask_name(volunteer.real_name) or "志愿者"
    title = f"{stars_text(row.level)}评定待审核"
    text = (f"{name}的{stars_text(row.level)}评定申请（计入服务{row.qualifying_minutes // 60}小时）待{place}审核。"
            "请在管理后台“星级评定”中处理。")
    notifications.notify_many(
        [(account_id, [("s", row.id), ("a", account_id)])
         for account_id in access.nearest_admin_account_ids(row.approval_region_id)],
        notifications.Message(kind=notifications.NotificationKind.STAR_REVIEW_REQUEST, template="announcement",
                              title=title, text=text, fields={"thing1": title, "thing2": place, "time3": now},
                              page=f"pages/stars/review?id={row.id}"), now=now)


def pending_review_count(account_id: int) -> int:
    """Pending applications this admin may review: approved in a region they administer or one below it."""
    return pending_reviews_within(access.admin_region_paths(account_id))


def pending_reviews_within(paths: list[str]) -> int:
    """Pending applications whose approving region lies in one of these subtrees (region paths)."""
    if not paths:
        return 0
    return db.session.scalar(select(func.count()).select_from(StarApplication)
                             .join(Region, Region.id == StarApplication.approval_region_id)
                             .where(StarApplication.status == StarStatus.PENDING,
                                    or_(*(Region.path.startswith(path, autoescape=True) for path in paths)))) or 0


# --- lists ----------------------------------------------------------------------------------------

def mine(account: Account) -> tuple[Volunteer, int, list[StarApplication]]:
    """The caller's star, and every application (history) newest first."""
    volunteer = own_archive(account)
    rows = list(db.session.scalars(select(StarApplication).where(StarApplication.volunteer_id == volunteer.id)
                                   .order_by(StarApplication.id.desc())))
    return volunteer, current_level(volunteer.id), rows


def for_admin(account_id: int, *, status: StarStatus | None, region_id: int | None,
              limit: int = 500) -> list[StarApplication]:
    """Applications of volunteers in the admin's subtrees (or one region's subtree), newest first."""
    paths = access.admin_region_paths(account_id)
    if region_id is not None:
        region = regions.get_region(region_id)
        access.require_admin_over(account_id, region, doing="查看星级评定")
        paths = [region.path]
    if not paths:
        raise access.not_admin_of_region("查看星级评定")
    home = select(Region.path).join(Volunteer, Volunteer.region_id == Region.id).where(
        Volunteer.id == StarApplication.volunteer_id).scalar_subquery()
    query = select(StarApplication).where(or_(*(home.startswith(path, autoescape=True) for path in paths)))
    if status is not None:
        query = query.where(StarApplication.status == status)
    return list(db.session.scalars(query.order_by(StarApplication.id.desc()).limit(limit)))
