"""WeChat failures as our own errors, each marked retryable or permanent."""

from __future__ import annotations

# Token errors: refresh the token and retry once.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
# Worth retrying later with backoff: system busy, rate limits, per-user frequency limits.
RETRYABLE_ERRCODES = frozenset({-1, 45009, 45011, 45047}) | TOKEN_ERRCODES


class WeChatError(Exception):
    """A WeChat call failed.

    `retryable`: the same call may succeed later. `ambiguous`: the request may have reached
    WeChat and taken effect, so a send must not be repeated blindly.
    """

    retryable = False
    ambiguous = False

    def __init__(self, message: str, errcode: int | None = None):
        super().__init__(message)
        self.errcode = errcode

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} (errcode {self.errcode})" if self.errcode is not None else base


class WeChatAPIError(WeChatError):
    """WeChat answered with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str):
        super().__init__(errmsg or "WeChat API error", errcode)
        self.errmsg = errmsg
        self.retryable = errcode in RETRYABLE_ERRCODES


class WeChatUnavailable(WeChatError):
    """The request never reached WeChat (connection refused or not established): safe to retry."""

    retryable = True


class WeChatTimeout(WeChatError):
    """The request left but no answer came: it may have taken effect."""

    retryable = True
    ambiguous = True


class WeChatBadResponse(WeChatError):
    """WeChat answered something that is not what the API promises (HTTP error, garbage)."""

    retryable = True
    ambiguous = True
