"""The callback (message push) protocol: signatures, safe mode, parsing, and replies.

wechatpy provides the AES crypto. Parsing is ours: one path for XML and JSON pushes, and event
types wechatpy 1.8.18 does not know (subscribe_msg_*). The text reply is wechatpy's rendering,
written out as one template (tested to stay equal to it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from xml.parsers import expat
from xml.parsers.expat import ExpatError

import xmltodict
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException

from app.json_depth import MAX_JSON_DEPTH, nests_deeper_than

MAX_BODY_BYTES = 64 * 1024

SUBSCRIBE_MSG_EVENTS = {
    "subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
    "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
    "subscribe_msg_sent_event": "SubscribeMsgSentEvent",
}


class CallbackRejected(Exception):
    """The push must not be processed; `status` is the HTTP answer, `code` a stable reason."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SubscriptionItem:
    """One template of a subscribe_msg_* event."""

    template_id: str
    status: str | None = None          # accept / reject (popup, change events)
    popup_scene: str | None = None
    msg_id: str | None = None          # sent event
    error_code: int | None = None
    error_status: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """A push from WeChat, normalised from XML or JSON."""

    msg_type: str
    from_user: str
    to_user: str
    create_time: int
    event: str | None = None
    msg_id: str | None = None
    content: str | None = None
    event_key: str | None = None
    scene: str | None = None
    subscriptions: tuple[SubscriptionItem, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def dedup_key(self) -> str:
        """MsgId for messages; FromUserName+CreateTime+Event+EventKey for events."""
        if self.msg_id:
            return f"msg:{self.msg_id}"
        return f"evt:{self.from_user}:{self.create_time}:{self.event or ''}:{self.event_key or ''}"


@dataclass(frozen=True)
class OpenedCallback:
    message: InboundMessage
    is_encrypted: bool
    is_json: bool


def signature_of(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the parts sorted and concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def verify_signature(token: str, args: Mapping[str, str], *, now: int, max_age: int) -> None:
    """Check `signature` (constant time) and the timestamp's age; raise CallbackRejected if wrong."""
    signature, timestamp, nonce = args.get("signature", ""), args.get("timestamp", ""), args.get("nonce", "")
    if not (signature and timestamp and nonce):
        raise CallbackRejected(403, "missing_signature", "signature, timestamp and nonce are required")
    if not hmac.compare_digest(signature_of(token, timestamp, nonce), signature.lower()):
        raise CallbackRejected(403, "bad_signature", "signature does not match")
    try:
        age = now - int(timestamp)
    except ValueError:
        raise CallbackRejected(403, "bad_timestamp", "timestamp is not an integer") from None
    if abs(age) > max_age:
        raise CallbackRejected(403, "stale_timestamp", f"timestamp is {age} s away from now")


def open_callback(account: Mapping[str, str], args: Mapping[str, str], body: bytes, *, now: int | None = None,
                  max_age: int = 300, require_safe_mode: bool = False) -> OpenedCallback:
    """Verify, decrypt (safe mode) and parse one POSTed push."""
    now = int(time.time()) if now is None else now
    if len(body) > MAX_BODY_BYTES:
        raise CallbackRejected(413, "payload_too_large", "callback body exceeds 64 KiB")
    verify_signature(account["token"], args, now=now, max_age=max_age)
    is_json = body.lstrip()[:1] == b"{"
    envelope = _parse_body(body, is_json)
    is_encrypted = args.get("encrypt_type", "").lower() == "aes"
    if is_encrypted:
        plaintext = _decrypt(account, args, envelope)
        is_json = plaintext.lstrip()[:1] == b"{"
        envelope = _parse_body(plaintext, is_json)
    elif require_safe_mode:
        raise CallbackRejected(403, "safe_mode_required", "plaintext callbacks are refused; use safe mode")
    return OpenedCallback(_normalise(envelope), is_encrypted, is_json)


def render_reply(account: Mapping[str, str], opened: OpenedCallback, text: str | None, *,
                 nonce: str, timestamp: int | None = None) -> str:
    """Return the HTTP body answering a push: a text reply (encrypted in safe mode) or `success`."""
    if text is None or opened.is_json:
        return "success"
    message = opened.message
    reply = text_reply_xml(message.to_user, message.from_user, text, int(time.time()) if timestamp is None else timestamp)
    if not opened.is_encrypted:
        return reply
    return _crypto(account["token"], account["encoding_aes_key"], account["app_id"]).encrypt_message(
        reply, nonce, str(int(time.time()) if timestamp is None else timestamp)
    )


_TEXT_REPLY = ("<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[{}]]></Content>\n"
               "<FromUserName><![CDATA[{}]]></FromUserName>\n<ToUserName><![CDATA[{}]]></ToUserName>\n"
               "<CreateTime>{}</CreateTime>\n</xml>")


def text_reply_xml(source: str, target: str, content: str, timestamp: int) -> str:
    """wechatpy's `TextReply(source=..., target=..., content=..., time=...).render()`, character for
    character, from one template instead of its field objects (a third of the time)."""
    return _TEXT_REPLY.format(content, source, target, int(timestamp))


class _DocumentTypeRefused(Exception):
    pass


def _refuse_document_type(*_: Any) -> None:
    raise _DocumentTypeRefused


class _ExpatWithoutDTD:
    """pyexpat as xmltodict uses it, except that a document type declaration stops the parse.

    WeChat never sends a DTD, and a DTD is how entity bombs and external entities get in. expat
    reports the declaration before reading its internal subset, so nothing in it is expanded or
    resolved. A user's text that merely quotes "<!DOCTYPE" sits in CDATA and is not affected.
    """

    ExpatError = ExpatError

    @staticmethod
    def ParserCreate(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 (pyexpat's name)
        parser = expat.ParserCreate(*args, **kwargs)
        parser.StartDoctypeDeclHandler = _refuse_document_type
        parser.EntityDeclHandler = _refuse_document_type
        return parser


class _NotFlat(Exception):
    pass


def _parse_flat_xml(body: bytes) -> dict[str, Any]:
    """What xmltodict gives for a document whose root holds only elements of text (every push but the
    subscribe_msg_* events), in one expat pass without xmltodict's general machinery; _NotFlat for
    any other shape (attributes, nesting, a repeated element, text beside elements, no element).

    Same expat settings and the same document type refusal as `_ExpatWithoutDTD`, the same result
    as xmltodict's defaults: an element's text stripped, None when empty.
    """
    parser = _ExpatWithoutDTD.ParserCreate()
    parser.ordered_attributes = True
    parser.buffer_text = True
    fields: dict[str, Any] = {}
    texts: list[str] = []
    depth = 0
    root = ""

    def start(name: str, attributes: list[str]) -> None:
        nonlocal depth, root
        if attributes or depth > 1:
            raise _NotFlat
        depth += 1
        if depth == 1:
            root = name
        else:
            texts.clear()

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1
        if depth == 1:
            if name in fields:
                raise _NotFlat
            fields[name] = "".join(texts).strip() or None if texts else None

    def characters(data: str) -> None:
        if depth == 2:
            texts.append(data)
        elif data.strip():
            raise _NotFlat

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.Parse(body, True)
    if not fields:
        raise _NotFlat
    return {root: fields}


def _parse_xml(body: bytes) -> Any:
    try:
        return _parse_flat_xml(body)
    except _NotFlat:
        return xmltodict.parse(body, expat=_ExpatWithoutDTD, disable_entities=True)


def _parse_body(body: bytes, is_json: bool) -> Mapping[str, Any]:
    if is_json and nests_deeper_than(body, MAX_JSON_DEPTH):
        # json.loads recurses per level: a deep enough push would end in RecursionError, a 500.
        raise CallbackRejected(400, "malformed_body", "JSON nests too deeply")
    try:
        if is_json:
            document = json.loads(body)
        else:
            document = _parse_xml(body).get("xml")
    except _DocumentTypeRefused:
        raise CallbackRejected(400, "malformed_body", "document type declarations are not accepted") from None
    except (ValueError, ExpatError, UnicodeDecodeError, AttributeError):
        raise CallbackRejected(400, "malformed_body", "body is neither well-formed XML nor JSON") from None
    if not isinstance(document, Mapping):
        raise CallbackRejected(400, "malformed_body", "body has no <xml> root or JSON object")
    return document


def _decrypt(account: Mapping[str, str], args: Mapping[str, str], envelope: Mapping[str, Any]) -> bytes:
    encrypted = envelope.get("Encrypt")
    msg_signature = args.get("msg_signature", "")
    if not isinstance(encrypted, str) or not encrypted:
        raise CallbackRejected(400, "malformed_body", "safe-mode body has no Encrypt element")
    expected = signature_of(account["token"], args.get("timestamp", ""), args.get("nonce", ""), encrypted)
    if not hmac.compare_digest(expected, msg_signature.lower()):
        raise CallbackRejected(403, "bad_msg_signature", "msg_signature does not match")
    try:
        crypto = _crypto(account["token"], account["encoding_aes_key"], account["app_id"])
        plaintext = PrpCrypto(crypto.key).decrypt(encrypted, account["app_id"])
    except InvalidAppIdException:
        raise CallbackRejected(403, "wrong_app_id", "the message was encrypted for another app") from None
    except Exception:
        raise CallbackRejected(400, "undecryptable", "Encrypt cannot be decrypted with our EncodingAESKey") from None
    return plaintext if isinstance(plaintext, bytes) else str(plaintext).encode()


@lru_cache(maxsize=8)
def _crypto(token: str, encoding_aes_key: str, app_id: str) -> WeChatCrypto:
    return WeChatCrypto(token, encoding_aes_key, app_id)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def _normalise(raw: Mapping[str, Any]) -> InboundMessage:
    msg_type = (_text(raw.get("MsgType")) or "").lower()
    from_user, to_user = _text(raw.get("FromUserName")), _text(raw.get("ToUserName"))
    try:
        create_time = int(raw.get("CreateTime"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise CallbackRejected(400, "malformed_body", "CreateTime is missing or not an integer") from None
    if not msg_type or not from_user or not to_user:
        raise CallbackRejected(400, "malformed_body", "MsgType, FromUserName and ToUserName are required")
    event = (_text(raw.get("Event")) or "").lower() or None
    event_key = _text(raw.get("EventKey"))
    scene = None
    if event == "subscribe" and event_key and event_key.startswith("qrscene_"):
        scene = event_key[len("qrscene_"):]
    elif event == "scan":
        scene = event_key
    return InboundMessage(
        msg_type=msg_type, from_user=from_user, to_user=to_user, create_time=create_time, event=event,
        msg_id=_text(raw.get("MsgId") or raw.get("MsgID")) if msg_type != "event" else None,
        content=_text(raw.get("Content")), event_key=event_key, scene=scene,
        subscriptions=_subscriptions(raw, event), raw=raw,
    )


def _subscriptions(raw: Mapping[str, Any], event: str | None) -> tuple[SubscriptionItem, ...]:
    wrapper = SUBSCRIBE_MSG_EVENTS.get(event or "")
    if wrapper is None:
        return ()
    # JSON pushes come with and without the wrapper; one template is an object, several a list.
    container = raw.get(wrapper) if isinstance(raw.get(wrapper), Mapping) else raw
    items = container.get("List") if isinstance(container, Mapping) else None
    if isinstance(items, Mapping):
        items = [items]
    result = []
    for item in items or []:
        if not isinstance(item, Mapping) or not _text(item.get("TemplateId")):
            continue
        error_code = _text(item.get("ErrorCode"))
        result.append(SubscriptionItem(
            template_id=_text(item.get("TemplateId")) or "",
            status=_text(item.get("SubscribeStatusString")),
            popup_scene=_text(item.get("PopupScene")),
            msg_id=_text(item.get("MsgID") or item.get("MsgId")),
            error_code=int(error_code) if error_code and error_code.lstrip("-").isdigit() else None,
            error_status=_text(item.get("ErrorStatus")),
        ))
    return tuple(result)
