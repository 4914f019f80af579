"""Every API operation, fed generated valid and invalid input from its own OpenAPI document.

Whatever arrives, the answer is never a 500, its status is one the document lists, and its body
has the documented shape (the error format included). Runs derandomised, so a failure repeats.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.extensions import db
from tests import factories as f

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.fixture
def organizer_headers(app, now):
    """An organiser with pending volunteers in scope, so review and listing reach their real logic."""
    with app.app_context():
        tree = f.region_tree()
        org = f.organization("属性测试协会", tree["district"], now)
        organizer = f.organizer("sim_prop_organizer", org, now)
        for index in range(3):
            f.volunteer(f.account(f"sim_prop_{index}", now), tree["community"], now)
        headers = f.bearer(organizer)
        db.session.commit()
    return headers


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_input_breaks_an_operation_or_its_documented_answers(case, organizer_headers, simulator):
    response = case.call(headers=organizer_headers)
    case.validate_response(response, checks=CHECKS)
