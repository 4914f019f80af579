"""Bad input never gives a 500 and never changes anything: the rules, one by one.

tests/handlers/test_hostile_input.py sends the same kinds of input to every operation of the
OpenAPI document; these tests pin the answers (status, code, field) on representative routes.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.json_depth import MAX_JSON_DEPTH, nests_deeper_than
from models import Activity, ActivityStatus, AuditLog, Volunteer
from tests import factories as f


@pytest.fixture
def world(app, now):
    app.extensions["clock"] = lambda: now
    with app.app_context():
        w = f.World(now).build("tree", "org")
        w["activity"] = w.add_activity(of_team=False)
        draft = w.add_activity(of_team=False, status=ActivityStatus.DRAFT)
        w.build("organizer")
        newcomer = f.account("sim_new", now)
        world = {"org_id": w.org.id, "community_id": w.tree["community"].id, "activity_id": w.activity.id,
                 "draft_id": draft.id, "organizer": f.bearer(w.organizer), "newcomer": f.bearer(newcomer)}
        db.session.commit()
    return world


def snapshot(app, activity_id):
    """What a refused request must leave as it was: the activity's row and the audit log."""
    with app.app_context():
        activity = db.session.get(Activity, activity_id)
        row = {column.name: getattr(activity, column.key) for column in Activity.__table__.columns}
        return row, db.session.scalar(select(func.count()).select_from(AuditLog))


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def error(response):
    return response.status_code, response.json["error"]["code"], response.json["error"].get("fields")


# --- JSON nesting ---------------------------------------------------------------------------------

def test_nesting_is_measured_outside_strings_and_without_recursion():
    assert not nests_deeper_than(nested(MAX_JSON_DEPTH).encode())
    assert nests_deeper_than(nested(MAX_JSON_DEPTH + 1).encode())
    assert nests_deeper_than(b"[" * 1_000_000)  # would be a RecursionError for any recursive measure
    # Brackets inside strings, escaped quotes included, do not nest.
    assert not nests_deeper_than(b'{"a": "' + b"[" * 100 + b'\\"' + b"{" * 100 + b'"}')
    # Objects and arrays count alike.
    assert nests_deeper_than(('{"a":[' * 17 + "1" + "]}" * 17).encode())
    assert not nests_deeper_than(('{"a":[' * 16 + "1" + "]}" * 16).encode())


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/v1/activities", "/api/v1/me/messages/read"])
def test_json_nested_a_thousand_deep_is_400_malformed_json(client, world, path):
    body = '{"code":' + nested(1000) + "}"
    response = client.post(path, data=body, content_type="application/json", headers=world["organizer"])
    assert response.status_code == 400 and response.json["error"]["code"] == "malformed_json"


def test_json_within_the_depth_limit_reaches_the_schema(client):
    body = '{"code":' + nested(MAX_JSON_DEPTH - 1) + "}"
    response = client.post("/api/v1/auth/login", data=body, content_type="application/json")
    assert error(response) == (422, "validation_failed", {"code": "应为文本"})


def test_a_deep_json_push_is_refused_by_the_callback_parser(app):
    from app.wechat.callbacks import CallbackRejected, open_callback
    from tests.wechat.test_callbacks import account_conf, signed_args

    conf = account_conf(app, "miniprogram")
    with pytest.raises(CallbackRejected) as caught:
        open_callback(conf, signed_args(conf["token"]), b'{"ToUserName":' + nested(5000).encode() + b"}")
    assert caught.value.status == 400 and caught.value.code == "malformed_body"


def test_a_chunked_body_without_content_length_is_checked_too(client):
    body = ('{"code":' + nested(1000) + "}").encode()
    response = client.post("/api/v1/auth/login", input_stream=__import__("io").BytesIO(body),
                           content_type="application/json",
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 400 and response.json["error"]["code"] == "malformed_json"


# --- bodies that are not objects ------------------------------------------------------------------

@pytest.mark.parametrize("body", ["[]", "null", '"title"', "0", "1", "true", "false", '["x"]'])
def test_a_patch_whose_body_is_not_an_object_is_422_and_changes_nothing(app, client, world, body):
    before = snapshot(app, world["activity_id"])
    response = client.patch(f"/api/v1/activities/{world['activity_id']}", data=body, content_type="application/json",
                            headers=world["organizer"])
    assert error(response) == (422, "validation_failed", {"body": "请求体应为 JSON 对象"})
    assert snapshot(app, world["activity_id"]) == before


def test_null_is_json_but_broken_json_is_not(client, world):
    null = client.post("/api/v1/auth/login", data="null", content_type="application/json")
    broken = client.post("/api/v1/auth/login", data="nul", content_type="application/json")
    assert null.status_code == 422 and broken.status_code == 400 and broken.json["error"]["code"] == "malformed_json"


def test_a_route_without_a_body_refuses_one_but_takes_an_empty_object(app, client, world):
    url = f"/api/v1/activities/{world['draft_id']}/publish"
    before = snapshot(app, world["draft_id"])
    refused = client.post(url, json={"title": "顺便改个名"}, headers=world["organizer"])
    assert error(refused) == (422, "validation_failed", {"body": "此接口不接受请求内容"})
    assert client.post(url, json=[], headers=world["organizer"]).status_code == 422
    assert snapshot(app, world["draft_id"]) == before
    assert client.post(url, json={}, headers=world["organizer"]).status_code == 200


# --- control characters ---------------------------------------------------------------------------

@pytest.mark.parametrize("field, text", [
    ("title", "重阳\x00敬老"), ("title", "重阳\n敬老"), ("title", "重阳\t敬老"), ("title", "重阳\x1b敬老"),
    ("title", "重阳\x7f敬老"), ("address", "一社区\x00活动室"), ("description", "带\x00空字符"),
    ("description", "回车\r不算换行"), ("required_skills", ["急\x00救"]),
])
def test_control_characters_in_text_are_422_naming_the_field(app, client, world, field, text):
    before = snapshot(app, world["activity_id"])
    response = client.patch(f"/api/v1/activities/{world['activity_id']}", json={field: text},
                            headers=world["organizer"])
    assert error(response) == (422, "validation_failed", {field: "不能含有控制字符"})
    assert snapshot(app, world["activity_id"]) == before


def test_multi_line_text_keeps_line_breaks_and_tabs(client, world):
    response = client.patch(f"/api/v1/activities/{world['activity_id']}", json={"description": "第一行\n\t第二行"},
                            headers=world["organizer"])
    assert response.status_code == 200 and response.json["description"] == "第一行\n\t第二行"


def test_control_characters_in_nested_objects_and_reasons_are_refused(client, world):
    preview = client.post("/api/v1/announcements/preview", headers=world["organizer"], json={
        "organization_id": world["org_id"], "audience": {"kind": "organization", "id": world["org_id"],
                                                         "skills": ["急救\x00"]}})
    assert error(preview) == (422, "validation_failed", {"audience.skills": "不能含有控制字符"})
    cancel = client.post(f"/api/v1/activities/{world['activity_id']}/cancel", json={"reason": "下雨\x00"},
                         headers=world["organizer"])
    assert error(cancel) == (422, "validation_failed", {"reason": "不能含有控制字符"})


def test_control_characters_in_a_query_string_are_refused(client, world):
    response = client.get("/api/v1/activities?theme=%00", headers=world["organizer"])
    assert response.status_code == 422 and "theme" in response.json["error"]["fields"]


# --- PATCH keeps an activity's times consistent ---------------------------------------------------

@pytest.mark.parametrize("change", [
    {"ends_at": "2026-11-24T08:00:00+08:00"},                    # before the existing start
    {"starts_at": "2026-12-30T09:00:00+08:00"},                  # after the existing end
    {"starts_at": "2026-12-01T12:00:00+08:00", "ends_at": "2026-12-01T09:00:00+08:00"},
])
def test_a_patch_that_ends_an_activity_before_it_starts_is_invalid_activity(app, client, world, change):
    before = snapshot(app, world["activity_id"])
    response = client.patch(f"/api/v1/activities/{world['activity_id']}", json=change, headers=world["organizer"])
    assert response.status_code == 422 and response.json["error"]["code"] == "invalid_activity"
    assert response.json["error"]["fields"] == {"ends_at": "需晚于开始时间"}
    assert snapshot(app, world["activity_id"]) == before


def new_activity(world, **extra):
    body = {"organization_id": world["org_id"], "region_id": world["community_id"], "title": "重阳敬老",
            "address": "一社区活动室", "starts_at": "2026-12-01T09:00:00+08:00", "ends_at": "2026-12-01T12:00:00+08:00",
            "capacity": 10}
    body.update(extra)
    return body


def test_activities_are_at_most_max_duration_days_long_and_max_days_ahead(app, client, world):
    long = client.post("/api/v1/activities", json=new_activity(world, ends_at="2027-01-01T09:00:00+08:00"),
                       headers=world["organizer"])
    assert long.status_code == 422 and long.json["error"]["code"] == "invalid_activity"
    assert long.json["error"]["fields"] == {"ends_at": "活动时长不能超过 30 天"}
    far = client.post("/api/v1/activities", headers=world["organizer"], json=new_activity(
        world, starts_at="2027-11-25T09:00:00+08:00", ends_at="2027-11-25T12:00:00+08:00"))
    assert far.status_code == 422 and far.json["error"]["fields"] == {"starts_at": "开始时间不能晚于 366 天后"}
    stretched = client.patch(f"/api/v1/activities/{world['activity_id']}", json={"ends_at": "2027-02-01T09:00:00+08:00"},
                             headers=world["organizer"])
    assert stretched.status_code == 422 and stretched.json["error"]["fields"] == {"ends_at": "活动时长不能超过 30 天"}
    within = client.post("/api/v1/activities", headers=world["organizer"], json=new_activity(
        world, starts_at="2027-11-20T09:00:00+08:00", ends_at="2027-12-19T09:00:00+08:00"))
    assert within.status_code == 201, within.json


def test_the_activity_limits_come_from_the_configuration(make_app, world, now):
    app = make_app(activities={"max_duration_days": 1, "max_days_ahead": 7})
    app.extensions["clock"] = lambda: now
    client = app.test_client()
    response = client.post("/api/v1/activities", headers=world["organizer"], json=new_activity(
        world, starts_at="2026-12-01T09:00:00+08:00", ends_at="2026-12-02T12:00:00+08:00"))
    assert response.json["error"]["fields"] == {"ends_at": "活动时长不能超过 1 天", "starts_at": "开始时间不能晚于 7 天后"}


# --- types and ranges -----------------------------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    ({"capacity": True}, "capacity"), ({"capacity": "12"}, "capacity"), ({"capacity": 12.0}, "capacity"),
    ({"min_age": False}, "min_age"), ({"requires_insurance": 1}, "requires_insurance"),
    ({"latitude": True, "longitude": 106.5}, "latitude"), ({"team_id": True}, "team_id"),
])
def test_body_values_are_not_coerced_from_other_json_types(app, client, world, change, field):
    before = snapshot(app, world["activity_id"])
    response = client.patch(f"/api/v1/activities/{world['activity_id']}", json=change, headers=world["organizer"])
    assert response.status_code == 422 and field in response.json["error"]["fields"], response.json
    assert snapshot(app, world["activity_id"]) == before


def test_query_strings_still_parse_numbers_and_dates(client, world):
    response = client.get("/api/v1/activities?page=1&per_page=5&has_seats=true&starts_from=2026-11-01T00:00:00%2B08:00",
                          headers=world["organizer"])
    assert response.status_code == 200 and response.json["per_page"] == 5


@pytest.mark.parametrize("query, missing", [("lat=29.5", "lng"), ("lng=106.5", "lat")])
def test_a_point_without_one_coordinate_names_the_missing_one(client, world, query, missing):
    response = client.get(f"/api/v1/activities?{query}", headers=world["organizer"])
    assert response.status_code == 422 and response.json["error"]["fields"] == {
        missing: f"需与 {'lat' if missing == 'lng' else 'lng'} 同时提供"}


@pytest.mark.parametrize("point, missing", [({"lat": 29.5}, "lng"), ({"lng": 106.5}, "lat")])
def test_a_self_check_in_position_without_one_coordinate_names_the_missing_one(client, world, point, missing):
    response = client.post(f"/api/v1/activities/{world['activity_id']}/self-checkin",
                           json={"code": "anything", "nonce": "self-point-1", **point}, headers=world["organizer"])
    assert response.status_code == 422 and response.json["error"]["fields"] == {
        missing: f"需与 {'lat' if missing == 'lng' else 'lng'} 同时提供"}


def registration(world, **changes):
    body = dict(real_name="王小明", mobile="13912345678", birth_date="1990-03-07", region_id=world["community_id"])
    body.update(changes)
    return body


@pytest.mark.parametrize("changes, field", [
    ({"birth_date": "1899-12-31"}, "birth_date"),
    ({"skills": ["一" * 21]}, "skills.0"), ({"skills": [""]}, "skills.0"), ({"skills": ["急救\x00"]}, "skills"),
    ({"categories": ["astronaut"]}, "categories.0"), ({"region_id": True}, "region_id"),
])
def test_registration_refuses_impossible_values(app, client, world, changes, field):
    response = client.post("/api/v1/volunteers", json=registration(world, **changes), headers=world["newcomer"])
    assert response.status_code == 422 and field in response.json["error"]["fields"], response.json
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Volunteer)) == 0


def test_birth_dates_in_the_future_or_before_1900_are_refused(client, world):
    future = client.post("/api/v1/volunteers", json=registration(world, birth_date="2026-11-24"), headers=world["newcomer"])
    assert future.status_code == 422 and future.json["error"]["code"] == "invalid_birth_date"
    old = client.post("/api/v1/volunteers", json=registration(world, birth_date="1899-12-31"), headers=world["newcomer"])
    assert old.json["error"]["fields"] == {"birth_date": "不能早于 1900-01-01"}
    assert client.post("/api/v1/volunteers", json=registration(world, birth_date="1900-01-01"),
                       headers=world["newcomer"]).status_code == 201


def test_an_unknown_category_in_an_audience_filter_is_an_error_not_an_empty_audience(client, world):
    response = client.post("/api/v1/announcements/preview", headers=world["organizer"], json={
        "organization_id": world["org_id"], "audience": {"kind": "organization", "id": world["org_id"],
                                                         "categories": ["yuoth"]}})
    assert response.status_code == 422 and "audience.categories.0" in response.json["error"]["fields"]
    known = client.post("/api/v1/announcements/preview", headers=world["organizer"], json={
        "organization_id": world["org_id"], "audience": {"kind": "organization", "id": world["org_id"],
                                                         "categories": ["youth"], "skills": ["急救"]}})
    assert known.status_code == 200, known.json
