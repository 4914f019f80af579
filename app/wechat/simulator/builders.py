"""Callback bodies in WeChat's wire format: XML with CDATA (or the JSON push format).

XML follows the samples WeChat documents: one element per line, strings in CDATA, numbers bare.
Subscribe-message events carry one <List> per template in XML; in JSON `List` is an object for
one template and an array for several (WeChat's quirk), without the SubscribeMsg*Event wrapper
unless `json_wrapper=True` (both shapes have been observed).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

# Elements WeChat sends as bare numbers inside XML.
_NUMERIC = frozenset({"CreateTime", "MsgId", "MsgID", "PopupScene", "ErrorCode", "Latitude", "Longitude", "Precision"})
_WRAPPERS = {
    "subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
    "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
    "subscribe_msg_sent_event": "SubscribeMsgSentEvent",
}


def cdata(value: Any) -> str:
    return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _element(name: str, value: Any) -> str:
    if isinstance(value, Mapping):
        return f"<{name}>\n" + "\n".join(_element(k, v) for k, v in value.items()) + f"\n</{name}>"
    if isinstance(value, (list, tuple)):
        return "\n".join(_element(name, item) for item in value)
    bare = (isinstance(value, (int, float)) and not isinstance(value, bool)) or (
        name in _NUMERIC and str(value).lstrip("-").replace(".", "", 1).isdigit())
    return f"<{name}>{value}</{name}>" if bare else f"<{name}>{cdata(value)}</{name}>"


def to_xml(fields: Mapping[str, Any]) -> str:
    """<xml> with one element per field; None values are left out."""
    return "<xml>\n" + "\n".join(_element(k, v) for k, v in fields.items() if v is not None) + "\n</xml>"


def to_json(fields: Mapping[str, Any]) -> str:
    return json.dumps({k: v for k, v in fields.items() if v is not None}, ensure_ascii=False, separators=(",", ":"))


def _render(fields: Mapping[str, Any], fmt: str) -> str:
    if fmt == "xml":
        return to_xml(fields)
    if fmt == "json":
        return to_json(fields)
    raise ValueError(f"fmt must be 'xml' or 'json', not {fmt!r}")


def _header(from_openid: str, to_username: str, create_time: int | None, msg_type: str) -> dict[str, Any]:
    return {"ToUserName": to_username, "FromUserName": from_openid,
            "CreateTime": int(time.time()) if create_time is None else int(create_time), "MsgType": msg_type}


def new_msg_id() -> int:
    return secrets.randbits(62) | (1 << 60)


def text_message(from_openid: str, to_username: str, content: str, msg_id: int | None = None,
                 create_time: int | None = None, *, fmt: str = "xml") -> str:
    """A text message the user sent to the account."""
    fields = _header(from_openid, to_username, create_time, "text")
    fields.update(Content=content, MsgId=new_msg_id() if msg_id is None else msg_id)
    return _render(fields, fmt)


def event_message(from_openid: str, to_username: str, event: str, event_key: str | None = None,
                  ticket: str | None = None, create_time: int | None = None, *, fmt: str = "xml",
                  **extra: Any) -> str:
    """An event push: subscribe (EventKey qrscene_<scene> + Ticket after a QR scan), SCAN, CLICK, …"""
    fields = _header(from_openid, to_username, create_time, "event")
    fields.update(Event=event, EventKey=event_key, Ticket=ticket, **extra)
    return _render(fields, fmt)


def _subscription_event(event: str, from_openid: str, to_username: str, items: Sequence[Mapping[str, Any]],
                        defaults: Mapping[str, Any], fmt: str, create_time: int | None, json_wrapper: bool) -> str:
    if not items:
        raise ValueError("a subscribe-message event needs at least one item")
    rows = []
    for item in items:
        if not item.get("TemplateId"):
            raise ValueError("every item needs a TemplateId")
        merged = {**defaults, **item}
        if event == "subscribe_msg_sent_event" and "MsgID" not in merged:
            merged["MsgID"] = new_msg_id()
        order = ("TemplateId", "SubscribeStatusString", "PopupScene", "MsgID", "ErrorCode", "ErrorStatus")
        row = {k: merged[k] for k in order if k in merged} | {k: v for k, v in merged.items() if k not in order}
        if fmt == "json":
            # The JSON pushes carry these as strings.
            row = {k: str(v) for k, v in row.items()}
        rows.append(row)
    fields = _header(from_openid, to_username, create_time, "event")
    fields["Event"] = event
    if fmt == "xml":
        fields[_WRAPPERS[event]] = {"List": rows}
    else:
        listing = rows[0] if len(rows) == 1 else rows
        if json_wrapper:
            fields[_WRAPPERS[event]] = {"List": listing}
        else:
            fields["List"] = listing
    return _render(fields, fmt)


def subscribe_msg_popup_event(from_openid: str, to_username: str, items: Sequence[Mapping[str, Any]],
                              fmt: str = "xml", *, create_time: int | None = None, json_wrapper: bool = False) -> str:
    """The user answered wx.requestSubscribeMessage: items of TemplateId, SubscribeStatusString, PopupScene."""
    return _subscription_event("subscribe_msg_popup_event", from_openid, to_username, items,
                               {"SubscribeStatusString": "accept", "PopupScene": 0}, fmt, create_time, json_wrapper)


def subscribe_msg_change_event(from_openid: str, to_username: str, items: Sequence[Mapping[str, Any]],
                               fmt: str = "xml", *, create_time: int | None = None, json_wrapper: bool = False) -> str:
    """The user changed a subscription in the settings (WeChat only pushes rejections)."""
    return _subscription_event("subscribe_msg_change_event", from_openid, to_username, items,
                               {"SubscribeStatusString": "reject"}, fmt, create_time, json_wrapper)


def subscribe_msg_sent_event(from_openid: str, to_username: str, items: Sequence[Mapping[str, Any]],
                             fmt: str = "xml", *, create_time: int | None = None, json_wrapper: bool = False) -> str:
    """Delivery result of a subscribe message: items of TemplateId, MsgID, ErrorCode, ErrorStatus."""
    return _subscription_event("subscribe_msg_sent_event", from_openid, to_username, items,
                               {"ErrorCode": 0, "ErrorStatus": "success"}, fmt, create_time, json_wrapper)
