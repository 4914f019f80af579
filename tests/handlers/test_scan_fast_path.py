"""The captain's scan answered below Flask (handlers/_fast_path.py, `checkins.scan_fast`).

A scan with a bearer token and a valid JSON body is answered by the fast path, which checks the
token in the scan's first query; any other request to the route is declined and answered by the
Flask view. Every request here is sent both ways, once as the app takes it and once to the Flask
view alone, and the two answers must agree byte for byte: status, headers and body.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import checkin_codes
from app.extensions import db
from app.services import accounts, checkin_displays
from handlers._fast_path import FastRoutes
from models import Checkin, CheckinScan
from tests import factories as f
from tests.handlers.test_scan_answers import statements


@pytest.fixture
def world(app, now):
    with app.app_context():
        w = f.scan_ready(now)
        checkin_displays.personal_code(w.bob.account, now=now)  # bob has a code but no sign-up
        gone, disabled, revoked = (f.account(openid, now) for openid in ("sim_gone", "sim_disabled", "sim_revoked"))
        db.session.flush()
        bearers = {**w.bearers("captain", "other_captain"),
                   **{name: f.bearer(row) for name, row in (("gone", gone), ("disabled", disabled), ("revoked", revoked))}}
        db.session.delete(gone)
        accounts.disable(disabled.id, actor_account_id=None, reason="测试", now=now)
        accounts.revoke_tokens(revoked.id)
        world = {"activity_id": w.activity.id, "starts_at": w.activity.starts_at, "bearers": bearers,
                 "codes": {"volunteer": (w.volunteer.id, w.volunteer.checkin_secret),
                           "bob": (w.bob.id, w.bob.checkin_secret)}}
        db.session.commit()
    return world


def code_of(world, who: str, at) -> str:
    volunteer_id, secret = world["codes"][who]
    return checkin_codes.personal_code(volunteer_id, secret, at)


def both_ways(app, client, monkeypatch, path: str, **request):
    """(the app's answer, the Flask view's answer) to the same request."""
    assert isinstance(app.wsgi_app, FastRoutes)
    answer = client.post(path, **request)
    with monkeypatch.context() as flask_only:
        flask_only.setattr(app, "wsgi_app", app.wsgi_app.wsgi_app)
        reference = client.post(path, **request)
    return answer, reference


def same(answer, reference) -> None:
    assert answer.status == reference.status
    assert answer.headers.to_wsgi_list() == reference.headers.to_wsgi_list()
    assert answer.data == reference.data


def queries(sent: list[str]) -> list[str]:
    """The statements sent, less SQLite's BEGIN (the app's SQLite engine sends it as a statement)."""
    return [statement for statement in sent if not statement.startswith("BEGIN")]


def headers_but_length(answer) -> list[tuple[str, str]]:
    """The answer's headers, less its Content-Length ("replayed":false and true differ by one byte)."""
    return [(name, value) for name, value in answer.headers.to_wsgi_list() if name != "Content-Length"]


def scans(world) -> str:
    return f"/api/v1/activities/{world['activity_id']}/scans"


# A request to the scan route: (bearer of, path, JSON body or raw data, extra headers), at the activity's start.
def _body(world, at, who="volunteer", **extra):
    return {"code": code_of(world, who, at), "nonce": "fast-path-001", **extra}


REFUSED = {
    # answered by the fast path, refused by the rules or the caller's account
    "not signed up": lambda w, at: ("captain", scans(w), {"json": _body(w, at, "bob")}),
    "unreadable code": lambda w, at: ("captain", scans(w), {"json": {"code": "nonsense", "nonce": "fast-path-001"}}),
    "wrong digits": lambda w, at: ("captain", scans(w), {"json": {"code": code_of(w, "volunteer", at)[:-6] + "000000",
                                                                  "nonce": "fast-path-001"}}),
    "expired code": lambda w, at: ("captain", scans(w), {"json": _body(w, at - timedelta(minutes=5))}),
    "before the window": lambda w, at: ("captain", scans(w), {"json": _body(w, at - timedelta(hours=3))}),
    "clock ahead": lambda w, at: ("captain", scans(w), {"json": _body(w, at, scanned_at=(at + timedelta(hours=1))
                                                                       .isoformat())}),
    "no such activity": lambda w, at: ("captain", "/api/v1/activities/999999/scans", {"json": _body(w, at)}),
    "another team's captain": lambda w, at: ("other_captain", scans(w), {"json": _body(w, at)}),
    "account removed": lambda w, at: ("gone", scans(w), {"json": _body(w, at)}),
    "account disabled": lambda w, at: ("disabled", scans(w), {"json": _body(w, at)}),
    "token revoked": lambda w, at: ("revoked", scans(w), {"json": _body(w, at)}),
    "token revoked, no such activity": lambda w, at: ("revoked", "/api/v1/activities/999999/scans",
                                                      {"json": _body(w, at)}),
    "forged token": lambda w, at: (None, scans(w), {"json": _body(w, at), "headers": {
        "Authorization": w["bearers"]["captain"]["Authorization"][:-3] + "AAA"}}),
    # declined by the fast path: Flask answers, having read the body the fast path put back
    "unknown field": lambda w, at: ("captain", scans(w), {"json": _body(w, at, extra="x")}),
    "nonce too short": lambda w, at: ("captain", scans(w), {"json": {**_body(w, at), "nonce": "short"}}),
    "code not text": lambda w, at: ("captain", scans(w), {"json": {**_body(w, at), "code": 123456}}),
    "broken JSON": lambda w, at: ("captain", scans(w), {"data": b'{"code": ', "content_type": "application/json"}),
    "not an object": lambda w, at: ("captain", scans(w), {"json": [_body(w, at)]}),
    "lone surrogate": lambda w, at: ("captain", scans(w), {"data": b'{"code": "\\ud800", "nonce": "fast-path-001"}',
                                                           "content_type": "application/json"}),
    "nested too deep": lambda w, at: ("captain", scans(w), {"data": b'{"code": ' + b"[" * 200 + b"]" * 200 + b"}",
                                                            "content_type": "application/json"}),
    "not JSON": lambda w, at: ("captain", scans(w), {"data": b"code=1", "content_type": "text/plain"}),
    "empty body": lambda w, at: ("captain", scans(w), {"data": b"", "content_type": "application/json"}),
    "no token": lambda w, at: (None, scans(w), {"json": _body(w, at)}),
    "not a bearer token": lambda w, at: (None, scans(w), {"json": _body(w, at),
                                                          "headers": {"Authorization": "Basic eA=="}}),
    "activity id out of range": lambda w, at: ("captain", "/api/v1/activities/2147483648/scans",
                                               {"json": _body(w, at)}),
}


@pytest.mark.parametrize("case", REFUSED)
def test_every_refusal_is_the_flask_views_byte_for_byte_and_writes_nothing(app, client, world, monkeypatch, case):
    at = world["starts_at"]
    app.extensions["clock"] = lambda: at
    who, path, request = REFUSED[case](world, at)
    request = {**request, "headers": {**(world["bearers"][who] if who else {}), **request.get("headers", {})}}
    answer, reference = both_ways(app, client, monkeypatch, path, **request)
    assert answer.status_code >= 400, answer.data
    assert answer.is_json and set(answer.get_json()) == {"error"}
    same(answer, reference)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CheckinScan)) == 0
        assert db.session.scalar(select(func.count()).select_from(Checkin)) == 0


def test_a_check_in_and_a_check_out_are_answered_as_the_flask_view_replays_them(app, client, world, monkeypatch):
    start = world["starts_at"]
    headers = world["bearers"]["captain"]
    app.extensions["clock"] = lambda: start
    checked_in, replayed = both_ways(app, client, monkeypatch, scans(world), headers=headers,
                                     json=_body(world, start))
    assert checked_in.get_json()["result"] == "checked_in" and replayed.get_json()["replayed"] is True
    assert checked_in.data.replace(b'"replayed":false', b'"replayed":true') == replayed.data
    assert headers_but_length(checked_in) == headers_but_length(replayed)
    later = start + timedelta(hours=2)
    app.extensions["clock"] = lambda: later
    # This time the Flask view answers first, and the fast path replays.
    with monkeypatch.context() as flask_only:
        flask_only.setattr(app, "wsgi_app", app.wsgi_app.wsgi_app)
        checked_out = client.post(scans(world), headers=headers,
                                  json={"code": code_of(world, "volunteer", later), "nonce": "fast-path-002"})
    again = client.post(scans(world), headers=headers,
                        json={"code": code_of(world, "volunteer", later), "nonce": "fast-path-002"})
    assert checked_out.get_json()["result"] == "checked_out" and checked_out.get_json()["minutes"] == 120
    assert again.data == checked_out.data.replace(b'"replayed":false', b'"replayed":true')
    assert headers_but_length(again) == headers_but_length(checked_out)


def test_a_json_content_type_with_a_charset_is_answered_by_the_fast_path(app, client, world):
    start = world["starts_at"]
    app.extensions["clock"] = lambda: start
    with statements(app) as sent:
        answer = client.post(scans(world), headers={**world["bearers"]["captain"],
                                                    "Content-Type": "application/json; charset=utf-8"},
                             data=f'{{"code": "{code_of(world, "volunteer", start)}", "nonce": "fast-path-003"}}')
    assert answer.status_code == 200 and answer.get_json()["result"] == "checked_in"
    assert "FROM accounts AS caller" in queries(sent)[0]


def test_the_fast_path_reads_the_callers_account_in_the_scans_first_query(app, client, world):
    start = world["starts_at"]
    app.extensions["clock"] = lambda: start
    with statements(app) as sent:
        answer = client.post(scans(world), headers=world["bearers"]["captain"], json=_body(world, start))
    assert answer.get_json()["result"] == "checked_in"
    # No lookup of the account of its own: the door's query reads it ("accounts AS caller").
    first, *rest = queries(sent)
    assert "FROM accounts AS caller" in first and "activities" in first
    assert not any("FROM accounts" in statement for statement in rest), rest


def test_a_chunked_scan_is_left_unread_to_the_flask_view_which_checks_it_in(app, client, world):
    # No Content-Length (a chunked body, as granian or gunicorn passes it on): the fast path declines without
    # reading, and the view reads the stream.
    start = world["starts_at"]
    app.extensions["clock"] = lambda: start
    body = json.dumps(_body(world, start)).encode()
    with statements(app) as sent:
        answer = client.post(scans(world), input_stream=io.BytesIO(body),
                             headers={**world["bearers"]["captain"], "Content-Type": "application/json",
                                      "Transfer-Encoding": "chunked"},
                             environ_overrides={"wsgi.input_terminated": True})
    assert answer.status_code == 200 and answer.get_json()["result"] == "checked_in"
    assert "FROM accounts AS caller" not in queries(sent)[0]  # the view's own account lookup came first
    with app.app_context():
        assert db.session.scalars(select(CheckinScan.nonce)).all() == ["fast-path-001"]
