"""An activity's evidence gallery: what shows it was held and who served, in one list.

The report's photos (活动照片), the photos of its confirmed declarations (named by their volunteer), and,
for an activity made by an approved 补录, that entry's evidence (photos and scanned sign-in sheets).
Read by whoever may read the report: its captains and organisers, the admins above it.
"""

from __future__ import annotations

from sqlalchemy import select

from app import pii
from app.extensions import db
from app.services import access, activity_reports, regions
from app.services.recording import declarations, retroactive
from models import Account, Declaration, EntryStatus, RetroactiveEntry, Upload, Volunteer


def of_activity(account: Account, activity_id: int) -> list[tuple[str, str, Upload]]:
    """(source, caption, upload) in the order the gallery shows them; each upload once."""
    activity = access.activity(activity_id)
    if not (access.is_activity_manager(account.id, activity)
            or access.is_admin_over(account.id, regions.get_region(activity.region_id))
            or access.oversees(account.id, activity.organization)):
        raise access.not_organizer_or_admin("查看活动影像", captains_too=True)
    found: list[tuple[str, str, Upload]] = []
    seen: set[int] = set()

    def add(source: str, caption: str, uploads: list[Upload]) -> None:
        for upload in uploads:
            if upload.id not in seen:
                seen.add(upload.id)
                found.append((source, caption, upload))

    add("report", "活动照片", activity_reports.current_photos(activity.id))
    confirmed = db.session.execute(
        select(Declaration, Volunteer.real_name).join(Volunteer, Volunteer.id == Declaration.volunteer_id)
        .where(Declaration.activity_id == activity.id, Declaration.status == EntryStatus.APPROVED)
        .order_by(Declaration.decided_at, Declaration.id)).all()
    for row, name in confirmed:
        add("declaration", f"{pii.mask_name(name) or '志愿者'} 的申报", declarations.photos_of(row))
    for entry in db.session.scalars(select(RetroactiveEntry).where(
            RetroactiveEntry.activity_id == activity.id, RetroactiveEntry.status == EntryStatus.APPROVED)):
        add("retroactive", "补录凭证", retroactive.evidence_of(entry))
    return found
