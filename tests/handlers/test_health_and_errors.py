"""Health, the OpenAPI document, and the error contract of the API."""

from __future__ import annotations

import redis as redis_lib

from tests import factories as f


def test_health_reports_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "ok"}


def test_health_is_503_when_redis_is_down(app, client, monkeypatch):
    monkeypatch.setitem(app.extensions, "redis", redis_lib.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.2))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["redis"] == "down" and response.json["database"] == "ok"


def test_health_is_503_when_the_database_is_down(make_app):
    broken = make_app(database={"url": "postgresql+psycopg://nobody@127.0.0.1:9/none"})
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503 and response.json["database"] == "down"


def test_openapi_document_describes_the_api(client):
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.")
    assert {"/api/v1/auth/login", "/api/v1/volunteers", "/api/v1/me", "/api/v1/volunteers/{volunteer_id}/review",
            "/api/v1/regions"} <= set(document["paths"])
    register = document["paths"]["/api/v1/volunteers"]["post"]
    schema_ref = register["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][schema_ref.split("/")[-1]]
    assert {"real_name", "mobile", "region_id"} <= set(schema["required"])
    assert register["security"] == [{"bearer": []}]
    assert "bearer" in document["components"]["securitySchemes"]


def test_unknown_route_and_method_get_json_errors(client):
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    wrong_method = client.delete("/api/v1/auth/login")
    assert wrong_method.status_code == 405 and wrong_method.json["error"]["code"] == "method_not_allowed"
    assert "POST" in wrong_method.headers["Allow"]
    assert wrong_method.headers["Content-Type"] == "application/json"


def test_openapi_document_lists_every_error_an_endpoint_gives_in_our_error_format(client):
    document = client.get("/api/v1/openapi.json").json
    error_schemas = set()
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            statuses = set(operation["responses"])
            if "requestBody" in operation:
                assert {"400", "413", "415", "422"} <= statuses, (method, path)
            if operation.get("security"):
                assert "401" in statuses, (method, path)
            if operation.get("parameters"):
                assert "422" in statuses, (method, path)
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")):
                    error_schemas.add(answer["content"]["application/json"]["schema"]["$ref"])
    [only_schema] = error_schemas
    body = document["components"]["schemas"][only_schema.split("/")[-1]]
    assert set(body["properties"]) == {"error"}


def test_api_bodies_over_one_mebibyte_are_413(client):
    response = client.post("/api/v1/auth/login", data=b"{" + b" " * (1024 * 1024 + 10) + b"}",
                           content_type="application/json")
    assert response.status_code == 413 and response.json["error"]["code"] == "payload_too_large"


def test_non_json_body_is_refused_with_415(client):
    response = client.post("/api/v1/auth/login", data="code=abc", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and response.json["error"]["code"] == "unsupported_media_type"


def test_malformed_json_is_400(client):
    response = client.post("/api/v1/auth/login", data="{not json", content_type="application/json")
    assert response.status_code == 400 and response.json["error"]["code"] == "malformed_json"


def test_json_that_is_not_an_object_is_a_validation_error(client):
    response = client.post("/api/v1/auth/login", json=["code"])
    assert response.status_code == 422 and response.json["error"]["code"] == "validation_failed"


def test_regions_can_be_browsed_level_by_level(app_context, client, now):
    tree = f.region_tree()
    from app.extensions import db

    db.session.commit()
    cities = client.get("/api/v1/regions").json["items"]
    assert [c["name"] for c in cities] == ["测试市"]
    districts = client.get(f"/api/v1/regions?parent_id={tree['city'].id}").json["items"]
    assert [d["name"] for d in districts] == ["甲区", "乙区"]
    assert client.get("/api/v1/regions?parent_id=99999").status_code == 404
    assert client.get("/api/v1/regions?parent_id=abc").status_code == 422


def test_ids_beyond_the_database_integer_range_are_refused_cleanly(client):
    # PostgreSQL integers end at 2**31 - 1; a larger id must not reach the database (it would be a 500).
    huge = 2**31
    assert client.get(f"/api/v1/regions?parent_id={huge}").status_code == 422
    response = client.post(f"/api/v1/volunteers/{huge}/review", json={"decision": "approve"})
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    # Not 405: another method's route on the same path must not make an out-of-range id look allowed.
    for method, path in (("patch", "/api/v1/activities/0"), ("get", f"/api/v1/activities/{huge}/signups"),
                         ("delete", "/api/v1/activities/007/signups/me")):
        assert getattr(client, method)(path).status_code == 404, (method, path)


def test_a_lone_surrogate_in_json_is_400_not_500(client):
    response = client.post("/api/v1/auth/login", data='{"code": "\\ud800abc"}', content_type="application/json")
    assert response.status_code == 400 and response.json["error"]["code"] == "malformed_json"
