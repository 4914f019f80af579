"""The sweep of uploads never attached: after the grace period their rows, files and thumbnails go; attached ones stay.

Runs on the local backend and on the s3 backend against moto's S3 server (tests/s3.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.services import files, uploads
from jobs import schedule
from jobs import uploads as sweep
from models import Upload, UploadPurpose
from tests import factories as f
from tests.recording_world import held_activity, jpeg
from tests.s3 import s3_files, s3_server  # noqa: F401 (fixtures)

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@pytest.fixture(params=["local", "s3"])
def app(request, make_app):
    if request.param == "s3":
        return make_app(files=request.getfixturevalue("s3_files"))
    return make_app()


def store(account, purpose, now, data=None):
    checked = uploads.check(data or jpeg(), purpose)
    return uploads.receive(account.id, purpose, checked, now=now)


def keys_of(rows):
    return [key for row in rows for key in (row.storage_key, row.thumbnail_key) if key]


def test_unattached_uploads_go_after_the_grace_with_their_files_and_attached_ones_stay(app_context, now):
    from app.services.recording import declarations

    w = f.World(now).build("tree", "org", "team", "organizer", "alice")
    activity = held_activity(w, now, attendees=(w.alice,))
    yesterday = now - timedelta(hours=25)
    abandoned = store(w.alice.account, UploadPurpose.DECLARATION_PHOTO, yesterday)
    sheet = store(w.organizer, UploadPurpose.EVIDENCE, yesterday, PDF)
    used = store(w.alice.account, UploadPurpose.DECLARATION_PHOTO, yesterday)
    recent = store(w.alice.account, UploadPurpose.DECLARATION_PHOTO, now - timedelta(hours=23))
    db.session.commit()
    # The photo was attached to a declaration a day after it went up (a form filled in slowly).
    declarations.declare(w.alice.account, activity.id, started_at=activity.starts_at, ended_at=activity.ends_at,
                         note="忘记扫码", photos=[used.token], now=now)
    db.session.commit()
    swept_keys = keys_of([abandoned, sheet])
    kept_keys = keys_of([used, recent])
    assert abandoned.thumbnail_key and sheet.thumbnail_key is None and all(files.exists(k) for k in swept_keys)

    assert sweep.sweep_unattached(now=now) == {"uploads_deleted": 2, "files_deleted": 3}
    db.session.expire_all()
    left = set(db.session.scalars(select(Upload.id)))
    assert left == {used.id, recent.id}
    assert not any(files.exists(k) for k in swept_keys) and all(files.exists(k) for k in kept_keys)
    assert sweep.sweep_unattached(now=now) == {"uploads_deleted": 0, "files_deleted": 0}   # twice is harmless
    # A day later the recent one, still unattached, goes too.
    assert sweep.sweep_unattached(now=now + timedelta(days=1))["uploads_deleted"] == 1
    assert set(db.session.scalars(select(Upload.id))) == {used.id}


@pytest.mark.parametrize("app", ["local"], indirect=True)
def test_the_sweep_goes_past_a_batch_of_attached_uploads(app_context, now, monkeypatch):
    from app.services import activity_reports

    w = f.World(now).build("tree", "org", "team", "organizer")
    activity = held_activity(w, now, attendees=())
    photos = [store(w.organizer, UploadPurpose.ACTIVITY_PHOTO, now - timedelta(days=2)) for _ in range(3)]
    store(w.organizer, UploadPurpose.ACTIVITY_PHOTO, now - timedelta(days=2))  # stray: never attached
    db.session.commit()
    activity_reports.write(w.organizer, activity.id, summary="陪老人聊天、打扫房间", photo_tokens=[p.token for p in photos],
                           now=now)
    db.session.commit()
    photo_ids = [p.id for p in photos]
    monkeypatch.setattr(sweep, "BATCH", 2)
    assert sweep.sweep_unattached(now=now)["uploads_deleted"] == 1
    assert set(db.session.scalars(select(Upload.id))) == set(photo_ids)


def test_the_grace_is_configurable_and_the_job_is_scheduled(make_app, now):
    app = make_app(files={"unattached_grace_hours": 48})
    with app.app_context():
        w = f.World(now).build("tree", "org", "organizer")
        store(w.organizer, UploadPurpose.EVIDENCE, now - timedelta(hours=25))
        db.session.commit()
        assert sweep.sweep_unattached(now=now)["uploads_deleted"] == 0
        assert sweep.sweep_unattached(now=now + timedelta(hours=24))["uploads_deleted"] == 1
    assert "uploads_sweep" in {job.name for job in schedule.JOBS}
