"""Write audit entries in the same transaction as the action they record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.extensions import db
from models import AuditLog


def record(actor_account_id: int | None, action: str, target_type: str, target_id: int | None, *,
           now: datetime, **detail: Any) -> AuditLog:
    """Append one entry; `detail` must hold ids, states and reasons, never personal data."""
    entry = AuditLog(actor_account_id=actor_account_id, action=action, target_type=target_type,
                     target_id=target_id, detail=detail, created_at=now)
    db.session.add(entry)
    return entry
