"""The application factory: the only way to build the service."""

from __future__ import annotations

import logging
from typing import Any, Mapping

from flask import Flask

from app.config import PROJECT_ROOT, load_settings

API_MAX_BODY_BYTES = 1024 * 1024


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the configuration (file or defaults, APP_* env), with `overrides` merged last."""
    settings = load_settings(overrides)
    app = Flask(__name__, instance_path=str(PROJECT_ROOT / "instance"))
    app.extensions["settings"] = settings
    # No SECRET_KEY in Flask's config on purpose: the service keeps no cookie sessions (the API uses
    # bearer tokens signed with app.secret_key by app.services.accounts), and without it Flask skips
    # opening a signed cookie session on every request, which is measurable on the callback path.
    app.config["MAX_CONTENT_LENGTH"] = API_MAX_BODY_BYTES
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    _configure_logging(settings["app"]["log_level"])

    from app.errors import register_error_handlers
    from app.extensions import init_extensions

    init_extensions(app)
    from app import tasks

    tasks.bind(app)
    register_error_handlers(app)

    import handlers

    handlers.register(app)

    from app.cli import register_cli

    register_cli(app)
    return app


def _configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("app", "handlers", "jobs", "models"):
        logging.getLogger(name).setLevel(level.upper())


