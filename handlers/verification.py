"""The public verification page of a certificate: `GET /v/{serial}?c={code}`, server-rendered, no login, no JavaScript.

HTML for people (a phone that scanned the QR code), JSON for machines (`Accept: application/json`
or `?format=json`). 200 for a certificate in publicity (shown as such) or issued, 410 for a revoked
one with the reason and date, 404 for an unknown serial or a wrong code, 429 past the per-client limit.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from app.errors import DomainError
from app.services.certificates import verification

blueprint = Blueprint("verification", __name__)

_SERIAL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


def _wants_json() -> bool:
    if request.args.get("format") == "json":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


# Public, but about a person: kept by the phone (private), revalidated on every view (no-cache) so a
# revocation shows at once; a revalidation with the same ETag is a 304 without a body.
_HEADERS = {"Cache-Control": "private, no-cache", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex",
            "Vary": "Accept"}
_TEMPLATE = "certificates/verify.html"


def _page(**context) -> str:
    # The compiled template from Jinja's cache, rendered directly: no context processors or signals
    # on the one page that is looked up by anyone holding a QR code.
    return current_app.jinja_env.get_template(_TEMPLATE).render(**context)


@blueprint.get("/v/<string(maxlength=40):serial>")
def verify(serial: str):
    as_json = _wants_json()
    try:
        verification.require_budget(request.remote_addr or "unknown")
        if not set(serial) <= _SERIAL_CHARS:
            raise DomainError("certificate_not_found", "查无此证明：请核对证明编号和验证码", 404)
        row = verification.lookup(serial, request.args.get("c", ""))
    except DomainError as error:
        if as_json:
            return jsonify(error.to_dict()), error.status, _HEADERS
        return _page(c=None, error=error), error.status, _HEADERS
    view = verification.public_view(row)
    status = 410 if view["status"] == "revoked" else 200
    tag = verification.etag(row)
    headers = {**_HEADERS, "ETag": f'"{tag}"'}
    if request.if_none_match.contains_weak(tag):
        return "", 304, headers
    if as_json:
        return jsonify({**view, "revoked": status == 410}), status, headers
    return _page(c=view, error=None), status, headers
