"""Certificate jobs: issue the certificates whose publicity ended with no objection open, and queue their PDFs.

Issuing is a conditional UPDATE per certificate, so a double fire or a race with the handler's
button issues each once; a certificate missed in an outage is issued on the next run.
"""

from __future__ import annotations

from datetime import datetime

from app.services.certificates import tasks


def issue_due(*, now: datetime) -> dict[str, int]:
    return tasks.issue_due(now=now)
