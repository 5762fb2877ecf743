"""The certificate as a PDF: Chinese text with its font embedded, and a QR code of the public verification URL.

Library: **fpdf2**. The machine's CJK fonts are Noto Sans/Serif CJK from the Debian package ``fonts-noto-cjk``, which
ships OpenType collections (``.ttc``) with CFF outlines. ReportLab embeds TrueType (glyf) outlines only, so it
would need another font package (``fonts-wqy-microhei``); WeasyPrint would need Pango and its stack on every server.
fpdf2 (pure Python, on fontTools, which the project already uses) reads a collection's member font
(``collection_font_number``) and embeds a CFF subset as a CIDFontType0 font (FontFile3) with a ToUnicode map, so the
text can be searched and extracted again; the fonts the system already has are enough and no Debian package is added.
The QR code is drawn with **segno** (already a dependency: the TOTP enrolment QR) as filled squares, a vector drawing
with no image library involved.

The font is found by its family name (Noto Sans CJK SC) in the collections of ``FONT_DIRS``; a machine without it
gets a clear error naming the Debian package, never a PDF of empty boxes.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import segno
from fontTools.ttLib import TTCollection
from fpdf import FPDF

from core.errors import DomainError

FONT_DIRS = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts/opentype"), Path("/usr/share/fonts"))
FONT_FILES = ("NotoSansCJK-Regular.ttc", "NotoSerifCJK-Regular.ttc")
FAMILY = "Noto Sans CJK SC"
FONT_PACKAGE = "fonts-noto-cjk"


@cache
def cjk_font() -> tuple[str, int]:
    """(path of the collection, index of its Simplified Chinese member)."""
    for folder in FONT_DIRS:
        for name in FONT_FILES:
            path = folder / name
            if not path.is_file():
                continue
            collection = TTCollection(str(path), lazy=True)
            try:
                for index, font in enumerate(collection.fonts):
                    families = {r.toUnicode() for r in font["name"].names if r.nameID in (1, 16)}
                    if any(f.endswith(" SC") for f in families):
                        return str(path), index
            finally:
                collection.close()
    raise DomainError(f"no Simplified Chinese font to draw certificates with (install the Debian package "
                      f"{FONT_PACKAGE})", f"缺少中文字体，无法生成证书（请安装 {FONT_PACKAGE}）", http_status=503)


def qr_matrix(url: str) -> list[list[bool]]:
    """The QR code of ``url`` as rows of dark (True) modules, without the quiet zone."""
    qr = segno.make(url, error="m", micro=False)
    return [[bool(v) for v in row] for row in qr.matrix]


def render(cert: Mapping[str, Any], url: str) -> bytes:
    """The certificate ``cert`` (as :func:`supervision.permits.certificates.as_json` gives it) as PDF bytes."""
    path, index = cjk_font()
    pdf = FPDF(orientation="landscape", unit="mm", format="A4")
    pdf.set_title(f"{cert['title']['zh-CN']} {cert['number']}")
    pdf.set_creator("OneMap")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.add_font("cjk", fname=path, collection_font_number=index)
    pdf.set_draw_color(170, 20, 20)
    pdf.set_line_width(1.2)
    pdf.rect(10, 10, 277, 190)
    pdf.set_line_width(0.3)
    pdf.rect(13, 13, 271, 184)
    pdf.set_font("cjk", size=30)
    pdf.set_text_color(170, 20, 20)
    pdf.set_xy(10, 24)
    pdf.cell(277, 14, cert["title"]["zh-CN"], align="C")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("cjk", size=12)
    pdf.set_xy(10, 42)
    pdf.cell(277, 8, f"编号：{cert['number']}", align="C")
    rows = [(line["label"], _value(cert, line)) for line in _lines(cert["kind"])]
    y = 60.0
    for label, value in rows:
        pdf.set_font("cjk", size=13)
        pdf.set_xy(28, y)
        pdf.cell(42, 9, label + "：")
        pdf.set_xy(70, y)
        pdf.multi_cell(150, 9, str(value))
        y = max(y + 12, pdf.get_y() + 3)
    pdf.set_font("cjk", size=13)
    pdf.set_xy(170, 168)
    pdf.cell(100, 8, f"发证机关：{cert['issuer']}", align="R")
    pdf.set_xy(170, 177)
    pdf.cell(100, 8, f"发证日期：{_zh_date(cert['valid_from'])}", align="R")
    _draw_qr(pdf, url, x=232.0, y=56.0, size=40.0)
    pdf.set_font("cjk", size=8)
    pdf.set_xy(222, 98)
    pdf.cell(60, 5, "扫码核验证书状态", align="C")
    return bytes(pdf.output())


def _draw_qr(pdf: FPDF, url: str, *, x: float, y: float, size: float) -> None:
    matrix = qr_matrix(url)
    quiet = 4
    n = len(matrix) + 2 * quiet
    module = size / n
    pdf.set_fill_color(255, 255, 255)
    pdf.rect(x, y, size, size, style="F")
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                # a hair wider than the module, so neighbouring squares leave no seam when rasterised
                pdf.rect(x + (c + quiet) * module, y + (r + quiet) * module, module + 0.02, module + 0.02, style="F")


def _lines(kind: str) -> list[Mapping[str, Any]]:
    """The certificate's lines, as its kind declares them (``kinds.yaml``)."""
    from supervision.permits.certificates import kinds

    return list(kinds()[kind]["lines"])


def _value(cert: Mapping[str, Any], line: Mapping[str, Any]) -> str:
    if line["field"] == "validity":
        return f"{_zh_date(cert['valid_from'])}至{_zh_date(cert['valid_to'])}"
    value = cert.get(line["field"])
    if "values" in line:
        return str(line["values"].get(value or "", "—"))
    return "—" if value is None else str(value)


def _zh_date(iso: str) -> str:
    y, m, d = iso[:10].split("-")
    return f"{int(y)}年{int(m)}月{int(d)}日"


__all__ = ["cjk_font", "qr_matrix", "render"]
