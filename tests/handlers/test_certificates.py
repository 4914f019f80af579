"""The certificate API end to end: request, review, objection, issue, PDF (303/409), verification page, revocation, access."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.extensions import db
from app.services.certificates import tasks
from models import Certificate
from tests.handlers.test_bulletins import _inflated
from tests.services.test_certificates import served  # noqa: F401 (fixture)

URL = "/api/v1"
PERIOD = {"period_start": "2026-01-01", "period_end": "2026-11-22"}


@pytest.fixture
def cast(app, served):  # noqa: F811
    clock = {"now": served.now}
    app.extensions["clock"] = lambda: clock["now"]
    headers = served.bearers("alice", "bob", "organizer", "other_organizer", "admin")
    ids = {"org": served.org.id, "other_org": served.other_org.id, "district": served.tree["district"].id}
    db.session.commit()
    return {"clock": clock, "h": headers, **ids}


def request_mine(client, cast, nonce="req-00001"):
    answer = client.post(f"{URL}/me/certificates", json={**PERIOD, "note": "求职用", "nonce": nonce},
                         headers=cast["h"]["alice"])
    assert answer.status_code == 201, answer.json
    return {item["organization_id"]: item for item in answer.json["items"]}


def approve(client, cast, certificate_id):
    answer = client.post(f"{URL}/certificates/{certificate_id}/review", json={"decision": "approve", "nonce": "rev-00001"},
                         headers=cast["h"]["organizer"])
    assert answer.status_code == 200, answer.json
    return answer.json


def test_the_whole_life_of_a_certificate(app, client, cast):
    mine = request_mine(client, cast)
    assert sorted(mine) == sorted([cast["org"], cast["other_org"]])
    replay = client.post(f"{URL}/me/certificates", json={**PERIOD, "note": "求职用", "nonce": "req-00001"},
                         headers=cast["h"]["alice"])
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    certificate = mine[cast["org"]]
    assert certificate["status"] == "requested" and certificate["serial"] is None

    listed = client.get(f"{URL}/organizations/{cast['org']}/certificates?status=requested", headers=cast["h"]["organizer"])
    assert [item["id"] for item in listed.json["items"]] == [certificate["id"]]
    # The handler sees whose request it is before any content exists: the masked name only.
    assert listed.json["items"][0]["volunteer_name"] == "张*丰" and listed.json["items"][0]["content"] is None

    approved = approve(client, cast, certificate["id"])
    assert approved["status"] == "publicity" and approved["content"]["service"]["hours"] == 2.5
    verify_url = approved["verification_url"]
    path = verify_url.removeprefix("https://volunteer.example.org")

    page = client.get(path)
    assert page.status_code == 200 and "公示中" in page.text and "张*丰" in page.text and "<script" not in page.text
    assert "张三丰" not in page.text

    objection = client.post(f"{URL}/certificates/{certificate['id']}/objections",
                            json={"reason": "时长与签到表不符", "nonce": "obj-00001"}, headers=cast["h"]["bob"])
    assert objection.status_code == 201
    cast["clock"]["now"] = cast["clock"]["now"] + timedelta(days=8)
    refused = client.post(f"{URL}/certificates/{certificate['id']}/issue", json={"nonce": "iss-00001"},
                          headers=cast["h"]["organizer"])
    assert (refused.status_code, refused.json["error"]["code"]) == (409, "objections_open")
    dismissed = client.post(f"{URL}/certificates/{certificate['id']}/objections/{objection.json['id']}/decision",
                            json={"decision": "dismiss", "note": "已核对签到表", "nonce": "dec-00001"},
                            headers=cast["h"]["organizer"])
    assert dismissed.status_code == 200 and dismissed.json["status"] == "dismissed"

    pending = client.get(f"{URL}/certificates/{certificate['id']}/pdf", headers=cast["h"]["alice"])
    assert (pending.status_code, pending.json["error"]["code"]) == (409, "pdf_not_ready")
    issued = client.post(f"{URL}/certificates/{certificate['id']}/issue", json={"nonce": "iss-00002"},
                         headers=cast["h"]["organizer"])
    assert issued.status_code == 200 and issued.json["status"] == "issued"
    assert len(issued.json["snapshot_sha256"]) == 64
    db.session.rollback()
    with app.app_context():
        assert tasks.render(certificate["id"]) in (True, False)   # the queued task may have run already
        row = db.session.get(Certificate, certificate["id"])
        assert row.pdf_status.value == "ready"
    link = client.get(f"{URL}/certificates/{certificate['id']}/pdf", headers=cast["h"]["alice"])
    assert link.status_code == 303 and link.headers["Location"] == link.json["url"]
    pdf = client.get(link.json["url"]).data
    assert pdf.startswith(b"%PDF") and len(pdf) <= 150_000
    objects = _inflated(pdf)
    assert re.search(rb"/MediaBox\s*\[\s*0 0 595\.\d+ 841\.\d+", objects)
    fonts = set(re.findall(rb"/FontName\s*/([A-Z]{6}\+[A-Za-z0-9-]+)", objects))
    assert any(b"GB2312" in name for name in fonts), fonts

    page = client.get(path)
    assert page.status_code == 200 and "有效" in page.text and issued.json["snapshot_sha256"] in page.text
    machine = client.get(path, headers={"Accept": "application/json"})
    assert machine.status_code == 200 and machine.json["status"] == "issued" and machine.json["hours"] == 2.5
    assert machine.json["revoked"] is False and machine.json["masked_name"] == "张*丰"

    revoked = client.post(f"{URL}/certificates/{certificate['id']}/revoke",
                          json={"reason": "服务记录经查不实", "nonce": "rvk-00001"}, headers=cast["h"]["organizer"])
    assert revoked.status_code == 200 and revoked.json["status"] == "revoked"
    gone = client.get(path)
    assert gone.status_code == 410 and "已撤销" in gone.text and "服务记录经查不实" in gone.text
    assert "2026-12-01" in gone.text
    gone_json = client.get(path + "&format=json")
    assert gone_json.status_code == 410 and gone_json.json["revoked"] is True
    assert gone_json.json["revocation_reason"] == "服务记录经查不实"


def test_unknown_serials_and_wrong_codes_are_404_and_lookups_are_rate_limited(client, cast):
    certificate = request_mine(client, cast)[cast["org"]]
    approved = approve(client, cast, certificate["id"])
    serial = approved["serial"]
    for path in (f"/v/{serial}?c=AAAAAAAAAAAAAAAA", f"/v/{serial}", "/v/ZM000999-2026-00001?c=AAAAAAAAAAAAAAAA",
                 "/v/<script>?c=x"):
        answer = client.get(path)
        assert answer.status_code == 404 and "查无此证明" in answer.text, path
    assert client.get(f"/v/{serial}?c=x&format=json").json["error"]["code"] == "certificate_not_found"
    statuses = [client.get(f"/v/{serial}?c=x").status_code for _ in range(12)]
    assert statuses[-1] == 429
    other_client = client.get(approved["verification_url"].removeprefix("https://volunteer.example.org"),
                              environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert other_client.status_code == 200


@pytest.mark.parametrize("who, method, path, body, status, code", [
    (None, "get", "/certificates/{id}", None, 401, "missing_token"),
    ("bob", "get", "/certificates/{id}", None, 404, "certificate_not_found"),
    ("other_organizer", "get", "/certificates/{id}", None, 404, "certificate_not_found"),
    ("other_organizer", "post", "/certificates/{id}/review", {"decision": "approve"}, 404, "certificate_not_found"),
    ("admin", "post", "/certificates/{id}/review", {"decision": "approve"}, 403, "not_certificate_handler"),
    ("alice", "post", "/certificates/{id}/review", {"decision": "approve"}, 403, "not_certificate_handler"),
    ("other_organizer", "get", "/organizations/{org}/certificates", None, 403, "not_organizer_or_admin"),
    ("alice", "post", "/certificates/{id}/revoke", {"reason": "不要了"}, 403, "not_certificate_handler"),
    ("organizer", "post", "/certificates/{id}/revoke", {"reason": "不要了"}, 409, "certificate_not_issued"),
    ("organizer", "post", "/certificates/{id}/issue", {}, 409, "not_in_publicity"),
    ("organizer", "post", "/certificates/{id}/review", {"decision": "reject"}, 422, "rejection_reason_required"),
    ("bob", "post", "/certificates/{id}/objections", {"reason": "不同意"}, 404, "certificate_not_found"),
    ("bob", "put", "/regions/{district}/certificate-policy", {"publicity_days": 5, "working_days": True}, 403,
     "not_admin_of_region"),
])
def test_who_may_do_what(client, cast, who, method, path, body, status, code):
    certificate = request_mine(client, cast)[cast["org"]]
    url = URL + path.format(id=certificate["id"], org=cast["org"], district=cast["district"])
    kwargs = {"headers": cast["h"][who]} if who else {}
    if body is not None:
        kwargs["json"] = {**body, "nonce": "who-00001"}
    answer = getattr(client, method)(url, **kwargs)
    assert (answer.status_code, answer.json["error"]["code"]) == (status, code)


def test_the_holder_and_overseers_read_it_and_the_region_admin_sets_the_rule(client, cast):
    certificate = request_mine(client, cast)[cast["org"]]
    for who in ("alice", "organizer", "admin"):
        assert client.get(f"{URL}/certificates/{certificate['id']}", headers=cast["h"][who]).status_code == 200
    mine = client.get(f"{URL}/me/certificates", headers=cast["h"]["alice"])
    assert len(mine.json["items"]) == 2
    rule = client.put(f"{URL}/regions/{cast['district']}/certificate-policy",
                      json={"publicity_days": 5, "working_days": True, "nonce": "pol-00001"}, headers=cast["h"]["admin"])
    assert rule.status_code == 200 and rule.json["publicity_days"] == 5
    approved = approve(client, cast, certificate["id"])
    # Approved Monday 2026-11-23: five working days are 11-24 … 11-30 (the weekend skipped).
    assert approved["publicity_ends_at"].startswith("2026-11-30T16:00")


def test_bad_requests_change_nothing(client, cast):
    bad = client.post(f"{URL}/me/certificates", json={"period_start": "2026-11-22", "period_end": "2026-01-01",
                                                      "nonce": "bad-00001"}, headers=cast["h"]["alice"])
    assert (bad.status_code, bad.json["error"]["code"]) == (422, "invalid_certificate_period")
    none = client.post(f"{URL}/me/certificates", json={"period_start": "2019-01-01", "period_end": "2019-12-31",
                                                       "nonce": "bad-00002"}, headers=cast["h"]["bob"])
    assert (none.status_code, none.json["error"]["code"]) == (422, "no_hours_in_period")
    extra = client.post(f"{URL}/me/certificates", json={**PERIOD, "nonce": "bad-00003", "status": "issued"},
                        headers=cast["h"]["alice"])
    assert extra.status_code == 422
    assert client.get(f"{URL}/me/certificates", headers=cast["h"]["alice"]).json["items"] == []


def test_the_page_is_revalidated_every_view_and_an_unchanged_one_is_a_304(client, cast):
    certificate = request_mine(client, cast)[cast["org"]]
    approved = approve(client, cast, certificate["id"])
    path = approved["verification_url"].removeprefix("https://volunteer.example.org")
    first = client.get(path)
    assert first.status_code == 200 and first.headers["Cache-Control"] == "private, no-cache"
    assert first.headers["Vary"] == "Accept" and first.headers["ETag"].startswith('"publicity-')
    again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert client.get(path, headers={"If-None-Match": '"issued-x-0"'}).status_code == 200
    wrong = client.get(path[:-4] + "AAAA", headers={"If-None-Match": first.headers["ETag"]})
    assert wrong.status_code == 404   # the validator never stands in for the code


def test_the_page_reads_again_after_its_connection_died(app, client, cast):
    """PostgreSQL: the page's own autocommit pool pings nothing; a dead connection is retried once."""
    import sqlalchemy as sa
    from app.extensions import db

    certificate = request_mine(client, cast)[cast["org"]]
    path = approve(client, cast, certificate["id"])["verification_url"].removeprefix("https://volunteer.example.org")
    assert client.get(path).status_code == 200
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the autocommit pool is PostgreSQL's")
        with db.engine.connect() as connection:
            connection.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                       "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    assert client.get(path).status_code == 200
