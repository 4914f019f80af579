"""Sign-ups: apply, cancel, decide, and a waitlist promoted in order when a seat frees.

Seats are counted on the activity (`seats_taken`) and taken only by a conditional UPDATE
(`seats_taken < capacity`), which the database applies one at a time: however many volunteers
apply at once for the last seats, exactly that many get them. A CHECK constraint refuses an
overbooking even if a code path forgot the rule. One row per volunteer and activity (unique)
makes a repeated or concurrent application return the same sign-up instead of a second one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError

from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.resident_id import age_on
from app.services import access, audit, notifications, volunteers
from app.timeutil import to_local
from models import Account, Activity, ActivityStatus, Checkin, Signup, SignupMode, SignupStatus, Volunteer
from models.signups import ACTIVE_SIGNUP_STATUSES


class SignupError(DomainError):
    """A gate refused the application; `code` says which (activity_full, too_young, …)."""


def apply(account: Account, activity_id: int, *, join_waitlist: bool, now: datetime) -> tuple[Signup, bool]:
    """Apply for an activity; return the sign-up and whether this call created or renewed it."""
    volunteer = volunteers.own_archive(account, lock=True, approved_for="报名")
    activity = access.activity(activity_id, hide_drafts=True)
    existing = db.session.scalar(select(Signup).where(Signup.activity_id == activity.id,
                                                      Signup.volunteer_id == volunteer.id))
    if existing is not None and existing.status in ACTIVE_SIGNUP_STATUSES:
        return existing, False
    if existing is not None and existing.status is SignupStatus.REJECTED:
        raise SignupError("signup_rejected", "您的报名未通过，如有疑问请联系活动组织者", 409)
    _check_gates(volunteer, activity, now)
    if activity.signup_mode is SignupMode.APPROVAL:
        status = SignupStatus.PENDING
    elif _take_seat(activity.id):
        status = SignupStatus.APPROVED
    elif join_waitlist:
        status = SignupStatus.WAITLISTED
    else:
        raise SignupError("activity_full", "名额已满，可选择加入候补名单", 409)
    if existing is not None:
        signup = existing
    else:
        signup, inserted = _insert(activity, volunteer, status, now)
        if not inserted:
            # A concurrent application of the same volunteer won (possible where rows cannot be
            # locked, e.g. SQLite): its result stands, and the seat this one took goes back.
            if status is SignupStatus.APPROVED:
                _release_seat(activity.id)
            return signup, False
    _set(signup, status, now)
    db.session.flush()
    if status is SignupStatus.APPROVED:
        # The confirmation; approval mode and the waitlist are told when a seat is theirs.
        _notify(signup, activity, "报名成功", "请准时参加，不能参加请提前取消", now)
    audit.record(account.id, "signup.applied", "signup", signup.id, now=now, status=signup.status.value)
    return signup, True


def cancel(account: Account, activity_id: int, *, now: datetime) -> Signup:
    """Withdraw the caller's own sign-up; a freed seat goes to the first on the waitlist."""
    volunteer = volunteers.own_archive(account, approved_for="报名")
    signup = db.session.scalar(select(Signup).where(Signup.activity_id == activity_id,
                                                    Signup.volunteer_id == volunteer.id))
    if signup is None or signup.status not in ACTIVE_SIGNUP_STATUSES:
        raise NotFound("signup_not_found", "您没有报名该活动")
    activity = db.session.get(Activity, activity_id)
    if now >= activity.starts_at:
        raise Conflict("activity_started", "活动已开始，不能再取消报名；如有变化请联系队长")
    attended = exists().where(Checkin.activity_id == activity_id, Checkin.volunteer_id == volunteer.id)
    if db.session.scalar(select(attended)):
        # Check-in opens before the start: someone already at the door keeps their seat (and the
        # waitlist is not promoted past the capacity).
        raise Conflict("already_attended", "您已签到，不能再取消报名；如有变化请联系队长")
    was = signup.status
    # Conditional: a concurrent cancel of the same sign-up must not free the seat twice, and a
    # check-in committed meanwhile keeps the sign-up.
    changed = db.session.execute(
        update(Signup).where(Signup.id == signup.id, Signup.status == was, ~attended)
        .values(status=SignupStatus.CANCELLED, updated_at=now, waitlisted_at=None)
    ).rowcount
    db.session.refresh(signup)
    if changed and was is SignupStatus.APPROVED:
        _free_seat_and_promote(activity, now)
    audit.record(account.id, "signup.cancelled", "signup", signup.id, now=now)
    return signup


def decide(account: Account, signup_id: int, *, approve: bool, reason: str | None, now: datetime) -> Signup:
    """Approve or reject a pending sign-up (approval mode) as the organiser."""
    signup = db.session.get(Signup, signup_id)
    if signup is None:
        raise NotFound("signup_not_found", "找不到该报名")
    activity = db.session.get(Activity, signup.activity_id)
    access.require_organizer(account.id, activity.organization_id, doing="审核报名")
    if signup.status is not SignupStatus.PENDING:
        raise Conflict("already_decided", "该报名已处理")
    if not approve and not (reason and reason.strip()):
        raise DomainError("reason_required", "拒绝报名时请填写原因", 422, fields={"reason": "必填"})
    if approve and not _take_seat(activity.id):
        raise SignupError("activity_full", "名额已满，无法再通过报名", 409)
    target = SignupStatus.APPROVED if approve else SignupStatus.REJECTED
    decided = db.session.execute(
        update(Signup).where(Signup.id == signup.id, Signup.status == SignupStatus.PENDING)
        .values(status=target, reason=None if approve else reason.strip(), decided_by_account_id=account.id,
                decided_at=now, updated_at=now)
    ).rowcount
    if not decided:
        raise Conflict("already_decided", "该报名已处理")  # rolls back the seat with the unit of work
    db.session.refresh(signup)
    _notify(signup, activity, "已通过" if approve else "未通过", "请准时参加" if approve else reason or "", now)
    audit.record(account.id, f"signup.{target.value}", "signup", signup.id, now=now)
    return signup


def list_for_activity(account: Account, activity_id: int, *, status: SignupStatus | None, page: int,
                      per_page: int) -> tuple[list[Signup], int]:
    """The sign-ups of an activity, for its organiser and its team's captains; waitlist in order."""
    access.require_activity_manager(account.id, access.activity(activity_id), doing="查看报名")
    query = select(Signup).where(Signup.activity_id == activity_id)
    if status is not None:
        query = query.where(Signup.status == status)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(Signup.waitlisted_at.is_(None).desc(), Signup.waitlisted_at, Signup.id)
                              .offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), total


def my_signups(account: Account, *, status: SignupStatus | None, page: int, per_page: int) -> tuple[list[Signup], int]:
    """The caller's sign-ups, latest activity first."""
    volunteer = volunteers.own_archive(account)
    query = select(Signup).join(Activity, Activity.id == Signup.activity_id).where(Signup.volunteer_id == volunteer.id)
    if status is not None:
        query = query.where(Signup.status == status)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(Activity.starts_at.desc(), Signup.id.desc())
                              .offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), total


def waitlist_position(signup: Signup) -> int | None:
    """1-based place on the waitlist, or None if the sign-up is not waiting."""
    if signup.status is not SignupStatus.WAITLISTED:
        return None
    ahead = db.session.scalar(select(func.count()).select_from(Signup).where(
        Signup.activity_id == signup.activity_id, Signup.status == SignupStatus.WAITLISTED,
        (Signup.waitlisted_at < signup.waitlisted_at)
        | ((Signup.waitlisted_at == signup.waitlisted_at) & (Signup.id < signup.id))))
    return ahead + 1


def _check_gates(volunteer: Volunteer, activity: Activity, now: datetime) -> None:
    if activity.status is not ActivityStatus.PUBLISHED or now >= activity.starts_at:
        raise SignupError("not_open", "该活动当前不接受报名", 409)
    if activity.min_age is not None:
        age = age_on(volunteer.birth_date, to_local(activity.starts_at).date()) if volunteer.birth_date else None
        if age is None or age < activity.min_age:
            raise SignupError("too_young", f"该活动要求年满 {activity.min_age} 周岁", 422)
    missing = [skill for skill in activity.required_skills or [] if skill not in (volunteer.skills or [])]
    if missing:
        raise SignupError("missing_skill", f"该活动需要技能：{'、'.join(missing)}", 422,
                          fields={"skills": "缺少" + "、".join(missing)})
    overlapping = db.session.scalar(
        select(Activity.title).join(Signup, Signup.activity_id == Activity.id).where(
            Signup.volunteer_id == volunteer.id, Signup.status.in_(ACTIVE_SIGNUP_STATUSES),
            Activity.id != activity.id,
            Activity.status.in_((ActivityStatus.PUBLISHED, ActivityStatus.ONGOING)),
            Activity.starts_at < activity.ends_at, Activity.ends_at > activity.starts_at,
        ).limit(1))
    if overlapping:
        raise SignupError("time_conflict", f"与已报名的活动「{overlapping}」时间冲突", 409)


def _insert(activity: Activity, volunteer: Volunteer, status: SignupStatus, now: datetime) -> tuple[Signup, bool]:
    """Insert the volunteer's row for the activity; if another transaction just did, return that row."""
    try:
        with db.session.begin_nested():
            signup = Signup(activity_id=activity.id, volunteer_id=volunteer.id, status=status,
                            created_at=now, updated_at=now)
            db.session.add(signup)
        return signup, True
    except IntegrityError:
        return db.session.scalars(select(Signup).where(Signup.activity_id == activity.id,
                                                       Signup.volunteer_id == volunteer.id)).one(), False


def _set(signup: Signup, status: SignupStatus, now: datetime) -> None:
    signup.status = status
    signup.reason = None
    signup.decided_at = None
    signup.decided_by_account_id = None
    signup.waitlisted_at = now if status is SignupStatus.WAITLISTED else None
    signup.updated_at = now


def _release_seat(activity_id: int) -> None:
    db.session.execute(update(Activity).where(Activity.id == activity_id, Activity.seats_taken > 0)
                       .values(seats_taken=Activity.seats_taken - 1).execution_options(synchronize_session=False))


def _take_seat(activity_id: int) -> bool:
    return db.session.execute(
        update(Activity).where(Activity.id == activity_id, Activity.seats_taken < Activity.capacity)
        .values(seats_taken=Activity.seats_taken + 1)
        .execution_options(synchronize_session=False)
    ).rowcount == 1


def _free_seat_and_promote(activity: Activity, now: datetime) -> None:
    _release_seat(activity.id)
    waiting = db.session.scalars(select(Signup.id).where(
        Signup.activity_id == activity.id, Signup.status == SignupStatus.WAITLISTED,
    ).order_by(Signup.waitlisted_at, Signup.id)).all()
    for signup_id in waiting:
        if not _take_seat(activity.id):
            return
        promoted = db.session.execute(
            update(Signup).where(Signup.id == signup_id, Signup.status == SignupStatus.WAITLISTED)
            .values(status=SignupStatus.APPROVED, waitlisted_at=None, updated_at=now)
        ).rowcount
        if promoted:
            signup = db.session.get(Signup, signup_id)
            db.session.refresh(signup)
            _notify(signup, activity, "候补成功", "您已从候补转为正式报名", now)
            return
        # Someone else promoted or cancelled it meanwhile: give the seat back and try the next.
        _release_seat(activity.id)


def _notify(signup: Signup, activity: Activity, result: str, note: str, now: datetime) -> None:
    account_id = db.session.scalar(select(Volunteer.account_id).where(Volunteer.id == signup.volunteer_id))
    notifications.notify(account_id, f"s{signup.id}:{signup.status.value}:{int(now.timestamp())}", notifications.Message(
        kind="signup_result", template="signup_result", title=result if result.startswith("报名") else f"报名{result}",
        text=f"您报名的活动「{activity.title}」：{result}。{note}",
        fields={"thing1": activity.title, "phrase2": result, "time3": activity.starts_at, "thing4": note},
        page=f"pages/activity/index?id={activity.id}",
    ), now=now, activity_id=activity.id)


def withdraw_all(volunteer_id: int, *, now: datetime) -> int:
    """Cancel the volunteer's sign-ups for activities not yet started (account deletion, suspension); return how many.

    Freed seats go to the waitlist as in `cancel`. Sign-ups of started or past activities stay:
    they are history that check-ins and service records refer to; so does one already checked in
    before the start (as in `cancel`, someone at the door keeps their seat).
    """
    rows = db.session.execute(select(Signup.id, Signup.status, Signup.activity_id)
                              .join(Activity, Activity.id == Signup.activity_id)
                              .where(Signup.volunteer_id == volunteer_id, Signup.status.in_(ACTIVE_SIGNUP_STATUSES),
                                     Activity.starts_at > now).order_by(Signup.id)).all()
    cancelled = 0
    for signup_id, was, activity_id in rows:
        attended = exists().where(Checkin.activity_id == activity_id, Checkin.volunteer_id == volunteer_id)
        changed = db.session.execute(
            update(Signup).where(Signup.id == signup_id, Signup.status == was, ~attended)
            .values(status=SignupStatus.CANCELLED, updated_at=now, waitlisted_at=None)
            .execution_options(synchronize_session="fetch")
        ).rowcount
        cancelled += changed
        if changed and was is SignupStatus.APPROVED:
            _free_seat_and_promote(db.session.get(Activity, activity_id), now)
    return cancelled
