"""Hostile input for every operation of the OpenAPI document: deep nesting, non-object bodies, control characters.

The schemathesis run (test_api_properties.py) generates input from the schemas, so it rarely sends
what the schemas do not describe. This test does, for every operation the document lists (a new
operation is covered without a line here): each body gets JSON nested 1,000 deep, `[]`, `null`, a
string, a number; each text field of a body and each query parameter gets NUL, ESC, DEL and a line
break. The bodies around the hostile field are otherwise valid and name objects the caller may act
on, so on PostgreSQL, without the schema check, the text would reach a write (where NUL is a 500).
Nothing may answer 500, every refusal names the field, and nothing in the database changes.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import typing
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from hypothesis import find
from hypothesis import strategies as st
from pydantic import BaseModel

from app.extensions import db
from handlers import json_body_model
from handlers._schemas import RequestSchema, StrictBody
from models import MembershipStatus, TeamMembership
from tests import factories as f

HOSTILE_TEXTS = ["坏\x00字符", "坏\x1b字符", "坏\x7f字符", "坏\n字符"]
NOT_OBJECTS = ["[]", "null", '"text"', "0", "true"]


@pytest.fixture
def world(app, now):
    """One account that administers the city, organises the organisation and captains its team; a volunteer."""
    app.extensions["clock"] = lambda: now
    with app.app_context():
        tree = f.region_tree()
        org = f.organization("属性测试协会", tree["district"], now)
        team = f.team(org, "测试队", now)
        activity = f.activity(org, tree["community"], now, team_row=team)
        staff = f.organizer("sim_staff", org, now)
        from app.services import roles
        from models import Role

        roles.grant(staff.id, Role.ADMIN, region_id=tree["city"].id, now=now)
        roles.grant(staff.id, Role.CAPTAIN, team_id=team.id, now=now)
        volunteer = f.approved_volunteer("sim_member", tree["community"], now)
        db.session.add(TeamMembership(team_id=team.id, volunteer_id=volunteer.id, status=MembershipStatus.ACTIVE,
                                      created_at=now))
        ids = {"organization_id": org.id, "team_id": team.id, "activity_id": activity.id, "region_id": tree["community"].id,
               "parent_id": tree["city"].id, "volunteer_id": volunteer.id}
        world = {"ids": ids, "staff": f.bearer(staff), "volunteer": f.bearer(volunteer.account),
                 "newcomer": f.bearer(f.account("sim_newcomer", now))}
        db.session.commit()
    return world


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, operation) for path, methods in document["paths"].items()
            for method, operation in methods.items() if method in ("get", "post", "put", "patch", "delete")]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].split("/")[-1]]
    if "anyOf" in schema:  # Optional[X]: the non-null branch
        branches = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return {**resolve(document, branches[0]), **{k: v for k, v in schema.items() if k != "anyOf"}}
    return schema


def example(document: dict[str, Any], schema: dict[str, Any], name: str, ids: dict[str, int]) -> Any:
    """A valid value for a schema, with the world's ids for id fields."""
    schema = resolve(document, schema)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {key: example(document, properties[key], key, ids) for key in schema.get("required", [])}
    if kind == "array":
        return [example(document, schema["items"], name, ids) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return ids.get(name, max(schema.get("minimum", 1), 1))
    if kind == "number":
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    if schema.get("format") == "date-time":
        return "2026-12-01T12:00:00+08:00" if name.startswith("ends") else "2026-12-01T09:00:00+08:00"
    if schema.get("format") == "date":
        return "1990-01-01"
    if "pattern" in schema:
        return find(st.from_regex(schema["pattern"], fullmatch=True), lambda _: True)
    return "测试内容"[: schema.get("maxLength", 4)].ljust(schema.get("minLength", 0), "容")


def text_fields(document: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> list[tuple[str, bool, bool]]:
    """Dotted paths of the free-text fields of a body schema; whether each is a list of texts, and multi-line."""
    schema = resolve(document, schema)
    found = []
    for key, child in schema.get("properties", {}).items():
        child = resolve(document, child)
        path = prefix + key
        if child.get("type") == "object":
            found += text_fields(document, child, path + ".")
        elif child.get("type") == "array":
            item = resolve(document, child["items"])
            if item.get("type") == "string" and "enum" not in item and "format" not in item:
                found.append((path, True, False))
        elif child.get("type") == "string" and "enum" not in child and "const" not in child and "format" not in child:
            found.append((path, False, bool(child.get("x-multiline"))))
    return found


def with_value(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    body = {**body}
    node = body
    *parents, leaf = path.split(".")
    for part in parents:
        node[part] = dict(node.get(part) or {})
        node = node[part]
    node[leaf] = value
    return body


def database_digest(app) -> str:
    with app.app_context():
        digest = hashlib.sha256()
        for table in db.metadata.sorted_tables:
            rows = db.session.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            digest.update(repr((table.name, rows)).encode())
        db.session.remove()
        return digest.hexdigest()


def call(client, world, path: str, method: str, operation: dict[str, Any], *, body: str | None = None,
         query: str = ""):
    ids = world["ids"]
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", str(ids.get(parameter["name"], 1)))
    persona = ("newcomer" if (method, path) == ("post", "/api/v1/volunteers")
               else "volunteer" if path.startswith("/api/v1/me") else "staff")
    return getattr(client, method)(path + query, data=body, content_type="application/json" if body else None,
                                   headers=world[persona])


def test_hostile_input_to_every_operation_is_refused_cleanly_and_changes_nothing(app, client, world, simulator):
    document = client.get("/api/v1/openapi.json").json
    problems: list[str] = []
    reached_a_write = set()
    hostile: list[tuple[str, str, dict, dict[str, Any]]] = []
    for path, method, operation in operations(document):
        if "requestBody" in operation and "application/json" in operation["requestBody"]["content"]:
            # (A multipart file upload has no JSON body; tests/handlers/test_uploads.py attacks its form.)
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            baseline = example(document, schema, "", world["ids"])
            for field, is_list, is_multi_line in text_fields(document, schema):
                if method in ("patch", "put"):
                    # The same body with harmless text must get through: the harness reaches the write.
                    benign = call(client, world, path, method, operation,
                                  body=json.dumps(with_value(baseline, field, ["急救"] if is_list else "正常文字")))
                    if benign.status_code < 300:
                        reached_a_write.add((method, path, field))
                for text in HOSTILE_TEXTS:
                    if is_multi_line and text == "坏\n字符":
                        continue
                    hostile.append((path, method, operation, {"field": field, "body": with_value(
                        baseline, field, [text] if is_list else text)}))
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query":
                for text in HOSTILE_TEXTS:
                    hostile.append((path, method, operation, {"field": parameter["name"],
                                                              "query": f"?{parameter['name']}={quote(text)}"}))

    before = database_digest(app)

    file_bodies = _file_body_operations(app)
    for path, method, operation in operations(document):
        if "requestBody" not in operation and method not in ("post", "put", "patch"):
            continue
        if (path, method) in file_bodies or (
                "requestBody" in operation and "application/json" not in operation["requestBody"]["content"]):
            continue  # a file body (an upload, an import): tests/handlers/test_uploads.py and test_imports.py attack it
        deep = call(client, world, path, method, operation, body='{"a":' + "[" * 1000 + "]" * 1000 + "}")
        if deep.status_code != 400 or deep.json["error"]["code"] != "malformed_json":
            problems.append(f"{method} {path} deep nesting: {deep.status_code} {deep.get_data(as_text=True)[:200]}")
        for body in NOT_OBJECTS:
            answer = call(client, world, path, method, operation, body=body)
            if answer.status_code != 422 or list(answer.json["error"].get("fields", {})) != ["body"]:
                problems.append(f"{method} {path} body {body}: {answer.status_code} {answer.get_data(as_text=True)[:200]}")
    for path, method, operation, attack in hostile:
        answer = call(client, world, path, method, operation, query=attack.get("query", ""),
                      body=json.dumps(attack["body"]) if "body" in attack else None)
        fields = answer.json.get("error", {}).get("fields") or {} if answer.is_json else {}
        if answer.status_code != 422 or not any(name == attack["field"] or name.startswith(attack["field"] + ".")
                                                 for name in fields):
            problems.append(f"{method} {path} {attack}: {answer.status_code} {answer.get_data(as_text=True)[:200]}")
    after = database_digest(app)

    assert not problems, "\n".join(problems)
    assert before == after, "a refused request changed the database"
    assert {("patch", "/api/v1/activities/{activity_id}", "title"), ("patch", "/api/v1/me", "skills"),
            ("patch", "/api/v1/teams/{team_id}", "name")} <= reached_a_write, reached_a_write
    assert len(hostile) > 100  # every text field of every body, every query parameter


def _file_body_operations(app) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of the views that take a file rather than JSON (`takes_file_body`)."""
    found = set()
    for rule in app.url_map.iter_rules():
        if getattr(app.view_functions.get(rule.endpoint), "takes_file_body", False):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            found |= {(path, method.lower()) for method in rule.methods or ()}
    return found


def _request_models(app) -> list[tuple[str, str, type]]:
    found = []
    for endpoint, view in app.view_functions.items():
        body = json_body_model(view)
        if body is not None:
            found.append((endpoint, "json", body))
        original = inspect.unwrap(view)
        if "query" in getattr(original, "__annotations__", {}):
            found.append((endpoint, "query", typing.get_type_hints(original)["query"]))
    return found


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _nested_models(arg)]


def test_every_request_schema_gets_the_text_check(app):
    """Bodies derive from StrictBody, queries from QueryArgs, nested objects too: no text field escapes the check."""
    models = _request_models(app)
    assert len([m for m in models if m[1] == "json"]) >= 30 and len([m for m in models if m[1] == "query"]) >= 10
    pending = [(f"{endpoint} {where}", model, where) for endpoint, where, model in models]
    seen = set()
    while pending:
        name, model, where = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        assert issubclass(model, StrictBody if where == "json" else RequestSchema), name
        for field_name, field in model.model_fields.items():
            pending += [(f"{name}.{field_name}", nested, where) for nested in _nested_models(field.annotation)]


def test_every_app_gets_a_whole_openapi_document(make_app):
    """spectree deletes nested definitions from its shared table while generating: each app's document stays whole."""
    for _ in range(2):
        document = make_app().test_client().get("/api/v1/openapi.json").json
        text = json.dumps(document)
        refs = {ref.split("/")[-1] for ref in re.findall(r'"#/components/schemas/([^"]+)"', text)}
        assert refs and refs <= set(document["components"]["schemas"])
