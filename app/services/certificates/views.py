"""A certificate as its holder and its issuer's overseers read it in the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app import pii
from app.extensions import db
from app.services.certificates import verification
from models import Certificate, CertificateObjection, ObjectionStatus, Organization, Volunteer


def view(row: Certificate, *, with_content: bool = True) -> dict[str, Any]:
    open_objections = db.session.scalar(select(func.count()).select_from(CertificateObjection).where(
        CertificateObjection.certificate_id == row.id, CertificateObjection.status == ObjectionStatus.OPEN))
    # Who asked, before any content exists: the handler reviews a request knowing whose it is (masked, as lists show people).
    holder = db.session.execute(select(Volunteer.real_name, Volunteer.volunteer_number)
                                .where(Volunteer.id == row.volunteer_id)).first()
    return {
        "id": row.id, "volunteer_id": row.volunteer_id, "organization_id": row.organization_id,
        "volunteer_name": pii.mask_name(holder.real_name) if holder else None,
        "volunteer_number": holder.volunteer_number if holder else None,
        "organization_name": db.session.scalar(select(Organization.name).where(Organization.id == row.organization_id)),
        "period_start": row.period_start, "period_end": row.period_end, "status": row.status.value,
        "status_label": verification.STATUS_LABELS[row.status], "note": row.note, "serial": row.serial,
        "verification_url": verification.link(row.serial, row.verification_code) if row.serial else None,
        "requested_at": row.requested_at, "reviewed_at": row.reviewed_at, "rejection_reason": row.rejection_reason,
        "publicity_ends_at": row.publicity_ends_at, "open_objections": open_objections, "issued_at": row.issued_at,
        "revoked_at": row.revoked_at, "revocation_reason": row.revocation_reason,
        "snapshot_sha256": row.snapshot_sha256, "pdf_status": row.pdf_status.value,
        "content": (row.snapshot or row.content) if with_content else None,
    }
