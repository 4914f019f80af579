"""The floor of the stack: Flask + wechatpy answering a signed plaintext text message, nothing else.

Serve with: gunicorn bench.peers.bare_echo:app (from the repository root).
"""

from flask import Flask, Response, abort, request
from wechatpy import parse_message
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.replies import create_reply
from wechatpy.utils import check_signature

from bench.peers.common import REPLY_TEXT, TOKEN

app = Flask(__name__)


@app.route("/wechat/official/callback", methods=["GET", "POST"])
def callback():
    args = request.args
    try:
        check_signature(TOKEN, args.get("signature", ""), args.get("timestamp", ""), args.get("nonce", ""))
    except InvalidSignatureException:
        abort(403)
    if request.method == "GET":
        return args.get("echostr", "")
    message = parse_message(request.get_data())
    if message.type != "text":
        return "success"
    return Response(create_reply(REPLY_TEXT, message).render(), mimetype="application/xml")
