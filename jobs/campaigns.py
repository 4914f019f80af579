"""Campaign jobs: draft the campaigns of coming festival days and ask organisers to plan them."""

from __future__ import annotations

import logging
from datetime import datetime

from app.db import unit_of_work
from app.services import campaigns

logger = logging.getLogger(__name__)


def make_drafts(*, now: datetime) -> int:
    """One pass; idempotent by (festival, year, organisation), so a double run makes nothing twice."""
    with unit_of_work():
        made = campaigns.make_drafts(now=now)
    if made:
        logger.info("made %d draft campaigns", made)
    return made
