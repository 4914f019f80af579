"""An issued certificate as an A4 PDF: the Jinja template `certificates/certificate.html` rendered by WeasyPrint.

The font chain is the bulletins' ("Noto Sans SC GB2312", the pre-subset font of
`app.services.bulletins.fonts`, then the full "Noto Sans CJK SC" for rare characters in names):
with the subset a page renders in about a second instead of ten. The QR code of the verification
link is inline SVG made by segno (vector: sharp at any print size, a few kilobytes). There is a
seal area (盖章处) for the issuer's official seal, which the 2015 意见 requires on paper.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import segno
from flask import current_app, render_template

from app.services.bulletins import fonts


def qr_svg(url: str) -> str:
    """The QR code of `url` as an inline SVG element (medium error correction survives a smudge or a stamp)."""
    return segno.make(url, error="m", micro=False).svg_inline(scale=4, border=2)


def html(snapshot: dict[str, Any], verify_url: str, *, font_path: Path | None) -> str:
    return render_template("certificates/certificate.html", c=snapshot, verify_url=verify_url,
                           qr_svg=qr_svg(verify_url), font_url=font_path.as_uri() if font_path else None)


def render(snapshot: dict[str, Any], verify_url: str) -> bytes:
    """The PDF bytes of a certificate's frozen snapshot."""
    from weasyprint import HTML
    from weasyprint.text.fonts import FontConfiguration

    font_path = fonts.subset_font(Path(current_app.instance_path) / "fonts")
    return HTML(string=html(snapshot, verify_url, font_path=font_path)).write_pdf(font_config=FontConfiguration())
