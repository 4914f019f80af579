"""WeChatGateway: every WeChat API call the service makes, with our errors and one bounded retry.

No call may run while the caller's database session holds a transaction open: a WeChat call can
take up to `wechat.timeout_seconds`, and an open transaction holds its locks (on SQLite, the whole
database) meanwhile. Under test (`app.testing`) or with `wechat.refuse_inside_transaction`, the
gateway raises `CallInsideTransaction` instead of calling, so the rule is enforced, not hoped for.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import redis
import requests
from flask import current_app, has_app_context
from wechatpy.exceptions import WeChatClientException

from app.wechat.clients import StableTokenClient, is_connection_not_established
from app.wechat.sender import LeanSender
from app.wechat.transport import make_http_session
from app.wechat.errors import (TOKEN_ERRCODES, WeChatAPIError, WeChatBadResponse, WeChatError, WeChatTimeout,
                               WeChatUnavailable)

logger = logging.getLogger(__name__)
T = TypeVar("T")

API = "https://api.weixin.qq.com"
SUBSCRIBE_SEND = "/cgi-bin/message/subscribe/send"
TEMPLATE_SEND = "/cgi-bin/message/template/send"


class CallInsideTransaction(RuntimeError):
    """A WeChat call was attempted while the database session had a transaction open (a bug, not WeChat's error)."""


@dataclass(frozen=True)
class MiniProgramSession:
    openid: str
    unionid: str | None
    # Never leaves the server (WeChat's rule); kept for decrypting data the mini-program sends.
    session_key: str


@dataclass(frozen=True)
class PhoneNumber:
    """A mobile number the user let the mini-program have (getPhoneNumber button), as WeChat vouches for it."""

    pure_number: str       # without the country code
    country_code: str      # "86" for the mainland


@dataclass(frozen=True)
class QRTicket:
    ticket: str
    url: str
    expire_seconds: int | None


class WeChatGateway:
    """The official-account and mini-program clients behind one interface."""

    def __init__(self, wechat_settings: Mapping[str, Any], *, redis_client: redis.Redis):
        api_base = wechat_settings["api_base"]
        timeout = float(wechat_settings["timeout_seconds"])
        self.official = StableTokenClient(
            wechat_settings["official"]["app_id"], wechat_settings["official"]["app_secret"],
            redis_client=redis_client, api_base=api_base, timeout=timeout,
        )
        self.miniprogram = StableTokenClient(
            wechat_settings["miniprogram"]["app_id"], wechat_settings["miniprogram"]["app_secret"],
            redis_client=redis_client, api_base=api_base, timeout=timeout,
        )
        # WeCom group robots are not in wechatpy: plain HTTP, with the same timeouts.
        self.wecom_api_base = wechat_settings["wecom_api_base"].rstrip("/")
        self.robot_http = make_http_session(self.wecom_api_base, timeout)
        self.timeout = timeout
        # The high-volume sends (subscribe and template messages) bypass wechatpy and requests.
        self.messages = LeanSender(api_base, timeout)
        self.refuse_inside_transaction = bool(wechat_settings.get("refuse_inside_transaction", False))

    # --- mini-program -------------------------------------------------------------------------

    def code_to_session(self, js_code: str) -> MiniProgramSession:
        """Exchange a wx.login code for the user's openid (jscode2session; no access token)."""
        client = self.miniprogram
        result = self._call(client, lambda: client.get(
            f"{API}/sns/jscode2session",
            params={"appid": client.appid, "secret": client.secret, "js_code": js_code,
                    "grant_type": "authorization_code", "access_token": None},
        ), uses_token=False)
        if not result.get("openid"):
            raise WeChatBadResponse("jscode2session answered without an openid")
        return MiniProgramSession(result["openid"], result.get("unionid"), result.get("session_key", ""))

    def send_subscribe_message(self, openid: str, template_id: str, data: Mapping[str, str], *,
                               page: str | None = None, miniprogram_state: str = "formal",
                               access_token: str | None = None) -> int | None:
        """Send a mini-program subscribe message; return WeChat's msgid.

        `access_token`: the mini-program's token as `access_token_of` gave it (a batch reads it
        once); without it the token is read here.
        """
        body: dict[str, Any] = {
            "touser": openid, "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
            "miniprogram_state": miniprogram_state, "lang": "zh_CN",
        }
        if page:
            body["page"] = page
        return self._send_message(self.miniprogram, SUBSCRIBE_SEND, body, access_token)

    def get_wxacode_unlimited(self, scene: str, *, page: str | None = None, width: int = 430,
                              check_path: bool = True, env_version: str = "release") -> bytes:
        """Return the PNG of an unlimited mini-program code carrying `scene` (≤ 32 characters)."""
        client = self.miniprogram
        body: dict[str, Any] = {"scene": scene, "width": width, "check_path": check_path, "env_version": env_version}
        if page:
            body["page"] = page
        response = self._call(client, lambda: client.post(f"{API}/wxa/getwxacodeunlimit", data=body))
        return _image_bytes(response)

    def check_text_security(self, openid: str, content: str, *, scene: int = 3) -> str:
        """Run msgSecCheck v2; return WeChat's suggestion: pass, review or risky."""
        client = self.miniprogram
        result = self._call(client, lambda: client.post(
            f"{API}/wxa/msg_sec_check", data={"version": 2, "openid": openid, "scene": scene, "content": content},
        ))
        return (result.get("result") or {}).get("suggest", "review")

    def get_user_phone_number(self, code: str) -> PhoneNumber:
        """Exchange the code of a getPhoneNumber button for the user's mobile number (getuserphonenumber)."""
        client = self.miniprogram
        result = self._call(client, lambda: client.post(f"{API}/wxa/business/getuserphonenumber", data={"code": code}))
        info = result.get("phone_info") if isinstance(result, dict) else None
        if not isinstance(info, dict) or not info.get("purePhoneNumber"):
            raise WeChatBadResponse("getuserphonenumber answered without phone_info")
        return PhoneNumber(str(info["purePhoneNumber"]), str(info.get("countryCode", "")))

    # --- official account ---------------------------------------------------------------------

    def send_template_message(self, openid: str, template_id: str, data: Mapping[str, str], *,
                              url: str | None = None, miniprogram: Mapping[str, str] | None = None,
                              client_msg_id: str | None = None, access_token: str | None = None) -> int | None:
        """Send an official-account template message; `client_msg_id` makes WeChat drop repeats for 10 min.

        `access_token`: the official account's token, as for `send_subscribe_message`.
        """
        client = self.official
        body: dict[str, Any] = {
            "touser": openid, "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if url:
            body["url"] = url
        if miniprogram:
            body["miniprogram"] = dict(miniprogram)
        if client_msg_id:
            body["client_msg_id"] = client_msg_id
        return self._send_message(client, TEMPLATE_SEND, body, access_token)

    def send_custom_text(self, openid: str, content: str) -> None:
        """Send a customer-service text message (only inside WeChat's window after a user action)."""
        client = self.official
        self._call(client, lambda: client.message.send_text(openid, content))

    def create_temporary_qrcode(self, scene: str, expire_seconds: int) -> QRTicket:
        """Create a temporary parametric QR code of the official account with a string scene."""
        client = self.official
        result = self._call(client, lambda: client.qrcode.create({
            "expire_seconds": expire_seconds, "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene}},
        }))
        return QRTicket(result["ticket"], result.get("url", ""), result.get("expire_seconds"))

    def show_qrcode(self, ticket: str) -> bytes:
        """Return the PNG of a parametric QR code (wechatpy's own `show` bypasses our transport)."""
        client = self.official
        response = self._call(client, lambda: client._http.get(
            f"https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket={quote(ticket)}"
        ), uses_token=False)
        response.raise_for_status()
        return _image_bytes(response)

    def get_follower(self, openid: str) -> dict[str, Any]:
        """Return an official-account user's follow state and unionid."""
        client = self.official
        return self._call(client, lambda: client.user.get(openid))

    # --- WeCom group robots ---------------------------------------------------------------------

    def send_group_robot_text(self, webhook_key: str, content: str) -> None:
        """Post a text to a team's group chat through its robot (≤ 2048 bytes, ≤ 20 posts a minute)."""
        self._refuse_inside_transaction()
        try:
            response = self.robot_http.post(f"{self.wecom_api_base}/cgi-bin/webhook/send", params={"key": webhook_key},
                                            json={"msgtype": "text", "text": {"content": content}})
        except requests.RequestException as exc:
            raise _transport_error(exc, "WeCom", self.timeout) from None
        try:
            result = response.json()
        except ValueError:
            raise WeChatBadResponse(f"WeCom answered HTTP {response.status_code} without JSON") from None
        errcode = int(result.get("errcode", -1)) if isinstance(result, dict) else -1
        if errcode != 0:
            raise WeChatAPIError(errcode, str(result.get("errmsg", "")) if isinstance(result, dict) else "")

    # --- shared -------------------------------------------------------------------------------

    def _refuse_inside_transaction(self) -> None:
        """Raise if this thread's database session has a transaction open (under test, or when configured)."""
        if not has_app_context() or not (self.refuse_inside_transaction or current_app.testing):
            return
        from app.extensions import db  # late: app.extensions builds this gateway

        # registry.has(): asking must not create a session for a thread that has none.
        if db.session.registry.has() and db.session().in_transaction():
            raise CallInsideTransaction(
                "a WeChat call was made while a database transaction was open; end it first "
                "(check before the unit of work, or commit before sending)")

    def access_token_of(self, client: StableTokenClient) -> str:
        """The client's access token (one Redis read, a stable_token call when none is cached), errors mapped."""
        try:
            return client.access_token
        except requests.RequestException as exc:
            raise _transport_error(exc, "WeChat", client.timeout) from None

    def _send_message(self, client: StableTokenClient, path: str, body: Mapping[str, Any],
                      token: str | None) -> int | None:
        """POST a message through the lean sender; on a rejected token refresh it and retry once, never more."""
        self._refuse_inside_transaction()
        payload = json.dumps(body, ensure_ascii=False).encode()
        for attempt in (1, 2):
            if token is None:
                token = self.access_token_of(client)
            result = self.messages.post_json(f"{path}?access_token={quote(token, safe='')}", payload)
            errcode = result.get("errcode", 0)
            try:
                errcode = int(errcode)
            except (TypeError, ValueError):
                raise WeChatBadResponse(f"WeChat answered errcode {errcode!r}") from None
            if errcode == 0:
                return result.get("msgid")
            if errcode in TOKEN_ERRCODES and attempt == 1:
                logger.info("access token of %s rejected with %s; refreshing once", client.appid, errcode)
                client.drop_token(token)
                token = None
                continue
            raise WeChatAPIError(errcode, str(result.get("errmsg", errcode) or ""))
        raise AssertionError("unreachable")

    def _call(self, client: StableTokenClient, operation: Callable[[], T], *, uses_token: bool = True) -> T:
        """Run one API call; on a rejected token refresh it and retry once, never more."""
        self._refuse_inside_transaction()
        for attempt in (1, 2):
            token = None
            try:
                # The token fetch is itself a WeChat call: its failures map like any other.
                token = client.access_token if uses_token else None
                return operation()
            except WeChatClientException as exc:
                errcode = exc.errcode
                if errcode is None:
                    status = getattr(exc.response, "status_code", None)
                    raise WeChatBadResponse(f"WeChat answered HTTP {status}") from None
                if errcode in TOKEN_ERRCODES and token is not None and attempt == 1:
                    logger.info("access token of %s rejected with %s; refreshing once", client.appid, errcode)
                    client.drop_token(token)
                    continue
                raise WeChatAPIError(int(errcode), str(exc.errmsg or "")) from None
            except requests.RequestException as exc:
                raise _transport_error(exc, "WeChat", client.timeout) from None
        raise AssertionError("unreachable")


def _image_bytes(response: Any) -> bytes:
    """wechatpy hands back the raw response when the body is not JSON, i.e. when it is an image."""
    if isinstance(response, dict):
        raise WeChatBadResponse("expected an image, got JSON without an errcode")
    content_type = response.headers.get("Content-Type", "")
    if not content_type.startswith("image/"):
        raise WeChatBadResponse(f"expected an image, got {content_type or 'no content type'}")
    return response.content


def _transport_error(exc: requests.RequestException, service: str, timeout: float) -> WeChatError:
    """Whether a failed request may have reached the service decides if a send may be repeated."""
    if is_connection_not_established(exc):
        return WeChatUnavailable(f"cannot reach {service}: {type(exc).__name__}")
    if isinstance(exc, requests.Timeout):
        return WeChatTimeout(f"no answer from {service} within {timeout} s")
    return WeChatBadResponse(f"{service} call failed: {type(exc).__name__}")
