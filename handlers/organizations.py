"""API of organizations."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("organizations", __name__, url_prefix="/api/v1")
