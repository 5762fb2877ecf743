"""The certificate as a PDF: Chinese text with its font embedded, and a QR code of the public verification URL
(the font, the document and the QR code drawing are the kernel's: :mod:`core.pdf`, which says why fpdf2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.pdf import FONT, document, draw_qr, zh_date


def render(cert: Mapping[str, Any], url: str) -> bytes:
    """The certificate ``cert`` (as :func:`supervision.permits.certificates.as_json` gives it) as PDF bytes."""
    pdf = document(f"{cert['title']['zh-CN']} {cert['number']}", orientation="landscape")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_draw_color(170, 20, 20)
    pdf.set_line_width(1.2)
    pdf.rect(10, 10, 277, 190)
    pdf.set_line_width(0.3)
    pdf.rect(13, 13, 271, 184)
    pdf.set_font(FONT, size=30)
    pdf.set_text_color(170, 20, 20)
    pdf.set_xy(10, 24)
    pdf.cell(277, 14, cert["title"]["zh-CN"], align="C")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(FONT, size=12)
    pdf.set_xy(10, 42)
    pdf.cell(277, 8, f"编号：{cert['number']}", align="C")
    rows = [(line["label"], _value(cert, line)) for line in _lines(cert["kind"])]
    y = 60.0
    for label, value in rows:
        pdf.set_font(FONT, size=13)
        pdf.set_xy(28, y)
        pdf.cell(42, 9, label + "：")
        pdf.set_xy(70, y)
        pdf.multi_cell(150, 9, str(value))
        y = max(y + 12, pdf.get_y() + 3)
    pdf.set_font(FONT, size=13)
    pdf.set_xy(170, 168)
    pdf.cell(100, 8, f"发证机关：{cert['issuer']}", align="R")
    pdf.set_xy(170, 177)
    pdf.cell(100, 8, f"发证日期：{zh_date(cert['valid_from'])}", align="R")
    draw_qr(pdf, url, x=232.0, y=56.0, size=40.0)
    pdf.set_font(FONT, size=8)
    pdf.set_xy(222, 98)
    pdf.cell(60, 5, "扫码核验证书状态", align="C")
    return bytes(pdf.output())


def _lines(kind: str) -> list[Mapping[str, Any]]:
    """The certificate's lines, as its kind declares them (``kinds.yaml``)."""
    from supervision.permits.certificates import kinds

    return list(kinds()[kind]["lines"])


def _value(cert: Mapping[str, Any], line: Mapping[str, Any]) -> str:
    if line["field"] == "validity":
        return f"{zh_date(cert['valid_from'])}至{zh_date(cert['valid_to'])}"
    value = cert.get(line["field"])
    if "values" in line:
        return str(line["values"].get(value or "", "—"))
    return "—" if value is None else str(value)


__all__ = ["render"]
