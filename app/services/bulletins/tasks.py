"""The background tasks (Huey): freeze a claimed bulletin, then render its PDF.

Both take an id and are safe to run twice: the freeze is a conditional UPDATE on the row claimed
for (node, month), the PDF's file key is recorded only if none was (a second render's file is
deleted). Enqueue them only after the transaction that wrote the row committed.
"""

from __future__ import annotations

import logging
import time

from app.db import unit_of_work
from app.extensions import db
from app.services import files
from app.services.bulletins import downloads, freeze, pdf
from app.tasks import task
from app.timeutil import now_utc
from models import Bulletin, BulletinStatus, PdfStatus

logger = logging.getLogger(__name__)


@task(retries=3, retry_delay=60)
def freeze_bulletin(bulletin_id: int) -> None:
    """Compute and freeze a claimed bulletin, tell its readers, then queue its PDF."""
    run(bulletin_id)


def run(bulletin_id: int) -> bool:
    """The task's body, callable directly (the admin's button in tests); whether this run froze the bulletin."""
    try:
        with unit_of_work():
            froze = freeze.complete(bulletin_id, now=now_utc())
    except Exception as exc:
        with unit_of_work():
            freeze.mark_failed(bulletin_id, f"{type(exc).__name__}: {exc}")
        raise
    if froze:
        render_pdf(bulletin_id)
    return froze


@task(retries=3, retry_delay=60)
def render_pdf(bulletin_id: int) -> None:
    """Render a frozen bulletin's PDF into a file and record its key, unless it has one."""
    render(bulletin_id)


def render(bulletin_id: int) -> bool:
    """The task's body; whether this call stored the PDF."""
    row = db.session.get(Bulletin, bulletin_id)
    if row is None or row.status is not BulletinStatus.FROZEN or row.pdf_status is PdfStatus.READY:
        return False
    content = row.content
    db.session.rollback()  # no transaction stays open while the PDF renders
    started = time.monotonic()
    try:
        data = pdf.render(content)
    except Exception:
        with unit_of_work():
            downloads.mark_pdf_failed(bulletin_id)
        raise
    key = files.save("bulletins", f"bulletin-{bulletin_id}.pdf", data)
    with unit_of_work():
        stored = downloads.store_pdf(bulletin_id, key)
    if not stored:
        files.delete(key)
    logger.info("bulletin %s: PDF of %d bytes rendered in %.1f s", bulletin_id, len(data), time.monotonic() - started)
    return stored
