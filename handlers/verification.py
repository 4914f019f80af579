"""The public verification page of a certificate: `GET /v/{serial}?c={code}`, server-rendered, no login, no JavaScript.

HTML for people (a phone that scanned the QR code), JSON for machines (`Accept: application/json`
or `?format=json`). 200 for a certificate in publicity (shown as such) or issued, 410 for a revoked
one with the reason and date, 404 for an unknown serial or a wrong code, 429 past the per-client limit.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request

from app.errors import DomainError
from app.services.certificates import verification

blueprint = Blueprint("verification", __name__)

_SERIAL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


def _wants_json() -> bool:
    if request.args.get("format") == "json":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


@blueprint.get("/v/<string(maxlength=40):serial>")
def verify(serial: str):
    as_json = _wants_json()
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
    try:
        verification.require_budget(request.remote_addr or "unknown")
        if not set(serial) <= _SERIAL_CHARS:
            raise DomainError("certificate_not_found", "查无此证明：请核对证明编号和验证码", 404)
        row = verification.lookup(serial, request.args.get("c", ""))
    except DomainError as error:
        if as_json:
            return jsonify(error.to_dict()), error.status, headers
        return render_template("certificates/verify.html", c=None, error=error), error.status, headers
    view = verification.public_view(row)
    status = 410 if view["status"] == "revoked" else 200
    if as_json:
        body = {**view, "revoked": status == 410}
        return jsonify(body), status, headers
    return render_template("certificates/verify.html", c=view, error=None), status, headers
