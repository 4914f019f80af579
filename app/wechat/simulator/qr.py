"""QR code images (real, scannable PNGs) for parametric QR codes and mini-program codes."""

from __future__ import annotations

import io
import re

import segno

QR_BORDER = 4
DEFAULT_WIDTH = 430
MIN_WIDTH, MAX_WIDTH = 280, 1280
# getwxacodeunlimit: at most 32 visible characters from this set (no %, so no urlencoded Chinese).
WXACODE_SCENE = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}")


def png(content: str, *, width: int = DEFAULT_WIDTH) -> bytes:
    """Render `content` as a PNG about `width` pixels wide (never smaller than one pixel per module)."""
    code = segno.make(content, error="m", micro=False)
    modules, _ = code.symbol_size(scale=1, border=QR_BORDER)
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=max(1, width // modules), border=QR_BORDER)
    return buffer.getvalue()


def wxacode_content(scene: str, page: str | None) -> str:
    """What the simulated mini-program code encodes (scanning it cannot open a real mini-program)."""
    return f"sim-wxacode://{page or ''}?scene={scene}"


def clamp_width(width: int) -> int:
    return min(MAX_WIDTH, max(MIN_WIDTH, width))
