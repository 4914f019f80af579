"""The sweep of uploads never attached: photos of a form someone abandoned, evidence never submitted.

After `[files] unattached_grace_hours` (default 24) an upload that no declaration, 补录 or activity
report names is deleted: its row in one transaction, then its file and thumbnail from storage
(local or S3). Safe to run twice or in two processes at once: rows are taken FOR UPDATE SKIP
LOCKED and deleted in the same transaction, and deleting a file that is gone is harmless.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.db import unit_of_work
from app.extensions import settings
from app.services import uploads

# Rows looked at per transaction.
BATCH = 500


def sweep_unattached(*, now: datetime) -> dict[str, int]:
    grace = timedelta(hours=settings()["files"]["unattached_grace_hours"])
    swept = files_deleted = 0
    after_id: int | None = 0
    while after_id is not None:
        with unit_of_work():
            gone, after_id = uploads.take_unattached(now=now, grace=grace, after_id=after_id, limit=BATCH)
        files_deleted += uploads.forget_files([key for _, main, thumb in gone for key in (main, thumb)])
        swept += len(gone)
    return {"uploads_deleted": swept, "files_deleted": files_deleted}
