"""GET /healthz: is the service able to serve (database and Redis reachable)?"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text

from app.db import execute_first
from app.extensions import db, get_redis

logger = logging.getLogger(__name__)
blueprint = Blueprint("health", __name__)
_SELECT_ONE = text("SELECT 1")


@blueprint.get("/healthz")
def healthz():
    checks = {"database": _check(lambda: execute_first(_SELECT_ONE)),
              "redis": _check(lambda: get_redis().ping())}
    is_ok = all(value == "ok" for value in checks.values())
    return jsonify({"status": "ok" if is_ok else "unavailable", **checks}), 200 if is_ok else 503


def _check(probe) -> str:
    try:
        probe()
        return "ok"
    except Exception as exc:  # any failure of a dependency means "down", never a 500
        logger.warning("health check failed: %s", type(exc).__name__)
        db.session.rollback()
        return "down"
