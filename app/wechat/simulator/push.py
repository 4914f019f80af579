"""Pushing signed callbacks to the service the way WeChat does (plaintext or AES safe mode, XML or JSON)."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
import xmltodict
from wechatpy.crypto import WeChatCrypto

from app.wechat.simulator.builders import (
    cdata,
    event_message,
    new_msg_id,
    subscribe_msg_popup_event,
    subscribe_msg_sent_event,
    text_message,
)

logger = logging.getLogger(__name__)

# WeChat waits 5 s for an answer and tries 3 times in all.
WECHAT_TIMEOUT_SECONDS = 5.0
WECHAT_MAX_ATTEMPTS = 3
PUSH_KINDS = ("text", "subscribe", "scan", "unsubscribe", "popup", "sent", "event")


@dataclass(frozen=True)
class PushResult:
    status_code: int | None     # None: no answer within the timeout on any attempt
    reply_text: str             # the answer, decrypted in safe mode
    raw_body: str               # the answer as it came over the wire
    attempts_made: int

    @property
    def timed_out(self) -> bool:
        return self.status_code is None


def sign_query(token: str, *, timestamp: int | str | None = None, nonce: str | None = None) -> dict[str, str]:
    """signature = sha1 of the sorted [token, timestamp, nonce] joined, with the timestamp and nonce used."""
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or str(secrets.randbelow(10**10))
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


def _fields_of(body: str, fmt: str) -> Mapping[str, Any]:
    try:
        parsed = json.loads(body) if fmt == "json" else (xmltodict.parse(body).get("xml") or {})
    except Exception:  # a deliberately malformed body is allowed; it just has no known sender
        return {}
    return parsed if isinstance(parsed, Mapping) else {}


def _crypto(account: Mapping[str, Any]) -> WeChatCrypto:
    return WeChatCrypto(account["token"], account["encoding_aes_key"], account["app_id"])


def encrypt_body(account: Mapping[str, Any], body: str, *, timestamp: str, nonce: str, fmt: str = "xml",
                 to_username: str | None = None) -> tuple[str, str]:
    """Return (safe-mode body, msg_signature): only ToUserName and Encrypt travel in the clear."""
    envelope = xmltodict.parse(_crypto(account).encrypt_message(body, nonce, timestamp))["xml"]
    encrypted, msg_signature = envelope["Encrypt"], envelope["MsgSignature"]
    if to_username is None:
        to_username = str(_fields_of(body, fmt).get("ToUserName") or "")
    if fmt == "json":
        return json.dumps({"ToUserName": to_username, "Encrypt": encrypted}, ensure_ascii=False), msg_signature
    return (f"<xml>\n<ToUserName>{cdata(to_username)}</ToUserName>\n<Encrypt>{cdata(encrypted)}</Encrypt>\n</xml>",
            msg_signature)


def decrypt_reply(account: Mapping[str, Any], raw: str) -> str:
    """Decrypt a safe-mode reply (XML or JSON with Encrypt, MsgSignature, TimeStamp, Nonce).

    `success`, an empty body or any answer without Encrypt is returned as it is. A bad signature
    or appid raises wechatpy's InvalidSignatureException / InvalidAppIdException.
    """
    text = raw.strip()
    if text.startswith("{"):
        envelope = _fields_of(text, "json")
    elif text.startswith("<"):
        envelope = _fields_of(text, "xml")
    else:
        return raw
    if not envelope.get("Encrypt"):
        return raw
    plaintext = _crypto(account).decrypt_message(
        dict(envelope), str(envelope.get("MsgSignature", "")), str(envelope.get("TimeStamp", "")),
        str(envelope.get("Nonce", "")),
    )
    return plaintext.decode() if isinstance(plaintext, bytes) else str(plaintext)


def push_callback(service_url: str, account: Mapping[str, Any], body: str, *, path: str, safe_mode: bool = False,
                  fmt: str = "xml", openid: str | None = None, timeout: float = WECHAT_TIMEOUT_SECONDS,
                  attempts: int = 1, timestamp: int | str | None = None, nonce: str | None = None) -> PushResult:
    """POST one push to service_url + path, signed with the account's token (and encrypted in safe mode).

    `attempts` > 1 emulates WeChat's retry: when no answer comes within `timeout`, the same push is
    sent again, up to 3 times in all. Connection errors are raised (requests.ConnectionError).
    """
    if fmt not in ("xml", "json"):
        raise ValueError(f"fmt must be 'xml' or 'json', not {fmt!r}")
    query: dict[str, str] = sign_query(account["token"], timestamp=timestamp, nonce=nonce)
    if openid is None:
        openid = _fields_of(body, fmt).get("FromUserName")
    if openid:
        query["openid"] = str(openid)
    payload = body
    if safe_mode:
        payload, msg_signature = encrypt_body(account, body, timestamp=query["timestamp"], nonce=query["nonce"], fmt=fmt)
        query.update(encrypt_type="aes", msg_signature=msg_signature)
    url = service_url.rstrip("/") + "/" + path.lstrip("/")
    headers = {"Content-Type": "application/json" if fmt == "json" else "text/xml; charset=utf-8",
               "User-Agent": "Mozilla/4.0 (WeChat simulator)"}
    tries = max(1, min(int(attempts), WECHAT_MAX_ATTEMPTS))
    for attempt in range(1, tries + 1):
        try:
            response = requests.post(url, params=query, data=payload.encode("utf-8"), headers=headers, timeout=timeout)
        except requests.Timeout:
            logger.info("push to %s: no answer within %s s (attempt %d of %d)", url, timeout, attempt, tries)
            continue
        raw = response.text
        reply = decrypt_reply(account, raw) if safe_mode and response.ok else raw
        return PushResult(response.status_code, reply, raw, attempt)
    return PushResult(None, "", "", tries)


def _original_id(account_name: str, account: Mapping[str, Any]) -> str:
    """The account's gh_ id (ToUserName of pushes); not part of the config, so a stand-in."""
    return str(account.get("original_id") or f"gh_sim_{account_name}")


def push_from_cli(wechat: Mapping[str, Any], service_url: str, kind: str, *, account: str = "official",
                  openid: str = "sim_demo", content: str | None = None, event: str | None = None,
                  event_key: str | None = None, safe: bool = False, fmt: str = "xml") -> PushResult:
    """Build and push one callback for `flask wechat-sim push KIND`.

    Kinds: text (content, default "你好"), subscribe (event_key as sent, e.g. "qrscene_42" after a QR
    scan), scan (event_key = scene, required), unsubscribe, popup / sent (subscribe-message events;
    event_key = template ids separated by commas, default the registration_result template), and
    event (any Event name given as `event`, with optional event_key).
    """
    if account not in ("official", "miniprogram"):
        raise ValueError("account must be 'official' or 'miniprogram'")
    if kind not in PUSH_KINDS:
        raise ValueError(f"kind must be one of {', '.join(PUSH_KINDS)}")
    if event is not None and kind != "event":
        raise ValueError("event is only used with kind 'event'")
    settings = wechat[account]
    to = _original_id(account, settings)
    if kind == "text":
        body = text_message(openid, to, content or "你好", fmt=fmt)
    elif kind == "subscribe":
        ticket = "sim_ticket" if event_key and event_key.startswith("qrscene_") else None
        body = event_message(openid, to, "subscribe", event_key, ticket, fmt=fmt)
    elif kind == "scan":
        if not event_key:
            raise ValueError("scan needs event_key (the QR code's scene)")
        body = event_message(openid, to, "SCAN", event_key, "sim_ticket", fmt=fmt)
    elif kind == "unsubscribe":
        body = event_message(openid, to, "unsubscribe", fmt=fmt)
    elif kind == "event":
        if not event:
            raise ValueError("kind 'event' needs event (the Event name)")
        body = event_message(openid, to, event, event_key, fmt=fmt)
    else:
        template_ids = [t.strip() for t in (event_key or "").split(",") if t.strip()] or [
            str((wechat.get("templates") or {}).get("registration_result") or "sim_template")]
        if kind == "popup":
            items = [{"TemplateId": t, "SubscribeStatusString": "accept", "PopupScene": 0} for t in template_ids]
            body = subscribe_msg_popup_event(openid, to, items, fmt)
        else:
            items = [{"TemplateId": t, "MsgID": new_msg_id(), "ErrorCode": 0, "ErrorStatus": "success"}
                     for t in template_ids]
            body = subscribe_msg_sent_event(openid, to, items, fmt)
    return push_callback(service_url, settings, body, path=f"/wechat/{account}/callback", safe_mode=safe, fmt=fmt,
                         openid=openid)
