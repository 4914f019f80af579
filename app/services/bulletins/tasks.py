"""The background tasks (Huey): freeze a month's claimed bulletins (or one bulletin), then render each PDF.

`freeze_month(month)` is what the scheduler queues: it gathers the month's inputs once for the
whole tree (three `compute_period` runs, one snapshot), then freezes every bulletin of the month
not frozen yet, each in its own transaction, from those figures. `freeze_bulletin(id)` freezes one
(the admin's button), gathering for that node. Both are safe to run twice and to race: the freeze
is a conditional UPDATE on the row claimed for (node, month). PDFs are one task per bulletin; the
PDF's file key is recorded only if none was (a second render's file is deleted). Enqueue them only
after the transaction that wrote the rows committed.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from app.db import unit_of_work
from app.extensions import db
from app.services import files
from app.services.bulletins import content as contents, downloads, freeze, pdf
from app.services.kpi.refresh import open_snapshot
from app.tasks import task
from app.timeutil import now_utc
from models import Bulletin, BulletinStatus, PdfStatus

logger = logging.getLogger(__name__)


@task(retries=3, retry_delay=60)
def freeze_month(month_key: str) -> None:
    """Freeze every bulletin of the month not frozen yet, from figures computed once; then queue their PDFs."""
    run_month(month_key)


def run_month(month_key: str, *, now: datetime | None = None) -> list[int]:
    """The task's body: the ids this run froze (their PDFs queued).

    A bulletin whose freeze fails is marked failed and the others go on; the run then raises, so the
    task is retried (a retry finds the frozen ones frozen and does the rest).
    """
    month = freeze.parse_month(month_key)
    now = now or now_utc()
    with unit_of_work():
        pending = freeze.to_freeze(month)
    if not pending:
        return []
    started = time.monotonic()
    with unit_of_work():
        open_snapshot()
        inputs = contents.Inputs.gather(month, now=now)
    gathered = time.monotonic() - started
    frozen, failures = [], []
    for bulletin_id in pending:
        try:
            if _freeze_one(bulletin_id, now=now, inputs=inputs):
                frozen.append(bulletin_id)
        except Exception as exc:  # noqa: BLE001 (one node's failure must not stop the others; re-raised below)
            logger.exception("bulletin %s of %s failed", bulletin_id, month.key)
            failures.append(exc)
    for bulletin_id in frozen:
        render_pdf(bulletin_id)
    logger.info("bulletins of %s: %d frozen, %d failed, %d already frozen; inputs %.1f s, total %.1f s", month.key,
                len(frozen), len(failures), len(pending) - len(frozen) - len(failures), gathered,
                time.monotonic() - started)
    if failures:
        raise RuntimeError(f"{len(failures)} bulletin(s) of {month.key} failed; first: {failures[0]!r}") from failures[0]
    return frozen


@task(retries=3, retry_delay=60)
def freeze_bulletin(bulletin_id: int) -> None:
    """Compute and freeze one claimed bulletin, tell its readers, then queue its PDF."""
    run(bulletin_id)


def run(bulletin_id: int) -> bool:
    """The task's body, callable directly (the admin's button in tests); whether this run froze the bulletin."""
    froze = _freeze_one(bulletin_id, now=now_utc())
    if froze:
        render_pdf(bulletin_id)
    return froze


def _freeze_one(bulletin_id: int, *, now: datetime, inputs: contents.Inputs | None = None) -> bool:
    """Freeze one bulletin in its own transaction; on an error mark it failed (another transaction) and raise."""
    try:
        with unit_of_work():
            return freeze.complete(bulletin_id, now=now, inputs=inputs)
    except Exception as exc:
        with unit_of_work():
            freeze.mark_failed(bulletin_id, f"{type(exc).__name__}: {exc}")
        raise


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
