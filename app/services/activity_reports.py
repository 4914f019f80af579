"""Activity reports: a held activity's summary (内容总结) and up to 20 photos (活动照片).

The monthly inspection looks at them. Captains and organisers of the activity write them; a
change is a new revision (the earlier ones stay), the current report is the latest. Photos are
uploads (purpose activity_photo) named by token: new ones must be the writer's own uploads
(`uploads.claim`), photos of the current revision may be kept by anyone who may write. Writers of
one activity take its row lock first, so two revisions never get the same number.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.services import access, activities, audit, regions, uploads
from models import Account, Activity, ActivityReport, ActivityStatus, Upload, UploadPurpose

MAX_PHOTOS = 20
HELD = (ActivityStatus.FINISHED, ActivityStatus.EVALUATED)


def write(account: Account, activity_id: int, *, summary: str, photo_tokens: Sequence[str],
          now: datetime) -> tuple[ActivityReport, list[Upload], int]:
    """Set the report of a held activity; the current revision, its photos and how many revisions there are.

    The same summary and photos again append nothing.
    """
    activity = access.activity(activity_id, lock=True)
    access.require_activity_manager(account.id, activity, doing="填写活动总结")
    if activities.effective_status(activity, now) not in HELD:
        raise Conflict("activity_not_held", "活动结束后才能填写总结和上传照片")
    tokens = list(dict.fromkeys(photo_tokens))
    if len(tokens) > MAX_PHOTOS:
        raise DomainError("too_many_uploads", f"最多上传 {MAX_PHOTOS} 张照片", 422, fields={"photos": f"最多 {MAX_PHOTOS} 张"})
    current = _latest(activity.id)
    kept = {u.token: u for u in _photos(current)}
    claimed = {u.token: u for u in uploads.claim(account.id, [t for t in tokens if t not in kept],
                                                 [UploadPurpose.ACTIVITY_PHOTO], field="photos", limit=MAX_PHOTOS)}
    photos = [kept.get(token) or claimed[token] for token in tokens]
    ids = [photo.id for photo in photos]
    if current is not None and current.summary == summary and list(current.photo_upload_ids) == ids:
        return current, photos, current.revision
    report = ActivityReport(activity_id=activity.id, revision=(current.revision + 1) if current else 1,
                            summary=summary, photo_upload_ids=ids, created_by_account_id=account.id, created_at=now)
    db.session.add(report)
    db.session.flush()
    audit.record(account.id, "activity.report_written", "activity", activity.id, now=now, revision=report.revision,
                 photos=len(ids))
    return report, photos, report.revision


def read(account: Account, activity_id: int) -> tuple[Activity, ActivityReport, list[Upload], int]:
    """The current report: for the activity's captains and organisers and the admins above its organisation."""
    activity = access.activity(activity_id)
    if not (access.is_activity_manager(account.id, activity)
            or access.is_admin_over(account.id, regions.get_region(activity.region_id))
            or access.oversees(account.id, activity.organization)):
        raise access.not_organizer_or_admin("查看活动总结", captains_too=True)
    current = _latest(activity.id)
    if current is None:
        raise NotFound("report_not_found", "该活动还没有总结")
    return activity, current, _photos(current), current.revision


def current_photos(activity_id: int) -> list[Upload]:
    """The photos of the activity's current report (none without one), for its evidence gallery."""
    return _photos(_latest(activity_id))


def _latest(activity_id: int) -> ActivityReport | None:
    return db.session.scalar(select(ActivityReport).where(ActivityReport.activity_id == activity_id)
                             .order_by(ActivityReport.revision.desc()).limit(1))


def _photos(report: ActivityReport | None) -> list[Upload]:
    if report is None or not report.photo_upload_ids:
        return []
    found = {u.id: u for u in db.session.scalars(select(Upload).where(Upload.id.in_(report.photo_upload_ids)))}
    return [found[i] for i in report.photo_upload_ids if i in found]

