"""Files and their signed download links: the same contract for the local directory and for S3.

Every contract test runs twice, on the local backend and on the s3 backend against moto's S3
server over HTTP (tests/s3.py), so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from app.config import ConfigError
from app.errors import DomainError
from app.services import files
from tests.s3 import s3_files, s3_server  # noqa: F401 (fixtures)


@pytest.fixture(params=["local", "s3"])
def app(request, make_app):
    """The app on each backend in turn (every test below takes it, directly or through app_context)."""
    if request.param == "s3":
        return make_app(files=request.getfixturevalue("s3_files"))
    return make_app()


def test_save_open_and_delete(app_context):
    key = files.save("exports", "名单.xlsx", b"PK-bytes")
    assert key.startswith("exports/") and key.endswith(".xlsx")
    with files.open(key) as stored:
        assert stored.read() == b"PK-bytes"
    assert files.exists(key) and files.size(key) == 8
    assert files.delete(key) is True
    assert files.delete(key) is False
    with pytest.raises(DomainError) as refused:
        files.open(key)
    assert refused.value.code == "file_not_found"
    with pytest.raises(DomainError):
        files.size(key)


def test_keys_are_random_and_a_path_is_moved_into_place(app_context, tmp_path):
    source = tmp_path / "big.xlsx"
    source.write_bytes(b"x" * 1000)
    first, second = files.save("exports", "a.xlsx", source), files.save("exports", "a.xlsx", b"y")
    assert first != second and len(first.split("/")[1]) >= 32
    assert not source.exists() and files.size(first) == 1000


def test_a_scratch_file_is_saved_under_a_key(app_context):
    path = files.scratch_path("exports", ".xlsx")
    path.write_bytes(b"z" * 70_000)
    key = files.save("exports", "e.xlsx", path)
    assert not path.exists()
    with files.open(key) as stored:
        assert stored.read() == b"z" * 70_000


@pytest.mark.parametrize("key", ["../config.toml", "exports/../../x", "exports/short", "/etc/passwd"])
def test_keys_outside_the_pattern_name_nothing(app_context, key):
    assert files.exists(key) is False
    assert files.delete(key) is False
    with pytest.raises(DomainError):
        files.open(key)


def test_a_signed_link_downloads_the_file_with_its_chinese_name(app, client, now):
    with app.app_context():
        key = files.save("exports", "x.xlsx", b"content")
        url = files.signed_url(key, filename="志愿者名单.xlsx", ttl_seconds=600)
    answer = client.get(url)
    assert answer.status_code == 200
    assert answer.data == b"content"
    assert "filename*=UTF-8''" + quote("志愿者名单.xlsx") in answer.headers["Content-Disposition"]
    assert answer.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "no-store" in answer.headers["Cache-Control"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_an_expired_link_is_410_and_a_forged_one_404(app, client, now):
    with app.app_context():
        key = files.save("exports", "x.xlsx", b"content")
        old = files.signed_url(key, filename="a.xlsx", ttl_seconds=60, now=now - timedelta(days=1))
        good = files.signed_url(key, filename="a.xlsx", ttl_seconds=600)
    expired = client.get(old)
    assert expired.status_code == 410 and expired.json["error"]["code"] == "link_expired"
    token = good.rsplit("/", 1)[1]
    forged = client.get(files.URL_PREFIX + token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert forged.status_code == 404 and forged.json["error"]["code"] == "file_not_found"


def test_a_link_to_a_deleted_file_is_404(app, client):
    with app.app_context():
        key = files.save("exports", "x.xlsx", b"content")
        url = files.signed_url(key, filename="a.xlsx", ttl_seconds=600)
        files.delete(key)
    answer = client.get(url)
    assert answer.status_code == 404 and answer.json["error"]["code"] == "file_not_found"


def test_a_link_expires_at_its_time(app_context, now):
    key = files.save("exports", "x.xlsx", b"c")
    token = files.signed_url(key, filename="a.xlsx", ttl_seconds=60, now=now).rsplit("/", 1)[1]
    assert files.resolve(token, now=now + timedelta(seconds=59)).key == key
    with pytest.raises(DomainError) as refused:
        files.resolve(token, now=now + timedelta(seconds=60))
    assert refused.value.status == 410


# --- the s3 backend only -------------------------------------------------------------------------


@pytest.mark.parametrize("app", ["s3"], indirect=True)
def test_s3_objects_live_under_the_prefix_in_a_private_bucket(app_context, s3_files, s3_server):
    import requests

    key = files.save("uploads", "p.jpg", b"\xff\xd8\xff-bytes")
    client = files.backend().client  # type: ignore[attr-defined]
    listed = client.list_objects_v2(Bucket=s3_files["s3"]["bucket"], Prefix="svc/" + key.split(".")[0])["Contents"]
    assert [item["Key"] for item in listed] == ["svc/" + key]
    head = client.head_object(Bucket=s3_files["s3"]["bucket"], Key="svc/" + key)
    assert head["ContentType"] == "image/jpeg"
    # Without a signature the store gives nothing away: reading goes through our signed links only.
    assert requests.get(f"{s3_server}/{s3_files['s3']['bucket']}/svc/{key}", timeout=5).status_code == 403


def test_an_unreachable_store_is_503_storage_unavailable_not_a_500(make_app, now):
    app = make_app(files={"backend": "s3", "s3": {"endpoint_url": "http://127.0.0.1:9", "bucket": "b",
                                                  "timeout_seconds": 1.0, "access_key_id": "k",
                                                  "secret_access_key": "s"}})
    with app.app_context():
        with pytest.raises(DomainError) as refused:
            files.save("exports", "a.xlsx", b"x")
        assert refused.value.code == "storage_unavailable" and refused.value.status == 503
        url = files.signed_url("exports/" + "A" * 32 + ".xlsx", filename="a.xlsx", ttl_seconds=60)
    answer = app.test_client().get(url)
    assert answer.status_code == 503 and answer.json["error"]["code"] == "storage_unavailable"


@pytest.mark.parametrize("change, message", [
    ({"backend": "ftp"}, "files.backend"),
    ({"backend": "s3"}, "files.s3.bucket"),
    ({"s3": {"addressing_style": "dns"}}, "addressing_style"),
    ({"upload_max_bytes": 10}, "upload_max_bytes"),
])
def test_file_settings_are_checked_at_start_up(make_app, change, message):
    with pytest.raises(ConfigError, match=message):
        make_app(files=change)
