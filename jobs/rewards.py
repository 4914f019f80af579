"""Reward jobs: release redemption holds that waited past their time (points and the unit of stock return).

Idempotent: each release is a conditional UPDATE on the redemption's status plus a ledger transfer
keyed by the redemption, so a double fire or a race with a scan at the station settles each once.
"""

from __future__ import annotations

from datetime import datetime

from app.services.rewards import redemptions


def expire_holds(*, now: datetime) -> dict[str, int]:
    return redemptions.expire_due(now=now)
