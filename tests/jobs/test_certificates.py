"""The certificate job: issue those whose publicity ended with no objection open, queue their PDFs; safe to run twice."""

from __future__ import annotations

from datetime import timedelta

from app.extensions import db
from app.services.certificates import flow
from jobs import certificates as certificate_jobs
from models import Certificate, CertificateStatus
from tests.services.test_certificates import END, START, served  # noqa: F401 (fixture)


def test_due_certificates_are_issued_once_and_others_wait(app, served, monkeypatch):  # noqa: F811
    queued = []
    monkeypatch.setattr("app.services.certificates.tasks.render_pdf", queued.append)
    rows = {row.organization_id: row for row in flow.request(served.alice.account, START, END, note=None, now=served.now)}
    first = flow.review(served.organizer.id, rows[served.org.id].id, approve=True, reason=None, now=served.now)
    second = flow.review(served.other_organizer.id, rows[served.other_org.id].id, approve=True, reason=None,
                         now=served.now)
    flow.object_to(served.bob.account.id, second.id, reason="有异议", now=served.now)
    db.session.commit()
    after = first.publicity_ends_at + timedelta(minutes=5)
    assert certificate_jobs.issue_due(now=first.publicity_ends_at - timedelta(minutes=1)) == {"issued": 0,
                                                                                          "pdfs_requeued": 0}
    assert certificate_jobs.issue_due(now=after) == {"issued": 1, "pdfs_requeued": 0}
    assert certificate_jobs.issue_due(now=after) == {"issued": 0, "pdfs_requeued": 0}
    assert queued == [first.id]
    db.session.expire_all()
    assert db.session.get(Certificate, first.id).status is CertificateStatus.ISSUED
    assert db.session.get(Certificate, second.id).status is CertificateStatus.PUBLICITY
    # A PDF still missing long after the issue is queued again.
    assert certificate_jobs.issue_due(now=after + timedelta(minutes=30)) == {"issued": 0, "pdfs_requeued": 1}
