"""Gunicorn settings for the one-machine demo: access lines for API calls, none for health checks."""

from gunicorn.glogging import Logger

from app.gunicorn_hooks import post_worker_init  # noqa: F401

accesslog = "-"


class QuietHealthChecks(Logger):
    """Leave out `/healthz`: probes would drown the requests a person is trying to follow."""

    def access(self, resp, req, environ, request_time):
        if environ.get("PATH_INFO") != "/healthz":
            super().access(resp, req, environ, request_time)


logger_class = QuietHealthChecks
