"""Certificates over real concurrent HTTP: serials stay unique and dense, a certificate is issued once.

Requests are released together by a barrier against a served app (as in test_ledger_concurrency.py).
On PostgreSQL the approvals race for the issuer's next serial number (a unique constraint and a
retry in a savepoint keep them distinct); on SQLite transactions run one at a time, and the same
assertions hold trivially.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.services.certificates import flow
from models import ActivityStatus, Certificate, CertificateStatus, RecordKind, ServiceRecord
from tests import factories as f
from tests.fakes import serve

CONCURRENCY = 6


@pytest.fixture
def requested(app, now):
    with app.app_context():
        w = f.World(now).build("tree", "org", "organizer")
        held = w.add_activity(starts_in=-timedelta(days=3), status=ActivityStatus.FINISHED)
        ids = []
        for n in range(CONCURRENCY):
            volunteer = f.approved_volunteer(f"sim_cert_{n}", w.tree["community"], now)
            db.session.add(ServiceRecord(volunteer_id=volunteer.id, activity_id=held.id, kind=RecordKind.ATTENDANCE,
                                         minutes=90, created_at=now))
            db.session.flush()
            ids.append(flow.request(volunteer.account, date(2026, 1, 1), date(2026, 11, 22), note=None, now=now)[0].id)
        organizer = f.bearer(w.organizer)
        db.session.commit()
    app.extensions["clock"] = lambda: now
    return {"ids": ids, "organizer": organizer}


def post_together(base_url: str, requests_: list[tuple[str, dict, dict]]) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(len(requests_))

    def send(item):
        path, body, headers = item
        barrier.wait(timeout=30)
        response = requests.post(f"{base_url}{path}", json=body, headers=headers, timeout=60)
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=len(requests_)) as pool:
        return list(pool.map(send, requests_))


def test_simultaneous_approvals_get_distinct_consecutive_serials(app, requested):
    calls = [(f"/api/v1/certificates/{certificate_id}/review", {"decision": "approve", "nonce": f"race-{n:04d}"},
              requested["organizer"]) for n, certificate_id in enumerate(requested["ids"])]
    with serve(app) as base_url:
        results = post_together(base_url, calls)
    assert [status for status, _ in results] == [200] * CONCURRENCY, results
    with app.app_context():
        rows = list(db.session.scalars(select(Certificate).order_by(Certificate.serial_seq)))
        assert [row.serial_seq for row in rows] == list(range(1, CONCURRENCY + 1))
        assert len({row.serial for row in rows}) == CONCURRENCY
        assert all(row.content["other"]["serial"] == row.serial for row in rows)


def test_simultaneous_issue_presses_issue_once(app, requested, now):
    certificate_id = requested["ids"][0]
    with serve(app) as base_url:
        approved = post_together(base_url, [(f"/api/v1/certificates/{certificate_id}/review",
                                             {"decision": "approve", "nonce": "approve-1"}, requested["organizer"])])
        assert approved[0][0] == 200
        app.extensions["clock"] = lambda: now + timedelta(days=10)
        results = post_together(base_url, [(f"/api/v1/certificates/{certificate_id}/issue", {"nonce": f"press-{n:04d}"},
                                            requested["organizer"]) for n in range(CONCURRENCY)])
    assert [status for status, _ in results] == [200] * CONCURRENCY, results
    hashes = {body["snapshot_sha256"] for _, body in results}
    assert len(hashes) == 1 and None not in hashes
    with app.app_context():
        issued = db.session.get(Certificate, certificate_id)
        assert issued.status is CertificateStatus.ISSUED and issued.snapshot_sha256 in hashes
