"""API of activities."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("activities", __name__, url_prefix="/api/v1")
