"""GET /console/…: the built web console (console/dist), served as a single-page app.

- `/console/assets/…`: Vite's hashed files, cached for a year (`immutable`); a missing one is 404.
- Any other existing file of the build (favicon, robots.txt): served, revalidated each time.
- Anything else that looks like a file (`.js`, `.css`, `.png`, …) and is missing: 404, never the page.
- Every other path under `/console/` is a route of the app: `index.html`, `no-cache` (history fallback).
- No build (`make console` not run): 503 with a short page saying so.

Every console answer carries a Content-Security-Policy without inline scripts, refuses framing and
sniffing and keeps the referrer on this origin. The directory is `[console] dist_dir`.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, Response, redirect, request, send_from_directory
from werkzeug.exceptions import NotFound
from werkzeug.security import safe_join

from app.config import PROJECT_ROOT
from app.extensions import settings

blueprint = Blueprint("console_static", __name__)
PREFIX = "/console"

# Element Plus positions popovers with inline style attributes, hence 'unsafe-inline' for styles only.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
))
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# Every other answer (the API, the WeChat callbacks): at least no sniffing and no framing.
BASE_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "frame-ancestors 'none'",
}
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
# A path ending like this asks for a file; when there is none the answer is 404, not the app's page.
_FILE_SUFFIX = re.compile(r"\.(?:m?js|css|map|json|txt|xml|html?|png|jpe?g|gif|svg|ico|webp|avif|woff2?|ttf|otf|"
                          r"eot|wasm|webmanifest)$", re.IGNORECASE)

MISSING_BUILD_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>管理后台尚未构建</title></head>
<body><h1>管理后台尚未构建</h1>
<p>请在项目目录中运行 <code>make console</code>（或 <code>make run</code>），完成后刷新本页。</p>
</body></html>
"""


def dist_dir() -> Path:
    """The build directory of the console: `[console] dist_dir`, relative to the project if not absolute."""
    return PROJECT_ROOT / settings()["console"]["dist_dir"]


@blueprint.get(PREFIX)
def console_root():
    return redirect(f"{PREFIX}/", code=308)


@blueprint.get(f"{PREFIX}/", defaults={"path": ""})
@blueprint.get(f"{PREFIX}/<path:path>")
def console_page(path: str):
    dist = dist_dir()
    if not (dist / "index.html").is_file():
        return _with_headers(Response(MISSING_BUILD_PAGE, 503, mimetype="text/html"), NO_CACHE)
    if any(part.startswith(".") for part in path.split("/")):
        raise NotFound()  # the build stamp and any other hidden file stay private
    if path.startswith("assets/"):
        return _with_headers(send_from_directory(dist, path), IMMUTABLE)
    found = safe_join(str(dist), path) if path else None
    if found is not None and Path(found).is_file():
        return _with_headers(send_from_directory(dist, path), NO_CACHE)
    if _FILE_SUFFIX.search(path):
        raise NotFound()
    return _with_headers(send_from_directory(dist, "index.html"), NO_CACHE)


def _with_headers(response: Response, cache_control: str) -> Response:
    response.headers["Cache-Control"] = cache_control
    return response


def add_security_headers(response: Response) -> Response:
    """After every request: the console's headers on anything under /console (its 404s too); on every
    other answer (the API, callbacks) at least no sniffing and no framing."""
    if request.path == PREFIX or request.path.startswith(f"{PREFIX}/"):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    else:
        for name, value in BASE_SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    return response
