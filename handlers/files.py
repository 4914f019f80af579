"""GET /api/v1/files/{token}: download a generated file through an expiring signed link (no session needed)."""

from __future__ import annotations

import mimetypes

from flask import Blueprint, send_file
from app.services import files

blueprint = Blueprint("files", __name__, url_prefix="/api/v1")


# Not in the OpenAPI document on purpose: spectree reads a validated view's whole answer into memory,
# and this one streams files of any size. Clients get these URLs from other answers (an export's
# `download_url`) and open them as they are, without a token: the signature is the permission.
@blueprint.get("/files/<string(maxlength=1000):token>")
def download(token: str):
    """The file a signed link names, as an attachment under the link's file name; 410 once the link expired."""
    link = files.resolve(token)
    mimetype = mimetypes.guess_type(link.filename)[0] or "application/octet-stream"
    # send_file streams from the open file and writes filename*=UTF-8'' for a Chinese name.
    answer = send_file(files.open(link.key), mimetype=mimetype, as_attachment=True, download_name=link.filename,
                       conditional=False, etag=False, max_age=0)
    answer.headers["Cache-Control"] = "private, no-store"
    return answer
