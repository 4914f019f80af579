# Gunicorn reads ./gunicorn.conf.py when started from the repository root without --config.
from app.gunicorn_hooks import post_worker_init  # noqa: F401
