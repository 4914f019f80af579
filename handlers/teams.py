"""API of teams."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("teams", __name__, url_prefix="/api/v1")
