"""GET /api/v1/files/{token}: download a generated file through an expiring signed link (no session needed)."""

from __future__ import annotations

import mimetypes

from flask import Blueprint, send_file
from spectree import Response

from app.errors import ErrorBody
from app.extensions import api_spec
from app.services import files
from handlers._schemas import documented_only

blueprint = Blueprint("files", __name__, url_prefix="/api/v1")


# Documented but not validated (`documented_only`): spectree would read the whole answer into memory,
# and this one streams files of any size. Clients get these URLs from other answers (an export's
# `download_url`) and open them as they are, without a token: the signature is the permission.
@blueprint.get("/files/<string(maxlength=1000):token>")
@documented_only(api_spec.validate(resp=Response("HTTP_200", HTTP_404=ErrorBody, HTTP_410=ErrorBody), tags=["files"]))
def download(token: str):
    """The file a signed link names, as an attachment under the link's file name.

    404 `file_not_found` for a token we did not sign or a file deleted since; 410 `link_expired`
    once the link expired.
    """
    link = files.resolve(token)
    mimetype = mimetypes.guess_type(link.filename)[0] or "application/octet-stream"
    # send_file streams from the open file and writes filename*=UTF-8'' for a Chinese name.
    answer = send_file(files.open(link.key), mimetype=mimetype, as_attachment=True, download_name=link.filename,
                       conditional=False, etag=False, max_age=0)
    answer.headers["Cache-Control"] = "private, no-store"
    return answer
