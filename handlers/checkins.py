"""API of checkins."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("checkins", __name__, url_prefix="/api/v1")
