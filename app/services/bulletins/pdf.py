"""A frozen bulletin as an A4 PDF: the Jinja template `bulletins/bulletin.html` rendered by WeasyPrint.

Every rule that can carry Chinese names the font chain "Noto Sans SC GB2312" (the GB2312 subset, see
`fonts`) then "Noto Sans CJK SC" (the full font, for rare characters): WeasyPrint follows the CSS
chain strictly, and a rule without a CJK family prints tofu. Rendering takes a second or two, so it
runs in a background task (`tasks.render_pdf`), never in a request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app, render_template

from app.services.bulletins import fonts
from app.services.bulletins.content import format_change, format_value
from app.services.bulletins.scoring import STATUS_LABELS

FLAG_LABELS = {"red": "红旗", "yellow": "黄旗"}
UNIT_SUFFIXES = {"hours": "（小时）"}


def grouped(number: float | int | None) -> str:
    """A count or a sum with thousands separators (101,323; 992,086.3), as printed tables show them."""
    if number is None:
        return "—"
    return f"{number:,}" if isinstance(number, int) else f"{number:,.1f}"


def unit_suffix(unit: str) -> str:
    """What follows an indicator's name where its values are printed bare (hours; percents carry their %)."""
    return UNIT_SUFFIXES.get(unit, "")


def html(content: dict[str, Any], *, font_path: Path | None) -> str:
    return render_template("bulletins/bulletin.html", c=content, font_url=font_path.as_uri() if font_path else None,
                           value=format_value, change=format_change, status_label=STATUS_LABELS,
                           flag_label=FLAG_LABELS, unit_suffix=unit_suffix,
                           grouped=grouped)


def render(content: dict[str, Any]) -> bytes:
    """The PDF bytes of a bulletin's content."""
    from weasyprint import HTML
    from weasyprint.text.fonts import FontConfiguration

    font_path = fonts.subset_font(Path(current_app.instance_path) / "fonts")
    font_config = FontConfiguration()
    return HTML(string=html(content, font_path=font_path)).write_pdf(font_config=font_config)
