"""The exports' sweeps: re-enqueue exports whose message or worker was lost, delete expired files."""

from __future__ import annotations

from datetime import datetime

from app.db import unit_of_work
from app.extensions import db
from app.services import exports


def requeue_stalled(*, now: datetime) -> int:
    """Enqueue again every export queued or running without progress for exports.stale_minutes.

    A task lost with Redis (or a worker killed mid-export) would otherwise leave its row waiting
    forever; running one twice is harmless, since the task claims its row first.
    """
    with unit_of_work():
        ids = exports.stalled(now=now)
    db.session.remove()
    for export_id in ids:
        exports.enqueue(export_id)
    return len(ids)


def delete_expired(*, now: datetime) -> int:
    """Delete the files of exports past their expires_at; the rows stay, without a file."""
    with unit_of_work():
        found = exports.expired(now=now)
    for export_id, key in found:
        with unit_of_work():
            exports.forget_file(export_id, key)
    return len(found)
