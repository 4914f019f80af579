"""A frozen bulletin's downloads: the XLSX built on request, the PDF rendered once in the background.

The XLSX is cheap and built from the frozen content each time (the same bytes' worth of numbers).
The PDF takes a second or two: `tasks.render_pdf` renders it after the freeze and stores it as a
file; until then the download answers 409 `pdf_not_ready`, then a signed link that expires.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from app.errors import DomainError
from app.extensions import db, settings
from app.services import files
from app.services.bulletins import freeze, reads, xlsx
from models import Bulletin, BulletinStatus, PdfStatus

# A PDF that failed or went missing is rendered again by the hourly job for this long after the freeze.
RENDER_RETRY_WINDOW = timedelta(days=7)


def file_name(row: Bulletin, suffix: str) -> str:
    return f"月月通报-{(row.content or {}).get('region', {}).get('name', row.region_id)}-{row.month}.{suffix}"


def xlsx_file(account_id: int, bulletin_id: int) -> tuple[bytes, str]:
    """The XLSX bytes and the file name of a frozen bulletin the account may read."""
    row = reads.frozen_for(account_id, bulletin_id)
    return xlsx.workbook(row.content), file_name(row, "xlsx")


def pdf_link(account_id: int, bulletin_id: int) -> tuple[str, int]:
    """A signed link to the PDF and its lifetime in seconds; 409 `pdf_not_ready` while it is being rendered.

    The link's expiry is on the real clock, like the file endpoint that checks it (a protocol check,
    as token ages are), not on the app's business clock.
    """
    row = reads.frozen_for(account_id, bulletin_id)
    if row.pdf_status is not PdfStatus.READY or row.pdf_file_key is None:
        raise DomainError("pdf_not_ready", "PDF 正在生成，请稍后再试", 409)
    ttl = settings()["bulletins"]["pdf_link_seconds"]
    return files.signed_url(row.pdf_file_key, filename=file_name(row, "pdf"), ttl_seconds=ttl), ttl


def store_pdf(bulletin_id: int, key: str) -> bool:
    """Record the rendered file, unless another render already did; whether this one counts."""
    return db.session.execute(
        update(Bulletin).where(Bulletin.id == bulletin_id, Bulletin.status == BulletinStatus.FROZEN,
                               Bulletin.pdf_status != PdfStatus.READY)
        .values(pdf_status=PdfStatus.READY, pdf_file_key=key)
        .execution_options(synchronize_session=False)).rowcount == 1


def mark_pdf_failed(bulletin_id: int) -> None:
    db.session.execute(update(Bulletin).where(Bulletin.id == bulletin_id, Bulletin.pdf_status == PdfStatus.PENDING)
                       .values(pdf_status=PdfStatus.FAILED).execution_options(synchronize_session=False))


def pdfs_to_render(now: datetime) -> list[int]:
    """Frozen bulletins of the last weeks whose PDF failed, or is still missing long after the freeze."""
    return list(db.session.scalars(select(Bulletin.id).where(
        Bulletin.status == BulletinStatus.FROZEN, Bulletin.frozen_at > now - RENDER_RETRY_WINDOW,
        (Bulletin.pdf_status == PdfStatus.FAILED)
        | ((Bulletin.pdf_status == PdfStatus.PENDING) & (Bulletin.frozen_at < now - freeze.STALE_AFTER)))
        .order_by(Bulletin.id)))
