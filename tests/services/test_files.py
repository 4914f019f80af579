"""Generated files and their signed download links."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from app.errors import DomainError
from app.services import files


def test_save_open_and_delete(app_context):
    key = files.save("exports", "名单.xlsx", b"PK-bytes")
    assert key.startswith("exports/") and key.endswith(".xlsx")
    with files.open(key) as stored:
        assert stored.read() == b"PK-bytes"
    assert files.delete(key) is True
    assert files.delete(key) is False
    with pytest.raises(DomainError) as refused:
        files.open(key)
    assert refused.value.code == "file_not_found"


def test_keys_are_random_and_a_path_is_moved_into_place(app_context, tmp_path):
    source = tmp_path / "big.xlsx"
    source.write_bytes(b"x" * 1000)
    first, second = files.save("exports", "a.xlsx", source), files.save("exports", "a.xlsx", b"y")
    assert first != second and len(first.split("/")[1]) >= 32
    assert not source.exists() and files.size(first) == 1000


@pytest.mark.parametrize("key", ["../config.toml", "exports/../../x", "exports/short", "/etc/passwd"])
def test_keys_outside_the_pattern_name_nothing(app_context, key):
    assert files.exists(key) is False
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
