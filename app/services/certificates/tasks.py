"""Background work of certificates (Huey): render an issued certificate's PDF, once.

The PDF's file key is recorded by a conditional UPDATE only if none was (a second render's file is
deleted), so a retried or duplicated task is harmless. Enqueue only after the issue committed.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from sqlalchemy import select, update

from app.db import unit_of_work
from app.errors import DomainError
from app.extensions import db, settings
from app.services import files
from app.services.certificates import flow, pdf, verification
from app.tasks import task
from models import Certificate, CertificateStatus, PdfStatus

logger = logging.getLogger(__name__)


@task(retries=3, retry_delay=60)
def render_pdf(certificate_id: int) -> None:
    """Render an issued certificate's PDF into a file and record its key, unless it has one."""
    render(certificate_id)


def render(certificate_id: int) -> bool:
    """The task's body; whether this call stored the PDF."""
    row = db.session.get(Certificate, certificate_id)
    if row is None or row.status is not CertificateStatus.ISSUED or row.pdf_status is PdfStatus.READY:
        return False
    snapshot, url = row.snapshot, verification.link(row.serial, row.verification_code)
    db.session.rollback()  # no transaction stays open while the PDF renders
    started = time.monotonic()
    try:
        data = pdf.render(snapshot, url)
    except Exception:
        with unit_of_work():
            db.session.execute(update(Certificate).where(Certificate.id == certificate_id,
                                                         Certificate.pdf_status == PdfStatus.PENDING)
                               .values(pdf_status=PdfStatus.FAILED).execution_options(synchronize_session=False))
        raise
    key = files.save("certificates", f"certificate-{certificate_id}.pdf", data)
    with unit_of_work():
        stored = db.session.execute(
            update(Certificate).where(Certificate.id == certificate_id, Certificate.pdf_status != PdfStatus.READY)
            .values(pdf_status=PdfStatus.READY, pdf_file_key=key).execution_options(synchronize_session=False)
        ).rowcount == 1
    if not stored:
        files.delete(key)
    logger.info("certificate %s: PDF of %d bytes rendered in %.2f s", certificate_id, len(data),
                time.monotonic() - started)
    return stored


def pdf_link(account_id: int, certificate_id: int) -> tuple[str, int]:
    """A signed link to the PDF and its lifetime; 409 `pdf_not_ready` until it is rendered (or before issue)."""
    row = flow.get_for(account_id, certificate_id)
    if row.status is not CertificateStatus.ISSUED or row.pdf_status is not PdfStatus.READY or not row.pdf_file_key:
        raise DomainError("pdf_not_ready", "证明 PDF 尚未生成（出具后在后台生成），请稍后再试", 409)
    ttl = settings()["certificates"]["pdf_link_seconds"]
    name = f"志愿服务记录证明-{row.serial}.pdf"
    return files.signed_url(row.pdf_file_key, filename=name, ttl_seconds=ttl), ttl


# A PDF still pending this long after the issue was lost (a worker died, a queue was flushed).
STALE_AFTER = timedelta(minutes=10)


def pdfs_to_render(now: datetime) -> list[int]:
    """Issued certificates whose PDF failed, or is still missing long after the issue (the job queues them again)."""
    return list(db.session.scalars(select(Certificate.id).where(
        Certificate.status == CertificateStatus.ISSUED,
        (Certificate.pdf_status == PdfStatus.FAILED)
        | ((Certificate.pdf_status == PdfStatus.PENDING) & (Certificate.issued_at < now - STALE_AFTER)))
        .order_by(Certificate.id).limit(200)))


def issue_due(*, now: datetime) -> dict[str, int]:
    """Issue every certificate whose publicity is over with no objection open, each in its own transaction; queue PDFs."""
    with unit_of_work():
        due = flow.due_for_issue(now)
    issued = []
    for certificate_id in due:
        with unit_of_work():
            if flow.issue(certificate_id, now=now):
                issued.append(certificate_id)
    for certificate_id in issued:
        render_pdf(certificate_id)
    with unit_of_work():
        again = [i for i in pdfs_to_render(now) if i not in issued]
    for certificate_id in again:
        render_pdf(certificate_id)
    if issued or again:
        logger.info("certificates issued: %d; PDFs queued again: %d", len(issued), len(again))
    return {"issued": len(issued), "pdfs_requeued": len(again)}
