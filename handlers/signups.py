"""API of signups."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("signups", __name__, url_prefix="/api/v1")
