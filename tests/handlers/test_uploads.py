"""POST /api/v1/uploads and GET /api/v1/uploads/{token}: multipart in, a token and signed links out.

The bad files of the issue (a truncated JPEG, a PNG named .pdf, a zip, an SVG, an oversize file, a
bomb), GPS gone from what is served, nonce idempotency, the owner-only read, and the same flow with
the s3 backend over moto's server.
"""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from PIL import Image
from sqlalchemy import func, select

from app.extensions import db
from models import IdempotentRequest, Upload
from tests import factories as f
from tests import images
from tests.fakes import serve
from tests.s3 import s3_files, s3_server  # noqa: F401 (fixtures)


@pytest.fixture
def people(app, now):
    with app.app_context():
        alice, bob = f.account("sim_alice", now), f.account("sim_bob", now)
        people = {"alice": f.bearer(alice), "bob": f.bearer(bob)}
        db.session.commit()
    return people


def post(client, headers, data: bytes, *, filename: str = "photo.jpg", purpose: str = "activity_photo",
         nonce: str = "upload-0001", mimetype: str = "image/jpeg"):
    return client.post("/api/v1/uploads", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), filename, mimetype), "purpose": purpose, "nonce": nonce})


def uploads_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Upload))


def test_a_photo_is_answered_with_its_token_and_links_and_served_without_gps(app, client, people):
    answer = post(client, people["alice"], images.jpeg_with_gps((800, 600), orientation=6))
    assert answer.status_code == 201, answer.json
    body = answer.json
    assert body["content_type"] == "image/jpeg" and body["purpose"] == "activity_photo"
    assert (body["width"], body["height"]) == (600, 800) and len(body["token"]) >= 32
    served = client.get(body["url"])
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/jpeg"
    image = Image.open(io.BytesIO(served.data))
    assert not image.getexif() and "xmp" not in image.info and b"GPS" not in served.data
    assert len(served.data) == body["size_bytes"]
    thumbnail = Image.open(io.BytesIO(client.get(body["thumbnail_url"]).data))
    assert thumbnail.format == "JPEG" and thumbnail.size == (240, 320)


@pytest.mark.parametrize("data, filename, purpose, status, code", [
    (images.noise_jpeg()[:20_000], "photo.jpg", "activity_photo", 422, "corrupt_file"),
    (images.zip_file(), "photos.jpg", "evidence", 415, "unsupported_file_type"),
    (images.SVG, "photo.svg", "activity_photo", 415, "unsupported_file_type"),
    (images.pdf(), "sheet.jpg", "declaration_photo", 415, "unsupported_file_type"),
    (images.png_bomb(), "bomb.png", "activity_photo", 422, "image_too_large"),
], ids=["truncated-jpeg", "zip", "svg", "pdf-as-photo", "bomb"])
def test_bad_files_are_refused_with_their_code_and_nothing_is_kept(app, client, people, data, filename, purpose,
                                                                   status, code):
    answer = post(client, people["alice"], data, filename=filename, purpose=purpose)
    assert answer.status_code == status, answer.json
    assert answer.json["error"]["code"] == code and "file" in answer.json["error"]["fields"]
    assert uploads_count(app) == 0


def test_a_png_named_pdf_is_kept_as_the_png_it_is(app, client, people):
    answer = post(client, people["alice"], images.png_with_gps(), filename="sheet.pdf", purpose="evidence",
                  mimetype="application/pdf")
    assert answer.status_code == 201 and answer.json["content_type"] == "image/png"
    assert client.get(answer.json["url"]).headers["Content-Type"] == "image/png"


def test_a_pdf_is_evidence_without_a_thumbnail(app, client, people):
    answer = post(client, people["alice"], images.pdf(), filename="sheet.pdf", purpose="evidence")
    assert answer.status_code == 201
    assert answer.json["content_type"] == "application/pdf" and answer.json["thumbnail_url"] is None
    assert client.get(answer.json["url"]).data == images.pdf()


def test_a_file_over_the_limit_is_413_file_too_large(make_app, now):
    app = make_app(files={"upload_max_bytes": 4096})
    with app.app_context():
        headers = f.bearer(f.account("sim_big", now))
        db.session.commit()
    client = app.test_client()
    over = post(client, headers, images.noise_jpeg((60, 60)))  # ~5 KB, within the multipart allowance
    assert over.status_code == 413 and over.json["error"]["code"] == "file_too_large"
    far_over = post(client, headers, b"\xff\xd8\xff" + b"\x00" * 200_000)  # refused by its declared length
    assert far_over.status_code == 413 and far_over.json["error"]["code"] == "file_too_large"
    assert post(client, headers, images.jpeg_with_gps((90, 100)), nonce="upload-0002").status_code == 201


def test_the_form_is_validated(app, client, people):
    missing = client.post("/api/v1/uploads", headers=people["alice"], content_type="multipart/form-data",
                          data={"purpose": "activity_photo", "nonce": "upload-0001"})
    assert missing.status_code == 422 and "file" in missing.json["error"]["fields"]
    text_not_file = client.post("/api/v1/uploads", headers=people["alice"], content_type="multipart/form-data",
                                data={"file": "abc", "purpose": "activity_photo", "nonce": "upload-0001"})
    assert text_not_file.status_code == 422 and "file" in text_not_file.json["error"]["fields"]
    wrong_purpose = post(client, people["alice"], images.jpeg_with_gps(), purpose="selfie")
    assert wrong_purpose.status_code == 422 and "purpose" in wrong_purpose.json["error"]["fields"]
    no_nonce = client.post("/api/v1/uploads", headers=people["alice"], content_type="multipart/form-data",
                           data={"file": (io.BytesIO(images.jpeg_with_gps()), "a.jpg"), "purpose": "evidence"})
    assert no_nonce.status_code == 422 and "nonce" in no_nonce.json["error"]["fields"]
    as_json = client.post("/api/v1/uploads", headers=people["alice"], json={"purpose": "evidence", "nonce": "upload-0001"})
    assert as_json.status_code in (415, 422)
    empty = client.post("/api/v1/uploads", headers=people["alice"])
    assert empty.status_code == 422 and "file" in empty.json["error"]["fields"]
    assert uploads_count(app) == 0


def test_uploads_are_limited_per_account_and_minute(make_app, now):
    app = make_app(files={"uploads_per_minute": 2})
    with app.app_context():
        alice, bob = f.bearer(f.account("sim_rate_a", now)), f.bearer(f.account("sim_rate_b", now))
        db.session.commit()
    client = app.test_client()
    statuses = [post(client, alice, images.jpeg_with_gps(), nonce=f"rate-nonce-{i}").status_code for i in range(3)]
    assert statuses == [201, 201, 429]
    assert post(client, bob, images.jpeg_with_gps(), nonce="rate-nonce-b").status_code == 201


def test_uploading_needs_a_login(client):
    answer = post(client, {}, images.jpeg_with_gps())
    assert answer.status_code == 401


def test_the_same_nonce_again_answers_the_first_answer_and_keeps_one_file(app, client, people):
    first = post(client, people["alice"], images.jpeg_with_gps())
    again = post(client, people["alice"], images.jpeg_with_gps())
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    other_file = post(client, people["alice"], images.png_with_gps())
    assert other_file.status_code == 422 and other_file.json["error"]["code"] == "nonce_reused"
    assert uploads_count(app) == 1


def test_the_owner_reads_an_upload_with_fresh_links_nobody_else_does(app, client, people):
    token = post(client, people["alice"], images.jpeg_with_gps()).json["token"]
    mine = client.get(f"/api/v1/uploads/{token}", headers=people["alice"])
    assert mine.status_code == 200 and mine.json["token"] == token
    assert client.get(mine.json["url"]).status_code == 200
    for headers in (people["bob"],):
        theirs = client.get(f"/api/v1/uploads/{token}", headers=headers)
        assert theirs.status_code == 404 and theirs.json["error"]["code"] == "upload_not_found"
    for unknown in ("A" * 32, "A" * 30 + "%00B", "A" * 30 + "\u72d7\u72d7"):
        answer = client.get("/api/v1/uploads/" + unknown, headers=people["alice"])
        assert answer.status_code == 404 and answer.json["error"]["code"] == "upload_not_found", unknown
    assert client.get(f"/api/v1/uploads/{token}").status_code == 401


def test_ten_simultaneous_repeats_of_one_upload_keep_one_row_and_one_file(make_app, now, tmp_path):
    """The nonce's unique key decides; the losers' stored files are deleted when their transaction rolls back."""
    app = make_app(files={"directory": str(tmp_path)})
    with app.app_context():
        headers = f.bearer(f.account("sim_racer", now))
        db.session.commit()
    data = images.jpeg_with_gps((400, 300))
    barrier = threading.Barrier(10)

    def send(base_url: str) -> tuple[int, dict]:
        barrier.wait(timeout=30)
        response = requests.post(f"{base_url}/api/v1/uploads", headers=headers, timeout=60,
                                 files={"file": ("a.jpg", data, "image/jpeg")},
                                 data={"purpose": "activity_photo", "nonce": "same-nonce-01"})
        return response.status_code, response.json()

    with serve(app) as base_url, ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(send, [base_url] * 10))
    assert {status for status, _ in results} == {201}, results
    assert len({body["token"] for _, body in results}) == 1
    assert uploads_count(app) == 1
    with app.app_context():
        row = db.session.scalar(select(Upload))
        assert db.session.scalar(select(func.count()).select_from(IdempotentRequest)) == 1
        # Whoever lost the race had stored its files too: they went with its rolled-back transaction.
        assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("*/*")) == sorted(
            [row.storage_key, row.thumbnail_key])


def test_the_whole_flow_on_the_s3_backend(make_app, now, s3_files):
    app = make_app(files=s3_files)
    with app.app_context():
        headers = f.bearer(f.account("sim_s3", now))
        db.session.commit()
    client = app.test_client()
    answer = post(client, headers, images.jpeg_with_gps((640, 480)))
    assert answer.status_code == 201, answer.json
    served = client.get(answer.json["url"])
    assert served.status_code == 200 and b"GPS" not in served.data and not Image.open(io.BytesIO(served.data)).getexif()
    assert Image.open(io.BytesIO(client.get(answer.json["thumbnail_url"]).data)).size == (320, 240)
    with app.app_context():
        from app.services import files

        row = db.session.scalar(select(Upload))
        assert files.size(row.storage_key) == answer.json["size_bytes"]
        assert not (files.root() / row.storage_key).exists()  # in the bucket, not on disk
